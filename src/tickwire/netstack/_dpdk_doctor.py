"""DPDK facts for ``tickwire doctor``: runtime version, whether an EAL starts here, devices bound for DPDK."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Protocol

_RUNTIME = Path("/var/run/dpdk")


class _Report(Protocol):
    def add(self, name: str, value: object, ok: bool = True, hint: str = "") -> None: ...


def probe_eal(no_huge: bool, timeout_s: float = 60.0) -> dict[str, object]:
    """Run the EAL probe in a subprocess (one EAL per process) and return its JSON verdict."""
    prefix = f"twprobe-{secrets.token_hex(4)}"
    cmd = [sys.executable, "-m", "tickwire.netstack._dpdk_probe", f"--prefix={prefix}"]
    try:
        out = subprocess.run(cmd + (["--no-huge"] if no_huge else []), capture_output=True, text=True,
                             timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"EAL probe did not finish in {timeout_s:.0f} s"}
    finally:
        shutil.rmtree(_RUNTIME / prefix, ignore_errors=True)
    lines = out.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        return {"ok": False, "error": (out.stderr.strip().splitlines() or ["no output"])[-1]}


def add_facts(report: _Report, have_hugepages: bool) -> None:
    """Append the DPDK lines to a doctor report (nothing to add when _tw_dpdk is not built)."""
    from tickwire import native

    if not native.available("_tw_dpdk"):
        return
    from tickwire.netstack.dpdk import version

    report.add("DPDK runtime", version())
    nohuge = probe_eal(no_huge=True)
    report.add("DPDK EAL (--no-huge)", "usable" if nohuge.get("ok") else f"fails: {nohuge.get('error')}",
               bool(nohuge.get("ok")), "" if nohuge.get("ok") else "run as root; see the error")
    if have_hugepages:
        huge = probe_eal(no_huge=False)
        report.add("DPDK EAL (hugepages)", "usable" if huge.get("ok") else f"fails: {huge.get('error')}",
                   bool(huge.get("ok")), "" if huge.get("ok") else "mount hugetlbfs (mount -t hugetlbfs nodev "
                   "/dev/hugepages) and check free hugepages")
    else:
        report.add("DPDK EAL (hugepages)", "not tried: no hugepages reserved", False,
                   "virtual devices work with --no-huge; for production reserve hugepages (tickwire hw / Ansible)")
    from tickwire.hw.inventory import dpdk_devices

    bound = dpdk_devices()
    listing = ", ".join(f"{d['pci']} ({d['driver']})" for d in bound) or "none"
    report.add("DPDK bound devices", listing, True,
               "" if bound else "no NIC bound for DPDK (`tickwire hw bind <pci>`); virtual devices (net_pcap, "
                                "net_af_packet, net_null) need none")
    if bound and not os.path.exists("/dev/vfio/vfio"):
        report.add("DPDK /dev/vfio", "missing", False, "modprobe vfio-pci and enable the IOMMU (intel_iommu=on)")
