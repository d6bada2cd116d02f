"""`tickwire hw bind|unbind` against a FAKE sysfs tree. This VM has no PCI NIC that could be given to DPDK (its
virtio devices carry the machine's own disk and network), so the tree below stands in for /sys/bus/pci: the test
checks the writes dpdk-devbind.py would make (driver_override, unbind, bind) and the recorded original driver.
A fake tree cannot react like the kernel (move the `driver` link), so `verify=False` there; the test moves the link
itself where the kernel would."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from unprivileged import as_nobody
from tickwire.hw.bind import BindError, bind, normalize_bdf, unbind
from tickwire.hw.inventory import dpdk_devices

BDF = "0000:03:00.0"


def fake_pci(root: Path, driver: str = "ixgbe", iface_up: bool = False) -> Path:
    drivers = root / "sys/bus/pci/drivers"
    for name in ("ixgbe", "vfio-pci"):
        (drivers / name).mkdir(parents=True)
        (drivers / name / "bind").write_text("")
        (drivers / name / "unbind").write_text("")
    device = root / "sys/bus/pci/devices" / BDF
    device.mkdir(parents=True)
    for name, value in {"driver_override": "(null)\n", "vendor": "0x8086\n", "device": "0x10fb\n",
                        "numa_node": "1\n"}.items():
        (device / name).write_text(value)
    (device / "driver").symlink_to(drivers / driver)
    (device / "net/ens3").mkdir(parents=True)
    (device / "net/ens3/operstate").write_text("up\n" if iface_up else "down\n")
    return device


def kernel_moves(device: Path, root: Path, driver: str) -> None:
    """What the kernel does after the bind write: the device's driver link now points at the new driver."""
    (device / "driver").unlink()
    (device / "driver").symlink_to(root / "sys/bus/pci/drivers" / driver)


def test_bind_writes_driver_override_unbind_and_bind(tmp_path):
    device = fake_pci(tmp_path)
    state = tmp_path / "bindings.json"
    result = bind("03:00.0", "vfio-pci", root=str(tmp_path), state=str(state), verify=False)
    assert (result.pci, result.previous, result.driver) == (BDF, "ixgbe", "vfio-pci")
    assert (device / "driver_override").read_text() == "vfio-pci"
    assert (tmp_path / "sys/bus/pci/drivers/ixgbe/unbind").read_text() == BDF
    assert (tmp_path / "sys/bus/pci/drivers/vfio-pci/bind").read_text() == BDF
    kernel_moves(device, tmp_path, "vfio-pci")
    assert dpdk_devices(str(tmp_path)) == [{"pci": BDF, "driver": "vfio-pci", "vendor": "0x8086",
                                            "device": "0x10fb", "numa_node": "1"}]
    assert bind(BDF, "vfio-pci", root=str(tmp_path), state=str(state)).previous == "vfio-pci"  # already bound: no-op

    for name in ("ixgbe", "vfio-pci"):
        (tmp_path / f"sys/bus/pci/drivers/{name}/bind").write_text("")
    back = unbind(BDF, root=str(tmp_path), state=str(state), verify=False)
    assert (back.previous, back.driver) == ("vfio-pci", "ixgbe")  # the recorded original driver
    assert (tmp_path / "sys/bus/pci/drivers/vfio-pci/unbind").read_text() == BDF
    assert (device / "driver_override").read_text() == "\n"
    assert (tmp_path / "sys/bus/pci/drivers/ixgbe/bind").read_text() == BDF
    assert "03:00.0" not in state.read_text()


def test_bind_refuses_what_dpdk_devbind_refuses(tmp_path):
    device = fake_pci(tmp_path, iface_up=True)
    with pytest.raises(BindError, match="ens3.*up"):
        bind(BDF, "vfio-pci", root=str(tmp_path), state=str(tmp_path / "s.json"), verify=False)
    assert (device / "driver_override").read_text() == "(null)\n"  # nothing written
    with pytest.raises(BindError, match="driver igb_uio is not loaded"):
        bind(BDF, "igb_uio", root=str(tmp_path), verify=False)
    with pytest.raises(BindError, match="no PCI device 0000:04:00.0"):
        bind("0000:04:00.0", root=str(tmp_path), verify=False)
    with pytest.raises(BindError, match="not a PCI address"):
        normalize_bdf("eth0")
    with pytest.raises(BindError, match="is not bound to vfio-pci"):  # verify catches a device the kernel kept
        bind(BDF, "vfio-pci", root=str(tmp_path), state=str(tmp_path / "s.json"), force=True)


def test_cli_bad_input_is_a_clear_error():
    out = subprocess.run([sys.executable, "-m", "tickwire.cli", "hw", "bind", "zz:zz"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "not a PCI address" in out.stderr and "Traceback" not in out.stderr
    if os.geteuid() == 0:
        out = subprocess.run([sys.executable, "-m", "tickwire.cli", "hw", "bind", "0000:7f:1f.7"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and "no PCI device" in out.stderr
    devices = sorted(Path("/sys/bus/pci/devices").glob("*")) if os.geteuid() == 0 else []
    if devices:  # a real device: not being root is refused before anything is written
        override = (devices[0] / "driver_override").read_text()
        out = as_nobody([sys.executable, "-m", "tickwire.cli", "hw", "bind", devices[0].name], timeout=60)
        assert out.returncode == 2 and "binding drivers needs root" in out.stderr, out.stderr
        assert (devices[0] / "driver_override").read_text() == override
