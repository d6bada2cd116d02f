"""The simulator's multicast SBE feed against its WebSocket feed: the same books at every change_id."""
from __future__ import annotations

import time

from mcast_ports import loopback_channel_map
from sim_harness import Observed, run_both

from tickwire.deribit.venue import start_sim
from tickwire.md.mcast_feed import McastFeed
from tickwire.netstack.mcast import ChannelMap, McastSocketSource

DEFAULT_INSTRUMENTS = ("BTC-PERPETUAL", "ETH-PERPETUAL", "BTC-26MAR27", "BTC-26MAR27-95000-C", "BTC-26MAR27-85000-P")


def _enough(obs: Observed, feed: McastFeed) -> bool:
    """Both feeds have shown 300 common change_ids, and every instrument has had 5 snapshot cycles."""
    return len(obs.ws_checksum.keys() & obs.mc_checksum.keys()) > 300 and feed.stats["snapshots"] >= 5


def test_multicast_and_websocket_books_agree_at_every_change_id() -> None:
    obs = run_both(loopback_channel_map(), until=_enough)
    common = obs.ws_checksum.keys() & obs.mc_checksum.keys()
    assert obs.ws_messages > 300 and len(common) > 300, (obs.ws_messages, len(common), obs.mc_stats)
    mismatched = [key for key in common if obs.ws_checksum[key] != obs.mc_checksum[key]]
    assert not mismatched, mismatched[:5]
    # multicast saw (almost) every change the WebSocket feed published once it was in sync
    first_mc = {}
    for name, cid in obs.mc_checksum:
        first_mc[name] = min(first_mc.get(name, cid), cid)
    after_sync = [k for k in obs.ws_checksum if k[0] in first_mc and k[1] >= first_mc[k[0]]]
    seen = sum(1 for k in after_sync if k in obs.mc_checksum)
    assert seen >= 0.95 * len(after_sync), (seen, len(after_sync))
    s = obs.mc_stats
    assert s["gaps"] == s["decode_truncated"] == s["book_gaps"] == s["inconsistent"] == 0, s
    assert s["snapshots"] >= 5 and s["slots"] == 5


def test_sim_cli_multicast_option_publishes_sbe() -> None:
    """`tickwire sim --multicast 127.0.0.1:PORT` (a subprocess started as the engine starts it): the feed handler
    builds every instrument's book. Waits until all five are synced (deadline 60 s), no fixed window."""
    feed = McastFeed(n_slots=32)
    with start_sim(DEFAULT_INSTRUMENTS, multicast=True) as venue:
        channel_map = ChannelMap(port_incremental=venue.mcast_port, port_snapshot=venue.mcast_port + 1)
        with McastSocketSource(channel_map.endpoints(range(1, 22))) as source:
            deadline = time.monotonic() + 60.0
            while time.monotonic() < deadline and not (
                    len(feed.names) == 5 and all(feed.synced(slot) for slot in feed.names)
                    and feed.stats["snapshots"] >= 5):
                n = source.poll(timeout_ms=50)
                if n:
                    feed.on_batch(source.buf, source.offsets, source.lengths, source.rx_ns, n)
    assert sorted(feed.names.values()) == sorted(DEFAULT_INSTRUMENTS)
    assert all(feed.synced(slot) for slot in feed.names)
    assert feed.stats["gaps"] == 0 and feed.stats["snapshots"] >= 5 and feed.stats["decode_truncated"] == 0
