"""`tickwire hw inventory`: what this host has for a low-latency engine (CPUs, NUMA, isolation, power states,
hugepages, NICs and their IRQs, DPDK-bound devices). Every reader takes `root` so tests can use a fake tree."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from tickwire.hw.sysfs import read, read_int, under
from tickwire.hw.cpuset import format_cpulist
from tickwire.hw.nics import nics
from tickwire.hw.topology import cpus, isolation, numa_nodes

DPDK_DRIVERS = ("vfio-pci", "uio_pci_generic", "igb_uio")
_CPU = "/sys/devices/system/cpu"


def _cpu_model(root: str) -> str:
    for line in read(root, "/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return ""


def cpu_facts(root: str = "/") -> dict[str, object]:
    """CPU model, sockets/cores/threads, SMT siblings, NUMA nodes, isolated and nohz_full cores, governors, C-states."""
    topology = cpus(root)
    cores = {tuple(sorted({c.cpu, *c.siblings})) for c in topology}
    governors = Counter(g for c in topology if (g := read(root, f"{_CPU}/cpu{c.cpu}/cpufreq/scaling_governor")))
    cstates = []
    for state in sorted(under(root, f"{_CPU}/cpu0/cpuidle").glob("state*")):
        cstates.append({"name": read(root, f"{_CPU}/cpu0/cpuidle/{state.name}/name"),
                        "latency_us": read_int(root, f"{_CPU}/cpu0/cpuidle/{state.name}/latency"),
                        "disabled": read(root, f"{_CPU}/cpu0/cpuidle/{state.name}/disable") == "1"})
    return {
        "model": _cpu_model(root),
        "sockets": len({c.package for c in topology}),
        "cores": len(cores),
        "threads": len(topology),
        "smt_siblings": [format_cpulist(core) for core in sorted(cores) if len(core) > 1],
        "numa_nodes": {str(node): format_cpulist(members) for node, members in numa_nodes(root).items()},
        "isolated": format_cpulist(isolation(root)["isolated"]),
        "nohz_full": format_cpulist(isolation(root)["nohz_full"]),
        "governor": dict(governors) or "unavailable (no cpufreq)",
        "cstates": cstates or "unavailable (no cpuidle)",
    }


def hugepage_facts(root: str = "/") -> dict[str, object]:
    """Per page size: total and free pages; plus the hugetlbfs mounts and their page size."""
    sizes = {}
    for entry in sorted(under(root, "/sys/kernel/mm/hugepages").glob("hugepages-*")):
        base = f"/sys/kernel/mm/hugepages/{entry.name}"
        sizes[entry.name.removeprefix("hugepages-")] = {"total": read_int(root, f"{base}/nr_hugepages", 0),
                                                        "free": read_int(root, f"{base}/free_hugepages", 0)}
    mounts = []
    for line in read(root, "/proc/mounts").splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[2] == "hugetlbfs":
            options = dict(opt.partition("=")[::2] for opt in fields[3].split(","))
            mounts.append({"path": fields[1], "pagesize": options.get("pagesize", "default")})
    return {"sizes": sizes, "mounts": mounts}


def pci_driver(device: Path) -> str:
    """The driver a PCI device is bound to ('' when none)."""
    link = device / "driver"
    return Path(link.resolve()).name if link.exists() else ""


def dpdk_devices(root: str = "/") -> list[dict[str, str]]:
    """PCI devices bound to a DPDK-capable driver (vfio-pci, uio_pci_generic, igb_uio)."""
    found = []
    for device in sorted(under(root, "/sys/bus/pci/devices").glob("*")):
        driver = pci_driver(device)
        if driver in DPDK_DRIVERS:
            found.append({"pci": device.name, "driver": driver,
                          "vendor": read("/", str(device / "vendor")), "device": read("/", str(device / "device")),
                          "numa_node": read("/", str(device / "numa_node"))})
    return found


def inventory(root: str = "/") -> dict[str, object]:
    """Everything `tickwire hw inventory` shows, as plain data."""
    return {
        "cpu": cpu_facts(root),
        "hugepages": hugepage_facts(root),
        "nics": [nic.as_dict() for nic in nics(root)],
        "dpdk_devices": dpdk_devices(root),
    }
