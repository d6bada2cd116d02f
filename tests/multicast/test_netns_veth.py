"""Multicast across a veth pair between two network namespaces this test creates (198.18.0.0/15, no route out):
the capture sent from one namespace, received by the kernel source in the other, through the feed."""
from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CAPTURE

pytestmark = pytest.mark.netns
CHILD = Path(__file__).parent / "children" / "netns_peer.py"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def test_multicast_over_veth_between_namespaces() -> None:
    tag = secrets.token_hex(3)
    rx_ns, tx_ns, rx_if, tx_if = f"twmc-rx-{tag}", f"twmc-tx-{tag}", f"twmc{tag}r", f"twmc{tag}t"
    third = secrets.randbelow(250) + 1
    rx_ip, tx_ip = f"198.18.{third}.1", f"198.18.{third}.2"
    created: list[str] = []
    receiver = None
    try:
        for ns in (rx_ns, tx_ns):
            _ip("netns", "add", ns)
            created.append(ns)
        _ip("link", "add", rx_if, "type", "veth", "peer", "name", tx_if)
        _ip("link", "set", rx_if, "netns", rx_ns)
        _ip("link", "set", tx_if, "netns", tx_ns)
        for ns, ifname, addr in ((rx_ns, rx_if, rx_ip), (tx_ns, tx_if, tx_ip)):
            _ip("-n", ns, "addr", "add", f"{addr}/30", "dev", ifname)
            _ip("-n", ns, "link", "set", ifname, "up", "multicast", "on")
            _ip("-n", ns, "link", "set", "lo", "up")
        args = {"capture": str(CAPTURE), "port": 6100}  # real Deribit ports: the namespaces are ours alone
        receiver = subprocess.Popen(["ip", "netns", "exec", rx_ns, sys.executable, str(CHILD),
                                     json.dumps(dict(args, mode="recv", ip=rx_ip, timeout_s=60))],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert receiver.stdout.readline().strip() == "READY", receiver.stderr.read()[-2000:]
        sent = subprocess.run(["ip", "netns", "exec", tx_ns, sys.executable, str(CHILD),
                               json.dumps(dict(args, mode="send", ip=tx_ip))], capture_output=True, text=True,
                              timeout=120)
        assert sent.returncode == 0, sent.stderr[-2000:]
        out, err = receiver.communicate(timeout=90)
        assert receiver.returncode == 0, err[-2000:]
        result = json.loads(out.strip().splitlines()[-1])
    finally:
        if receiver is not None and receiver.poll() is None:
            receiver.kill()
            receiver.communicate()
        for ns in created:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
    assert json.loads(sent.stdout)["sent"] == result["received"] == 5066
    s = result["stats"]
    assert s["gaps"] == s["duplicates"] == s["decode_truncated"] == 0 and s["trades"] == 421
    assert result["synced"] == result["instruments"] == 84
