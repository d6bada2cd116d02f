"""`tickwire doctor`'s DPDK lines: runtime version, a real EAL probe in a subprocess, bound devices."""
from __future__ import annotations

from pathlib import Path

import pytest

from tickwire.netstack import _dpdk_doctor


@pytest.mark.dpdk
def test_doctor_reports_dpdk_version_and_a_working_eal() -> None:
    from tickwire.doctor import collect

    facts = {f.name: f for f in collect().facts}
    assert facts["DPDK runtime"].value.startswith("DPDK ")
    assert facts["DPDK EAL (--no-huge)"].value == "usable" and facts["DPDK EAL (--no-huge)"].ok
    assert "DPDK bound devices" in facts and "DPDK EAL (hugepages)" in facts


@pytest.mark.dpdk
def test_probe_reports_received_packets() -> None:
    r = _dpdk_doctor.probe_eal(no_huge=True)
    assert r["ok"] is True and r["received"] > 0 and r["version"].startswith("DPDK")


def test_bound_devices_reads_the_driver_directories(tmp_path: Path) -> None:
    # a fake sysfs tree stands in for a NIC bound to vfio-pci, which this VM (no NIC) cannot have
    vfio = tmp_path / "sys/bus/pci/drivers/vfio-pci"
    vfio.mkdir(parents=True)
    (vfio / "0000:3b:00.1").mkdir()
    (vfio / "bind").touch()
    (vfio / "new_id").touch()
    (tmp_path / "sys/bus/pci/drivers/uio_pci_generic").mkdir()
    assert _dpdk_doctor.bound_devices(str(tmp_path)) == {"vfio-pci": ["0000:3b:00.1"], "uio_pci_generic": []}
    assert _dpdk_doctor.bound_devices(str(tmp_path / "nowhere")) == {}
