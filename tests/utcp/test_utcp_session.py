"""Connection life cycle of the userspace stack against kernel TCP over the veth: a peer reset (and a reconnect
through the same stack and slot), an active close into TIME_WAIT followed at once by a reconnect, and the peer
vanishing (link down) mid-transfer."""
from __future__ import annotations

import hashlib
import time

import pytest

from _pattern import pattern
from _utcp_net import (FAST_TIMERS, PORT, ChildProcess, Peer, assert_identical, dp_devargs, link_down,
                       stack_network, transfer)

pytestmark = [pytest.mark.dpdk, pytest.mark.netns]


def test_peer_reset_is_reported_and_the_slot_reconnects() -> None:
    first = {"down": 120_000, "up": 0, "seed": 3, "rst_after": 50_000}
    second = {"down": 100_000, "up": 60_000, "seed": 4}
    with stack_network() as net:
        mine, theirs = transfer(net, [first, second])
    reset, again = mine["conns"]
    assert theirs["conns"][0]["ended"] == "reset_sent"
    assert reset["error"] == "ECONNRESET"
    # everything before the reset arrived, in order, and nothing else
    assert reset["received"] == 50_000
    assert reset["sha256"] == hashlib.sha256(pattern(3, 50_000)).hexdigest()
    assert_identical(second, again, theirs["conns"][1])
    assert again["lport"] != reset["lport"]
    assert mine["counters"]["rst_received"] == 1


def test_active_close_enters_time_wait_and_a_reconnect_is_not_blocked() -> None:
    first = {"down": 20_000, "up": 30_000, "seed": 5, "active_close": True}
    second = {"down": 25_000, "up": 15_000, "seed": 6}
    with stack_network() as net:
        mine, theirs = transfer(net, [first, second])
    closed, again = mine["conns"]
    assert closed["state"] == "TIME_WAIT" and closed["error"] is None
    assert_identical(first, closed, theirs["conns"][0])
    assert_identical(second, again, theirs["conns"][1])
    assert mine["counters"]["time_wait_reused"] == 1 and again["lport"] != closed["lport"]


def test_peer_vanishing_times_out_after_bounded_retransmissions() -> None:
    spec = {"down": 3_000_000, "up": 3_000_000, "seed": 8}
    limits = {**FAST_TIMERS, "data_retries": 5, "rto_max_ms": 400}
    with stack_network() as net:
        peer = Peer(net, port=PORT, conns=[spec], seconds=60)
        client = ChildProcess("utcp_client", {"devargs": dp_devargs(net), "stack_ip": net.stack_ip,
                                              "peer_ip": net.peer_ip, "port": PORT, "conns": [spec],
                                              "limits": limits, "seconds": 60}, netns=net.dp_ns)
        try:
            client.wait_line("FLOWING 0", timeout=120)
            link_down(net)
            started = time.monotonic()
            got = client.result(timeout=120)
            waited = time.monotonic() - started
        finally:
            client.kill()
            peer.kill()
    conn = got["conns"][0]
    assert conn["error"] == "ETIMEDOUT" and conn["state"] == "CLOSED"
    assert 0 < conn["received"] < spec["down"]
    assert got["counters"]["rto_events"] >= 5
    # 5 backed-off retransmissions capped at 400 ms each: well under the 60 s transfer deadline
    assert waited < 30
