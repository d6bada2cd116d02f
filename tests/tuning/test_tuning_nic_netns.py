"""NIC knobs for real on a veth pair inside a network namespace this test creates (the VM's own eth0 is not ours
to change): ethtool GRO and RPS go to the latency values, then rollback restores both."""
from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.netns


def sh(*args: str, ns: str | None = None) -> str:
    prefix = ["ip", "netns", "exec", ns] if ns else []
    return subprocess.run([*prefix, *args], capture_output=True, text=True, check=True, timeout=60).stdout


def test_ethtool_and_rps_apply_and_rollback_on_a_veth(tmp_path: Path):
    ns = f"twtune-{secrets.token_hex(3)}"
    nic = "twtune-a"
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "link", "add", nic, "type", "veth", "peer", "name", "twtune-b", ns=ns)
        sh("ip", "link", "set", nic, "up", ns=ns)
        sh("ethtool", "-K", nic, "gro", "on", ns=ns)
        rps = f"/sys/class/net/{nic}/queues/rx-0/rps_cpus"
        sh("sh", "-c", f"echo 1 > {rps}", ns=ns)  # `ip netns exec` mounts the namespace's own /sys

        tune = [sys.executable, "-m", "tickwire.cli", "tune"]
        out = sh(*tune, "apply", "--only", "nic", "--nic", nic, "--state-dir", str(tmp_path), "--json", ns=ns)
        applied = {c["knob"] for c in json.loads(out)["changes"] if c["status"] == "applied"}
        assert applied == {"nic.gro", "nic.rps"}
        assert "generic-receive-offload: off" in sh("ethtool", "-k", nic, ns=ns)
        assert int(sh("cat", rps, ns=ns), 16) == 0
        audit = json.loads(sh(*tune, "audit", "--only", "nic.gro,nic.rps", "--nic", nic, "--json", ns=ns))
        assert [row["status"] for row in audit["rows"]] == ["OK", "OK"]

        sh(*tune, "rollback", "--state-dir", str(tmp_path), ns=ns)
        assert "generic-receive-offload: on" in sh("ethtool", "-k", nic, ns=ns)
        assert int(sh("cat", rps, ns=ns), 16) == 1
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False, timeout=30)
