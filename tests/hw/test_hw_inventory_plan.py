"""Inventory and core plan: on this real host, and on fake sysfs trees for topologies this 2-core VM does not have
(two sockets, SMT siblings, a NIC on NUMA node 1) — those trees stand in for hardware that is not here."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tickwire.hw.cpuset import format_cpulist, format_cpumask, parse_cpulist, parse_cpumask
from tickwire.hw.plan import make_plan, plan_host
from tickwire.hw.topology import cpus

HW = [sys.executable, "-m", "tickwire.cli", "hw"]


def hw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HW, *args], capture_output=True, text=True, timeout=60)


@given(st.sets(st.integers(0, 300)))
def test_cpulist_and_cpumask_round_trip(cpu_set):
    assert parse_cpulist(format_cpulist(cpu_set)) == sorted(cpu_set)
    assert parse_cpumask(format_cpumask(cpu_set)) == sorted(cpu_set)


def test_kernel_forms_parse():
    assert parse_cpulist("0-2,5,8-12:2") == [0, 1, 2, 5, 8, 10, 12]
    assert parse_cpumask("00000000,00000101") == [0, 8]
    assert parse_cpulist("") == []


def test_inventory_reports_this_host():
    out = hw("inventory", "--json")
    assert out.returncode == 0, out.stderr
    facts = json.loads(out.stdout)
    assert facts["cpu"]["threads"] == os.cpu_count()
    assert facts["cpu"]["model"] in Path("/proc/cpuinfo").read_text()
    names = {nic["name"] for nic in facts["nics"]}
    hardware = {p.name for p in Path("/sys/class/net").iterdir() if (p / "device").exists()}  # veths come and go
    assert hardware <= names and "lo" not in names
    meminfo = Path("/proc/meminfo").read_text()
    total = int(next(line.split()[1] for line in meminfo.splitlines() if line.startswith("HugePages_Total")))
    size_kb = next(line.split()[1] for line in meminfo.splitlines() if line.startswith("Hugepagesize"))
    assert facts["hugepages"]["sizes"][f"{size_kb}kB"]["total"] == total
    for nic in facts["nics"]:
        for irq, affinity in nic["irqs"].items():
            assert Path(f"/proc/irq/{irq}/smp_affinity_list").read_text().strip() == affinity
    human = hw("inventory")
    assert human.returncode == 0 and "hugetlbfs mounts" in human.stdout


def test_plan_on_this_host_uses_every_cpu_once():
    plan = plan_host()
    every = set(range(os.cpu_count() or 1))
    assert set(plan.housekeeping) | set(plan.isolated) == every
    assert not set(plan.housekeeping) & set(plan.isolated)
    assert plan.engine and plan.rx
    out = hw("plan", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["engine"] == plan.engine
    text = hw("plan").stdout
    assert f"tickwire run --cpu {plan.engine[0]}" in text
    assert f'tickwire_isolated_cpus: "{format_cpulist(plan.isolated)}"' in text
    bad = hw("plan", "--nic", "no-such-nic0")
    assert bad.returncode == 2 and "no network interface 'no-such-nic0'" in bad.stderr


def fake_topology(root: Path, nodes: int, cores_per_node: int, smt: int) -> None:
    """Write a fake /sys/devices/system/{cpu,node} tree: cpu = thread * (nodes*cores) + core (Intel numbering)."""
    total_cores = nodes * cores_per_node
    cpu_dir = root / "sys/devices/system/cpu"
    node_cpus: dict[int, list[int]] = {n: [] for n in range(nodes)}
    for thread in range(smt):
        for core in range(total_cores):
            cpu = thread * total_cores + core
            node = core // cores_per_node
            node_cpus[node].append(cpu)
            topo = cpu_dir / f"cpu{cpu}/topology"
            topo.mkdir(parents=True)
            siblings = [t * total_cores + core for t in range(smt)]
            (topo / "thread_siblings_list").write_text(format_cpulist(siblings) + "\n")
            (topo / "core_id").write_text(f"{core % cores_per_node}\n")
            (topo / "physical_package_id").write_text(f"{node}\n")
    (cpu_dir / "online").write_text(f"0-{smt * total_cores - 1}\n")
    for node, members in node_cpus.items():
        (root / f"sys/devices/system/node/node{node}").mkdir(parents=True)
        (root / f"sys/devices/system/node/node{node}/cpulist").write_text(format_cpulist(members) + "\n")


def test_plan_two_sockets_with_smt_is_numa_local_and_never_shares_a_core(tmp_path):
    fake_topology(tmp_path, nodes=2, cores_per_node=4, smt=2)  # cpus 0-15: core c has threads c and c+8
    topology = cpus(str(tmp_path))
    assert len(topology) == 16 and topology[9].siblings == (1, 9)
    plan = make_plan(topology, nic="ens1", nic_node=1, rx_cores=1, engine_cores=2)
    node1 = {4, 5, 6, 7, 12, 13, 14, 15}
    assert set(plan.engine) | set(plan.rx) <= node1
    used_cores = [cpu % 8 for cpu in plan.engine + plan.rx]
    assert len(set(used_cores)) == len(used_cores)  # one thread per physical core
    assert set(plan.idle_siblings) == {cpu + 8 for cpu in plan.engine + plan.rx}
    assert {0, 8, 4, 12} <= set(plan.housekeeping)  # first core (both threads) of each node keeps the OS
    assert set(plan.isolated) == set(plan.engine) | set(plan.rx) | set(plan.idle_siblings)
    assert not plan.notes


def test_plan_on_a_tiny_host_says_what_it_shares(tmp_path):
    fake_topology(tmp_path, nodes=1, cores_per_node=2, smt=1)
    plan = make_plan(cpus(str(tmp_path)))
    assert plan.housekeeping == [0] and plan.engine == [1] and plan.rx == [0]
    assert any("rx shares housekeeping" in note for note in plan.notes)
    solo = tmp_path / "solo"
    fake_topology(solo, nodes=1, cores_per_node=1, smt=1)
    single = make_plan(cpus(str(solo)))
    assert single.isolated == [] and single.engine == [0]
