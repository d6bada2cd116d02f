"""Multicast across a veth pair between two network namespaces this test creates (198.18.0.0/15, no route out):
the capture sent from one namespace, received in the other by the kernel source or by DPDK (net_af_packet)."""
from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _mcast_capture import CAPTURE
from netns_util import VethPair, veth_pair

pytestmark = pytest.mark.netns
CHILD = Path(__file__).parent / "children" / "netns_peer.py"
DPDK_CHILD = Path(__file__).parent / "children" / "dpdk_replay.py"


def run_sender(pair: VethPair, args: dict) -> int:
    """Send the capture from the tx namespace; returns the datagrams sent."""
    sent = subprocess.run(["ip", "netns", "exec", pair.tx_ns, sys.executable, str(CHILD),
                           json.dumps(dict(args, mode="send", ip=pair.tx_ip))], capture_output=True, text=True,
                          timeout=120)
    assert sent.returncode == 0, sent.stderr[-2000:]
    return int(json.loads(sent.stdout)["sent"])


def run_pair(pair: VethPair, receiver_cmd: list[str], args: dict) -> tuple[int, dict]:
    """Start the receiver in the rx namespace, wait for READY, send, return (sent, receiver's JSON result)."""
    receiver = subprocess.Popen(["ip", "netns", "exec", pair.rx_ns, *receiver_cmd], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    try:
        line = receiver.stdout.readline().strip()
        assert line == "READY", (line, receiver.stderr.read()[-2000:] if receiver.poll() is not None else "")
        sent = run_sender(pair, args)
        out, err = receiver.communicate(timeout=90)
        assert receiver.returncode == 0, err[-2000:]
        return sent, json.loads(out.strip().splitlines()[-1])
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.communicate()


def check(sent: int, result: dict) -> None:
    assert sent == result["received"] == 5066
    s = result["stats"]
    assert s["gaps"] == s["duplicates"] == s["decode_truncated"] == 0 and s["trades"] == 421
    assert result["synced"] == result["instruments"] == 84


def test_kernel_source_over_veth_between_namespaces() -> None:
    args = {"capture": str(CAPTURE), "port": 6100}  # Deribit's own ports: the namespaces are ours alone
    with veth_pair() as pair:
        cmd = [sys.executable, str(CHILD), json.dumps(dict(args, mode="recv", ip=pair.rx_ip, timeout_s=60))]
        check(*run_pair(pair, cmd, args))


@pytest.mark.dpdk
def test_dpdk_af_packet_on_the_veth_receives_the_multicast() -> None:
    """DPDK net_af_packet on the rx end of the veth (no kernel socket joins): the same decoder and feed."""
    args = {"capture": str(CAPTURE), "port": 6100}
    prefix = f"twmc-{secrets.token_hex(4)}"
    with veth_pair() as pair:
        cmd = [sys.executable, str(DPDK_CHILD), json.dumps({"mode": "af_packet", "iface": pair.rx_if,
                                                              "prefix": prefix, "expect": 5066, "timeout_s": 60})]
        try:
            check(*run_pair(pair, cmd, args))
        finally:
            shutil.rmtree(Path("/var/run/dpdk") / prefix, ignore_errors=True)
