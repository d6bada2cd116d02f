"""`tickwire run --stack dpdk` refuses what the userspace stack cannot do, before any DPDK or venue is touched:
a wss:// endpoint (no TLS on this stack), a host name (no resolver), no --url (the embedded simulator is on
loopback), a bad port spec or address."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tickwire.netstack.utcp_endpoint import check_stack, parse_port_spec

TICKWIRE = str(Path(sys.executable).parent / "tickwire")
PORT = "net_af_packet0,iface=tw0"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TICKWIRE, "run", "--stack", "dpdk", "--no-pin", *args], capture_output=True, text=True,
                          timeout=300)


def test_a_wss_url_is_refused_with_the_reason() -> None:
    r = run_cli("--url", "wss://198.18.0.2:8443/ws/api/v2", "--port-spec", PORT, "--ip", "198.18.0.1/30")
    assert r.returncode == 2
    assert "TLS is not available on the DPDK stack" in r.stderr and "plaintext colo or proxy" in r.stderr
    assert "Traceback" not in r.stderr


def test_the_embedded_simulator_is_refused() -> None:
    r = run_cli("--port-spec", PORT, "--ip", "198.18.0.1/30")
    assert r.returncode == 2 and "--stack dpdk needs --url ws://" in r.stderr


@pytest.mark.parametrize(("url", "spec", "ip", "gw", "why"), [
    ("ws://venue.example:80/ws/api/v2", PORT, "198.18.0.1/30", "", "no DNS resolver"),
    ("ws://198.18.0.2:80/ws", "eth1", "198.18.0.1/30", "", "--port-spec 'eth1'"),
    ("ws://198.18.0.2:80/ws", PORT, "198.18.0.1", "", "a /32 address needs a gateway"),
    ("ws://198.18.0.2:80/ws", PORT, "198.18.0.300/30", "", "--ip"),
    ("ws://198.18.9.2:80/ws", PORT, "198.18.0.1/30", "", "not on 198.18.0.0/30"),
    ("ws://198.18.9.2:80/ws", PORT, "198.18.0.1/30", "198.18.0.x", "--gw"),
])
def test_bad_stack_settings_name_the_setting(url: str, spec: str, ip: str, gw: str, why: str) -> None:
    with pytest.raises(ValueError, match=why.replace("(", r"\(").replace(".", r"\.")):
        check_stack(url, spec, ip, gw)


def test_good_settings_pass_and_port_specs_split_into_vdevs_and_pci() -> None:
    check_stack("ws://198.18.9.2:8022/ws/api/v2", PORT, "198.18.0.1/30", "198.18.0.2")
    check_stack("ws://198.18.0.2:80/ws/api/v2", "net_af_xdp0,iface=eth1,start_queue=0", "198.18.0.1/30", "")
    assert parse_port_spec("0000:03:00.0") == ((), ("0000:03:00.0",))
    assert parse_port_spec(PORT) == ((PORT,), ())
