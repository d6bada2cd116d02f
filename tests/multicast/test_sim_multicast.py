"""The simulator's multicast SBE feed against its WebSocket feed: the same books at every change_id."""
from __future__ import annotations

from test_mcast_source import free_udp_ports

from sim_harness import run_both
from tickwire.netstack.mcast import ChannelMap


def test_multicast_and_websocket_books_agree_at_every_change_id() -> None:
    inc, snap = free_udp_ports(2)
    obs = run_both(ChannelMap(port_incremental=inc, port_snapshot=snap), seconds=2.5)
    common = obs.ws_checksum.keys() & obs.mc_checksum.keys()
    assert obs.ws_messages > 200 and len(common) > 200, (obs.ws_messages, len(common), obs.mc_stats)
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
    """`tickwire sim --multicast 127.0.0.1:PORT` (a subprocess): the feed handler builds every instrument's book."""
    import json
    import subprocess
    import sys
    import time
    from pathlib import Path

    from tickwire.md.mcast_feed import McastFeed
    from tickwire.netstack.mcast import McastSocketSource

    inc, _ = free_udp_ports(2)
    channel_map = ChannelMap(port_incremental=inc, port_snapshot=inc + 1)
    feed = McastFeed(n_slots=32)
    with McastSocketSource(channel_map.endpoints(range(1, 22))) as source:
        sim = subprocess.Popen([str(Path(sys.executable).with_name("tickwire")), "sim", "--port", "0", "--ready-json",
                                "--multicast", f"127.0.0.1:{inc}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        try:
            ready = json.loads(sim.stdout.readline())
            assert ready["url"].startswith("ws://127.0.0.1:")
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:
                n = source.poll(timeout_ms=50)
                if n:
                    feed.on_batch(source.buf, source.offsets, source.lengths, source.rx_ns, n)
        finally:
            sim.terminate()
            sim.communicate(timeout=20)
    assert len(feed.names) == 5 and all(feed.synced(slot) for slot in feed.names)
    assert feed.stats["gaps"] == 0 and feed.stats["snapshots"] >= 5 and feed.stats["decode_truncated"] == 0
