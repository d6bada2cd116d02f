"""The userspace TCP stack over DPDK (net_af_packet on a veth) against kernel TCP in a namespace: byte-identical
streams both ways, on a clean link and under loss, reordering, duplication and delay jitter (see _utcp_net.impair)."""
from __future__ import annotations

import pytest

from _utcp_net import assert_identical, impair, stack_network, transfer

pytestmark = [pytest.mark.dpdk, pytest.mark.netns]

@pytest.mark.parametrize("driver", ["af_packet", "af_xdp"])
def test_clean_link_streams_both_ways_and_closes(driver: str) -> None:
    spec = {"down": 300_000, "up": 200_000, "seed": 7}
    with stack_network() as net:
        mine, theirs = transfer(net, [spec], driver=driver)
    c, p = mine["conns"][0], theirs["conns"][0]
    assert_identical(spec, c, p)
    assert c["eof"] and c["error"] is None and c["state"] == "CLOSED"  # peer closed first: LAST_ACK -> CLOSED
    assert p["ended"] == "closed"
    ctr = mine["counters"]
    assert ctr["bad_checksum"] == 0 and ctr["malformed"] == 0
    assert ctr["arp_requests_sent"] >= 1 and ctr["rx_segments"] > 0


@pytest.mark.parametrize(("kind", "fault"), [
    pytest.param("loss", {"loss_pct": 2}, id="loss2"),
    pytest.param("loss", {"loss_pct": 5}, id="loss5"),
    pytest.param("reorder", {"slow_pct": 25}, id="reorder"),
    pytest.param("duplicate", {"dup_pct": 5}, id="duplicate"),
    pytest.param("jitter", {"slow_pct": 50, "slow_rate": "50mbit"}, id="jitter"),
])
def test_faults_both_directions_deliver_identical_bytes(kind: str, fault: dict) -> None:
    spec = {"down": 400_000, "up": 300_000, "seed": 11}
    with stack_network() as net:
        impair(net, **fault)
        mine, theirs = transfer(net, [spec])
    c, p = mine["conns"][0], theirs["conns"][0]
    assert_identical(spec, c, p)
    assert c["error"] is None and c["eof"]
    ctr = mine["counters"]
    assert ctr["bad_checksum"] == 0
    if kind == "loss":
        assert ctr["retransmits"] > 0, ctr           # our lost segments were sent again
        assert ctr["out_of_order"] > 0, ctr          # the peer's segments after a lost one were kept
    elif kind in ("reorder", "jitter"):
        assert ctr["out_of_order"] > 0, ctr
    else:
        assert ctr["duplicates"] > 0, ctr
