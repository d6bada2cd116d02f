"""Errors a user can act on: DPDK missing, EAL init failures with advice, unknown ports, bad sizes."""
from __future__ import annotations

import sys

import pytest

from _harness import run_child
from tickwire.netstack import dpdk


def test_dpdk_not_built_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # simulates a host without libdpdk-dev: the import of the compiled module fails as it would there
    monkeypatch.setitem(sys.modules, "tickwire._tw_dpdk", None)
    with pytest.raises(dpdk.DpdkUnavailableError, match="apt-get install dpdk libdpdk-dev"):
        dpdk.dpdk_module()


def test_eal_config_argv_and_rejected_combination() -> None:
    argv = dpdk.EalConfig(cores="1", vdevs=("net_null0",), file_prefix="x").argv()
    assert argv[:5] == ["tickwire", "-l", "1", "-m", "256"]
    assert "--no-huge" in argv and "--no-pci" in argv and argv[argv.index("--vdev") + 1] == "net_null0"
    assert "--file-prefix=x" in argv
    pci = dpdk.EalConfig(no_huge=False, no_shconf=False, in_memory=True, pci_allow=("0000:3b:00.0",)).argv()
    assert "--no-pci" not in pci and pci[pci.index("-a") + 1] == "0000:3b:00.0"
    assert "--in-memory" in pci and "--no-huge" not in pci
    with pytest.raises(ValueError, match="--in-memory with --no-huge"):
        dpdk.EalConfig(in_memory=True, no_huge=True).argv()
    with pytest.raises(ValueError, match="memory_mb"):
        dpdk.EalConfig(memory_mb=0).argv()


@pytest.mark.dpdk
@pytest.mark.skipif(dpdk.hugepages_reserved() > 0, reason="this host has hugepages: the EAL would succeed")
def test_eal_without_hugepages_gives_advice() -> None:
    r = run_child("errors", {"mode": "hugepages"}, timeout=60)
    assert r["error"] == "EalInitError"
    assert "nr_hugepages" in r["message"] and "--no-huge" in r["message"]


@pytest.mark.dpdk
def test_unknown_vdev_fails_eal_init_with_a_hint() -> None:
    r = run_child("errors", {"mode": "bad_vdev"}, timeout=60)
    assert r["error"] == "EalInitError"
    assert "net_nosuchdriver0" in r["message"] and "vdev" in r["message"]


@pytest.mark.dpdk
def test_missing_ports_and_bad_sizes() -> None:
    r = run_child("errors", {"mode": "ports"}, timeout=60)
    assert r["no_name"]["error"] == "NoSuchPortError" and "0=net_null0" in r["no_name"]["message"]
    assert r["no_id"]["error"] == "NoSuchPortError"
    assert r["pool_too_big"]["error"] == "DpdkError" and "memory_mb" in r["pool_too_big"]["message"]
    assert r["mtu_range"]["error"] == "ValueError"
    assert r["mtu_set"] == 1400
    assert r["promisc_off"]["error"] == "DpdkError" and "not supported" in r["promisc_off"]["message"]
    assert r["tx_oversize"] == -r["emsgsize"]
    assert r["attach_bad"]["error"] == "NoSuchPortError" and "net_nosuchdriver9" in r["attach_bad"]["message"]
    assert r["attached"] == "net_null5" and r["after_detach"]["error"] == "NoSuchPortError"
    assert r["eal_twice"]["error"] == "EalInitError" and "one EAL per process" in r["eal_twice"]["message"]
