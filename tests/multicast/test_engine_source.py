"""McastMarketData (the engine's `--md multicast` source) against the simulator, driven by an asyncio loop."""
from __future__ import annotations

import asyncio
import time

import numpy as np
from mcast_ports import loopback_channel_map

from tickwire import types as T
from tickwire.md.book import Books
from tickwire.md.mcast_feed import McastMarketData
from tickwire.deribit.instruments import InstrumentTable
from tickwire.sim.config import SimConfig
from tickwire.sim.multicast import MulticastPublisher
from tickwire.sim.server import SimServer


def test_engine_source_keeps_the_engines_slots_and_books_in_sync_with_the_simulator() -> None:
    channel_map = loopback_channel_map()
    table = InstrumentTable(capacity=32)  # the engine's: BTC-PERPETUAL slot 0, ETH-PERPETUAL slot 1
    books = Books(32, 1024)
    batches: list[np.ndarray] = []
    result: dict = {}

    async def main() -> None:
        md = McastMarketData(channel_map, channels=list(range(1, 22)), table=table, books=books)
        config = SimConfig(port=0, rate=100.0)
        try:
            md.attach(asyncio.get_running_loop(), lambda ev: batches.append(ev.copy()))
            async with SimServer(config, listeners=[MulticastPublisher(channel_map)]) as sim:
                # until both engine books are valid and have moved a while (deadline 60 s, no fixed window)
                deadline = asyncio.get_running_loop().time() + 60.0
                while asyncio.get_running_loop().time() < deadline and not all(
                        books.state[slot]["valid"] == 1 and md.feed.stats["events"] > 200 for slot in (0, 1)):
                    await asyncio.sleep(0.05)
                for name in ("BTC-PERPETUAL", "ETH-PERPETUAL"):  # the venue's own book at this instant
                    result[name] = sim.venue.exchange.snapshot(name)
                md.receive(0)  # what is still queued, delivered to the attached callback
                result["stats"] = md.feed.stats
        finally:
            md.close()

    asyncio.run(main())
    events = np.concatenate(batches)
    assert result["stats"]["gaps"] == 0 and result["stats"]["decode_truncated"] == 0
    assert table.slot("BTC-PERPETUAL") == 0 and table.slot("ETH-PERPETUAL") == 1 and len(table) == 5
    assert set(events["inst"][events["kind"] == T.EV_BOOK].tolist()) >= {0, 1}
    for slot, name in ((0, "BTC-PERPETUAL"), (1, "ETH-PERPETUAL")):
        assert books.state[slot]["valid"] == 1
        snap = result[name]
        # loopback delivers on send and the venue shares our loop: everything it published is in the book
        assert books.state[slot]["last_change_id"] == snap.change_id
        tick, lot = float(table.tick_size(slot)), float(table.lot_size(slot))
        assert books.levels(slot, T.BOOK_BID) == [(round(p / tick), round(a / lot)) for p, a in snap.bids]
        assert books.levels(slot, T.BOOK_ASK) == [(round(p / tick), round(a / lot)) for p, a in snap.asks]


def test_spin_driver_poll_returns_the_events(capture) -> None:
    import struct

    from tickwire.netstack.mcast import McastSender

    channel_map = loopback_channel_map()
    md = McastMarketData(channel_map, channels=[11])
    sender = McastSender()
    try:
        sent = [p for p in capture.data if struct.unpack_from("<H", p, 2)[0] in (11, 111)][:400]
        for p in sent:
            sender.send(p, *channel_map.group(struct.unpack_from("<H", p, 2)[0]))
        events, received = [], 0
        deadline = time.monotonic() + 60.0  # generous: a busy machine is slow
        while received < len(sent) and time.monotonic() < deadline:
            events.append(md.poll(timeout_ms=100))
            received = md.feed.stats["packets"]
    finally:
        sender.close()
        md.close()
    assert received == len(sent)
    kinds = np.concatenate(events)["kind"]
    assert (kinds == T.EV_TICKER).sum() == 2 * md.feed.stats["tickers"] > 0
