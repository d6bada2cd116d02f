"""Bind a PCI device to a DPDK driver through sysfs `driver_override`, as dpdk-devbind.py does, and back.

bind: write the driver to <dev>/driver_override, unbind from the current driver, write the BDF to
/sys/bus/pci/drivers/<driver>/bind. unbind: detach from the current driver, clear the override, and re-bind the
original kernel driver (recorded at bind time, or given)."""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from tickwire.hw.sysfs import under
from tickwire.hw.inventory import pci_driver

_BDF = re.compile(r"^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")
DEFAULT_STATE = "/var/lib/tickwire/hw/bindings.json"


class BindError(RuntimeError):
    """A bind/unbind request that cannot be done (bad address, missing driver, interface in use, not root)."""


@dataclass
class BindResult:
    pci: str
    previous: str
    driver: str


def normalize_bdf(text: str) -> str:
    """'03:00.0' -> '0000:03:00.0'; BindError for anything that is not a PCI address."""
    match = _BDF.match(text.strip())
    if not match:
        raise BindError(f"{text!r} is not a PCI address (domain:bus:device.function, e.g. 0000:03:00.0)")
    domain, bus, dev, fn = match.groups()
    return f"{(domain or '0000').lower()}:{bus.lower()}:{dev.lower()}.{fn}"


def _write(path: Path, text: str) -> None:
    try:
        with open(path, "w") as handle:
            handle.write(text)
    except OSError as exc:
        raise BindError(f"writing {text.strip()!r} to {path} failed: {exc.strerror}") from None


def _device(bdf: str, root: str) -> Path:
    device = under(root, f"/sys/bus/pci/devices/{bdf}")
    if not device.exists():
        raise BindError(f"no PCI device {bdf} (see `tickwire hw inventory` or lspci)")
    return device


def _active_interfaces(device: Path) -> list[str]:
    """Kernel interfaces of the device that are up: binding would cut them off (dpdk-devbind refuses too)."""
    up = []
    for iface in sorted((device / "net").glob("*")) if (device / "net").is_dir() else []:
        if (iface / "operstate").exists() and (iface / "operstate").read_text().strip() == "up":
            up.append(iface.name)
    return up


def _state(root: str, state: str | None) -> Path:
    return Path(state) if state else under(root, DEFAULT_STATE)


def _check_root(root: str) -> None:
    if root == "/" and os.geteuid() != 0:
        raise BindError("binding drivers needs root (it writes /sys/bus/pci)")


def bind(bdf: str, driver: str = "vfio-pci", root: str = "/", state: str | None = None, force: bool = False,
         verify: bool = True) -> BindResult:
    """Bind `bdf` to `driver`; the original driver is recorded so `unbind` can restore it.

    `verify` checks that the kernel moved the device (a fake sysfs tree cannot, so its tests turn it off)."""
    _check_root(root)
    bdf = normalize_bdf(bdf)
    device = _device(bdf, root)
    drivers = under(root, "/sys/bus/pci/drivers")
    if not (drivers / driver).is_dir():
        raise BindError(f"driver {driver} is not loaded (modprobe {driver})")
    previous = pci_driver(device)
    if previous == driver:
        return BindResult(bdf, previous, driver)
    active = _active_interfaces(device)
    if active and not force:
        raise BindError(f"{bdf} carries interface(s) {', '.join(active)} that are up; take them down first "
                        "(or --force)")
    _write(device / "driver_override", driver)
    if previous:
        _write(device / "driver" / "unbind", bdf)
    _write(drivers / driver / "bind", bdf)
    if verify and pci_driver(device) != driver:
        raise BindError(f"{bdf} is not bound to {driver} after the write (IOMMU group? see dmesg)")
    path = _state(root, state)
    records = json.loads(path.read_text()) if path.exists() else {}
    records.setdefault(bdf, previous)  # keep the first-seen kernel driver across repeated binds
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=2))
    return BindResult(bdf, previous, driver)


def unbind(bdf: str, driver: str | None = None, root: str = "/", state: str | None = None,
           verify: bool = True) -> BindResult:
    """Detach `bdf` from its driver, clear driver_override, and bind `driver` (default: the one recorded at bind)."""
    _check_root(root)
    bdf = normalize_bdf(bdf)
    device = _device(bdf, root)
    path = _state(root, state)
    records = json.loads(path.read_text()) if path.exists() else {}
    target = driver or records.get(bdf, "")
    if target and not under(root, f"/sys/bus/pci/drivers/{target}").is_dir():
        raise BindError(f"driver {target} is not loaded (modprobe {target})")
    previous = pci_driver(device)
    if previous:
        _write(device / "driver" / "unbind", bdf)
    _write(device / "driver_override", "\n")  # an empty override restores normal driver matching
    if target:
        _write(under(root, f"/sys/bus/pci/drivers/{target}/bind"), bdf)
        if verify and pci_driver(device) != target:
            raise BindError(f"{bdf} is not bound to {target} after the write")
    records.pop(bdf, None)
    if path.exists():
        path.write_text(json.dumps(records, indent=2))
    return BindResult(bdf, previous, target)
