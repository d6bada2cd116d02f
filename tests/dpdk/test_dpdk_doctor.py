"""`tickwire doctor`'s DPDK lines: runtime version, a real EAL probe in a subprocess, bound devices."""
from __future__ import annotations

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
