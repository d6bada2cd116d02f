"""The multicast feed handler in its own process, feeding the engine's books through the shared-memory ring:
in sync with the simulator, an overrun recovered by a re-snapshot, a killed feed process reported at once."""
from __future__ import annotations

import asyncio
import os
import signal
import time

from mcast_ports import loopback_channel_map

from tickwire import types as T
from tickwire.md.book import Books
from tickwire.md.feed_process import FeedProcess, FeedReader
from tickwire.sim.config import SimConfig
from tickwire.sim.multicast import MulticastPublisher
from tickwire.sim.server import SimServer

NAMES = ("BTC-PERPETUAL", "ETH-PERPETUAL")


def _instruments(config: SimConfig) -> list[tuple[str, str, str]]:
    by_name = {i.name: i for i in config.instruments}
    return [(n, repr(float(by_name[n].tick_size)), repr(float(by_name[n].min_trade_amount))) for n in NAMES]


async def _until(cond, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def _in_sync(sim, books: Books, config: SimConfig) -> bool:
    for slot, (name, tick, lot) in enumerate(_instruments(config)):
        snap = sim.venue.exchange.snapshot(name)
        if books.state[slot]["valid"] != 1 or books.state[slot]["last_change_id"] != snap.change_id:
            return False
        t, q = float(tick), float(lot)
        if books.levels(slot, T.BOOK_BID) != [(round(p / t), round(a / q)) for p, a in snap.bids]:
            return False
    return True


def _run(slots: int, scenario) -> dict:
    channel_map = loopback_channel_map()
    inc, snap = channel_map.port_incremental, channel_map.port_snapshot
    config = SimConfig(port=0, rate=200.0)
    out: dict = {"events": 0, "deaths": []}
    books = Books(len(NAMES), 1024)

    async def main() -> None:
        feed = FeedProcess((inc, snap), list(range(1, 22)), _instruments(config), slots=slots)

        def on_events(ev) -> None:
            out["events"] += ev.shape[0]

        reader = FeedReader(feed, books, on_events, out["deaths"].append)
        try:
            async with SimServer(config, listeners=[MulticastPublisher(channel_map)]) as sim:
                await scenario(sim, feed, reader, books, config, out)
        finally:
            reader.detach()
            feed.close()

    asyncio.run(main())
    return out


def test_the_engines_books_follow_the_simulator_through_the_ring():
    async def scenario(sim, feed, reader, books, config, out):
        reader.attach(asyncio.get_running_loop())
        await _until(lambda: out["events"] > 200)
        sim.venue.flow.stop()  # a still book to compare with: the ring must deliver everything up to it
        out["synced"] = await _until(lambda: _in_sync(sim, books, config))
        out["overruns"] = feed.ring.overruns()

    out = _run(1 << 14, scenario)
    assert out["synced"] and out["events"] > 0 and out["overruns"] == 0 and out["deaths"] == []


def test_a_full_ring_is_counted_and_the_books_come_back_by_a_snapshot():
    async def scenario(sim, feed, reader, books, config, out):
        ok = await _until(lambda: feed.ring.overruns() > 0, 30.0)  # nobody drains: 16 slots fill up
        out["overrun_seen"] = ok
        reader.attach(asyncio.get_running_loop())
        out["resynced"] = await _until(lambda: feed.resyncs() > 0)
        sim.venue.flow.stop()
        out["synced"] = await _until(lambda: _in_sync(sim, books, config))
        out["gaps"] = reader.gaps

    out = _run(16, scenario)
    assert out["overrun_seen"] and out["resynced"] and out["synced"] and out["deaths"] == []


def test_a_killed_feed_process_is_reported_at_once_and_nothing_hangs():
    async def scenario(sim, feed, reader, books, config, out):
        reader.attach(asyncio.get_running_loop())
        await _until(lambda: out["events"] > 0)
        os.kill(feed.process.pid, signal.SIGKILL)
        out["reported"] = await _until(lambda: bool(out["deaths"]), 10.0)

    out = _run(1 << 14, scenario)
    assert out["reported"] and len(out["deaths"]) == 1
    assert out["deaths"][0].startswith("md feed process died: exit code -9")
