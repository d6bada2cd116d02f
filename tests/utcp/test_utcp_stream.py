"""The userspace TCP stack over DPDK (net_af_packet on a veth) against kernel TCP in a namespace: byte-identical
streams both ways, on a clean link and under netem loss, reordering, duplication and jitter."""
from __future__ import annotations

import hashlib

import pytest

from _pattern import pattern
from _utcp_net import ChildProcess, Peer, dp_devargs, netem, stack_network

pytestmark = [pytest.mark.dpdk, pytest.mark.netns]

PORT = 40123
FAST_TIMERS = {"rto_min_ms": 20, "rto_init_ms": 200}


def transfer(net, conns: list[dict], limits: dict | None = None, seconds: float = 120.0) -> tuple[dict, dict]:
    """Run the peer and the DPDK client for `conns`; returns (client result, peer result)."""
    peer = Peer(net, port=PORT, conns=conns, seconds=seconds)
    client = ChildProcess("utcp_client", {"devargs": dp_devargs(net), "stack_ip": net.stack_ip,
                                          "peer_ip": net.peer_ip, "port": PORT, "conns": conns,
                                          "limits": limits or FAST_TIMERS, "seconds": seconds}, netns=net.dp_ns)
    try:
        got = client.result(timeout=seconds + 120)
        return got, peer.result(timeout=30)
    finally:
        client.kill()
        peer.kill()


def assert_identical(spec: dict, mine: dict, theirs: dict) -> None:
    """What each side received is exactly what the other sent."""
    assert mine["received"] == spec["down"]
    assert mine["sha256"] == hashlib.sha256(pattern(spec["seed"], spec["down"])).hexdigest()
    assert theirs["received"] == spec["up"]
    assert theirs["sha256"] == hashlib.sha256(pattern(spec["seed"] + 1, spec["up"])).hexdigest()


def test_clean_link_streams_both_ways_and_closes() -> None:
    spec = {"down": 300_000, "up": 200_000, "seed": 7}
    with stack_network() as net:
        mine, theirs = transfer(net, [spec])
    c, p = mine["conns"][0], theirs["conns"][0]
    assert_identical(spec, c, p)
    assert c["eof"] and c["error"] is None and c["state"] == "CLOSED"  # peer closed first: LAST_ACK -> CLOSED
    assert p["ended"] == "closed"
    ctr = mine["counters"]
    assert ctr["bad_checksum"] == 0 and ctr["malformed"] == 0
    assert ctr["arp_requests_sent"] >= 1 and ctr["rx_segments"] > 0


@pytest.mark.parametrize("fault", [
    pytest.param(("loss", "2%"), id="loss2"),
    pytest.param(("loss", "5%"), id="loss5"),
    pytest.param(("delay", "2ms", "reorder", "25%", "50%"), id="reorder"),
    pytest.param(("duplicate", "5%"), id="duplicate"),
    pytest.param(("delay", "1ms", "3ms", "distribution", "normal"), id="jitter"),
])
def test_faults_both_directions_deliver_identical_bytes(fault: tuple[str, ...]) -> None:
    spec = {"down": 400_000, "up": 300_000, "seed": 11}
    with stack_network() as net:
        netem(net.peer_ns, net.peer_if, *fault)   # peer -> stack
        netem(net.dp_ns, net.dp_if, *fault)       # stack -> peer (af_packet goes through the qdisc)
        mine, theirs = transfer(net, [spec])
    c, p = mine["conns"][0], theirs["conns"][0]
    assert_identical(spec, c, p)
    assert c["error"] is None and c["eof"]
    ctr = mine["counters"]
    assert ctr["bad_checksum"] == 0
    kind = fault[0] if fault[0] != "delay" or len(fault) < 3 or fault[2] != "reorder" else "reorder"
    if kind == "loss":
        assert ctr["retransmits"] > 0, ctr           # our lost segments were sent again
        assert ctr["out_of_order"] > 0, ctr          # the peer's segments after a lost one were kept
    elif kind == "reorder":
        assert ctr["out_of_order"] > 0, ctr
    elif kind == "duplicate":
        assert ctr["duplicates"] > 0, ctr
