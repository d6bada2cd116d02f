"""Network interfaces: driver, PCI address, NUMA node, queues, speed and IRQs (sysfs + pyroute2 + ethtool)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tickwire.hw.sysfs import read, read_int, under

_NET = "/sys/class/net"
_BDF = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")


@dataclass
class Nic:
    """One network interface as the kernel sees it."""

    name: str
    driver: str = ""
    pci: str = ""
    numa_node: int | None = None
    rx_queues: int = 0
    tx_queues: int = 0
    speed_mbps: int | None = None
    state: str = ""
    mtu: int | None = None
    irqs: dict[int, str] = field(default_factory=dict)  # irq -> smp_affinity_list
    offloads: dict[str, str] = field(default_factory=dict)
    coalesce: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def pci_device_dir(root: str, name: str) -> Path | None:
    """The PCI device directory behind an interface (virtio NICs sit one level below theirs), or None."""
    device = under(root, f"{_NET}/{name}/device")
    if not device.exists():
        return None
    path = device.resolve()
    for candidate in (path, path.parent):
        if _BDF.match(candidate.name):
            return candidate
    return None


def nic_irqs(name: str, root: str = "/") -> list[int]:
    """IRQ numbers of an interface: its PCI device's MSI/MSI-X vectors, or lines of /proc/interrupts naming it."""
    irqs: set[int] = set()
    device = pci_device_dir(root, name)
    if device is not None and (device / "msi_irqs").is_dir():
        irqs.update(int(entry.name) for entry in (device / "msi_irqs").iterdir() if entry.name.isdigit())
    for line in read(root, "/proc/interrupts").splitlines()[1:]:
        head, _, rest = line.partition(":")
        if head.strip().isdigit() and re.search(rf"\b{re.escape(name)}\b", rest):
            irqs.add(int(head))
    return sorted(irqs)


def _ethtool(flag: str, name: str) -> dict[str, str]:
    """`ethtool <flag> <nic>` as {field: value}; empty when ethtool or the operation is unavailable."""
    if shutil.which("ethtool") is None:
        return {}
    out = subprocess.run(["ethtool", flag, name], capture_output=True, text=True, timeout=10)
    if out.returncode != 0:
        return {}
    facts = {}
    for line in out.stdout.splitlines()[1:]:
        key, sep, value = line.strip().partition(":")
        if sep and value.strip():
            facts[key.strip()] = value.strip()
    return facts


def ethtool_features(name: str) -> dict[str, str]:
    """Offload features ("generic-receive-offload": "on", "large-receive-offload": "off [fixed]", ...)."""
    return _ethtool("-k", name)


def ethtool_coalesce(name: str) -> dict[str, str]:
    """Interrupt coalescing; "Adaptive RX: off  TX: n/a" is split into adaptive-rx / adaptive-tx."""
    facts = _ethtool("-c", name)
    adaptive = facts.pop("Adaptive RX", "")
    if adaptive:
        rx, _, tx = adaptive.partition("TX:")
        facts["adaptive-rx"] = rx.strip()
        facts["adaptive-tx"] = tx.strip()
    return facts


def _link_facts() -> dict[str, dict[str, object]]:
    """Interface state and MTU from netlink (pyroute2); empty when netlink is unavailable."""
    try:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            return {
                link.get_attr("IFLA_IFNAME"): {"state": link.get_attr("IFLA_OPERSTATE"),
                                               "mtu": link.get_attr("IFLA_MTU")}
                for link in ipr.get_links()
            }
    except (OSError, ImportError):
        return {}


def nics(root: str = "/", with_ethtool: bool = True) -> list[Nic]:
    """Every interface except loopback, with what sysfs (and, on the live host, netlink and ethtool) say about it."""
    base = under(root, _NET)
    names = sorted(entry.name for entry in base.iterdir()) if base.is_dir() else []
    live = root == "/"
    links = _link_facts() if live else {}
    result = []
    for name in names:
        if name == "lo":
            continue
        device = pci_device_dir(root, name)
        driver_link = under(root, f"{_NET}/{name}/device/driver")
        numa = read_int(root, f"{_NET}/{name}/device/numa_node")
        if numa is None and device is not None:
            numa = read_int("/", str(device / "numa_node"))  # `device` is already a resolved path inside root
        queues = under(root, f"{_NET}/{name}/queues")
        listing = [q.name for q in queues.iterdir()] if queues.is_dir() else []
        speed = read_int(root, f"{_NET}/{name}/speed")
        nic = Nic(
            name=name,
            driver=os.path.basename(os.path.realpath(driver_link)) if driver_link.exists() else "",
            pci=device.name if device is not None else "",
            numa_node=None if numa is None or numa < 0 else numa,
            rx_queues=sum(q.startswith("rx-") for q in listing),
            tx_queues=sum(q.startswith("tx-") for q in listing),
            speed_mbps=speed if speed is not None and speed > 0 else None,
            state=str(links.get(name, {}).get("state") or read(root, f"{_NET}/{name}/operstate")),
            mtu=links.get(name, {}).get("mtu") or read_int(root, f"{_NET}/{name}/mtu"),  # type: ignore[arg-type]
            irqs={irq: read(root, f"/proc/irq/{irq}/smp_affinity_list") for irq in nic_irqs(name, root)},
        )
        if live and with_ethtool:
            nic.offloads = {k: v for k, v in ethtool_features(name).items()
                            if k in ("generic-receive-offload", "large-receive-offload", "generic-segmentation-offload",
                                     "tcp-segmentation-offload", "rx-checksumming", "tx-checksumming")}
            nic.coalesce = {k: v for k, v in ethtool_coalesce(name).items()
                            if k in ("adaptive-rx", "adaptive-tx", "rx-usecs", "rx-frames", "tx-usecs", "tx-frames")
                            and v != "n/a"}
        result.append(nic)
    return result
