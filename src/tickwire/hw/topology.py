"""CPU topology from sysfs: packages, physical cores, SMT siblings, NUMA nodes, isolation."""
from __future__ import annotations

from dataclasses import dataclass

from tickwire.hw.sysfs import read, read_int, under
from tickwire.hw.cpuset import parse_cpulist

_CPU = "/sys/devices/system/cpu"
_NODE = "/sys/devices/system/node"


@dataclass(frozen=True)
class Cpu:
    """One logical CPU: its package (socket), physical core, NUMA node and SMT siblings (itself included)."""

    cpu: int
    package: int
    core: int
    node: int
    siblings: tuple[int, ...]


def numa_nodes(root: str = "/") -> dict[int, list[int]]:
    """{node: cpus}; a kernel without NUMA sysfs is one node 0 holding every online CPU."""
    nodes: dict[int, list[int]] = {}
    base = under(root, _NODE)
    if base.is_dir():
        for entry in sorted(base.glob("node[0-9]*")):
            nodes[int(entry.name[4:])] = parse_cpulist(read(root, f"{_NODE}/{entry.name}/cpulist"))
    return nodes or {0: online_cpus(root)}


def online_cpus(root: str = "/") -> list[int]:
    """Online CPU numbers."""
    return parse_cpulist(read(root, f"{_CPU}/online", "0"))


def cpus(root: str = "/") -> list[Cpu]:
    """Every online CPU with its topology."""
    node_of = {cpu: node for node, members in numa_nodes(root).items() for cpu in members}
    result = []
    for cpu in online_cpus(root):
        topo = f"{_CPU}/cpu{cpu}/topology"
        siblings = parse_cpulist(read(root, f"{topo}/thread_siblings_list", str(cpu)))
        result.append(Cpu(
            cpu=cpu,
            package=read_int(root, f"{topo}/physical_package_id", 0) or 0,
            core=read_int(root, f"{topo}/core_id", cpu) or 0,
            node=node_of.get(cpu, 0),
            siblings=tuple(siblings),
        ))
    return result


def isolation(root: str = "/") -> dict[str, list[int]]:
    """Cores the running kernel isolates: isolcpus (`isolated`) and nohz_full."""
    return {
        "isolated": parse_cpulist(read(root, f"{_CPU}/isolated")),
        "nohz_full": parse_cpulist(read(root, f"{_CPU}/nohz_full").replace("(null)", "")),
    }
