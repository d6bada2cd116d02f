"""Run the simulator in-process with its multicast publisher, and read both feeds: WebSocket (book.*.raw) and
multicast SBE (kernel sockets on lo). Used by the agreement test and the latency benchmark."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tickwire import types as T
from tickwire.md.book import RefBook
from tickwire.md.mcast_feed import McastFeed
from tickwire.netstack.mcast import ChannelMap, McastSocketSource
from tickwire.sim.config import SimConfig
from tickwire.sim.multicast import MulticastPublisher
from tickwire.sim.server import SimServer

_ACT = {"new": T.ACT_LEVEL_NEW, "change": T.ACT_LEVEL_CHANGE, "delete": T.ACT_LEVEL_DELETE}


class StampListener:
    """A listener attached before the publisher: the time the simulator hands each change to its listeners."""

    def __init__(self) -> None:
        self.published: dict[tuple[str, int], int] = {}

    def on_instruments(self, instruments: Any, snapshot: Any) -> None:
        pass

    def on_book_change(self, instrument: str, change_id: int, *args: Any) -> None:
        self.published[(instrument, change_id)] = time.time_ns()

    def on_trades(self, *args: Any) -> None:
        pass

    def on_ticker(self, *args: Any) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class Observed:
    """Per (instrument, change_id): book checksum and receive time, on each feed; plus the feed stats."""

    ws_checksum: dict[tuple[str, int], int] = field(default_factory=dict)
    mc_checksum: dict[tuple[str, int], int] = field(default_factory=dict)
    ws_rx: dict[tuple[str, int], int] = field(default_factory=dict)
    mc_rx: dict[tuple[str, int], int] = field(default_factory=dict)
    published: dict[tuple[str, int], int] = field(default_factory=dict)
    mc_stats: dict[str, int] = field(default_factory=dict)
    ws_messages: int = 0


async def _ws_reader(url: str, credentials: dict[str, str], names: list[str], units: dict[str, tuple[float, float]],
                     obs: Observed, stop: asyncio.Event) -> None:
    import websockets

    books = {name: RefBook(4096) for name in names}
    client_id, secret = next(iter(credentials.items()))
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "public/auth", "params": {
            "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}}))
        await ws.recv()
        await ws.send(orjson.dumps({"jsonrpc": "2.0", "id": 2, "method": "private/subscribe",
                                    "params": {"channels": [f"book.{n}.raw" for n in names]}}))
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.05)
            except asyncio.TimeoutError:
                continue
            now = time.time_ns()
            msg = orjson.loads(raw)
            if msg.get("method") != "subscription":
                continue
            data = msg["params"]["data"]
            name = data["instrument_name"]
            book, (tick, lot) = books[name], units[name]
            snapshot = data["type"] == "snapshot"
            levels = [(T.BOOK_BID, lv) for lv in data["bids"]] + [(T.BOOK_ASK, lv) for lv in data["asks"]]
            rows = levels or [(T.BOOK_BID, None)]
            for j, (side, lv) in enumerate(rows):
                flags = (T.EVF_SNAPSHOT if snapshot else 0) | (T.EVF_FIRST if j == 0 else 0)
                flags |= T.EVF_LAST if j == len(rows) - 1 else 0
                action, price, amount = (T.ACT_LEVEL_NONE, 0, 0) if lv is None else (
                    _ACT[lv[0]], round(lv[1] / tick), round(lv[2] / lot))
                book.apply_event(T.EV_BOOK, flags, side, action, price, amount, data["change_id"],
                                 data.get("prev_change_id", -1))
            key = (name, data["change_id"])
            obs.ws_messages += 1
            obs.ws_rx[key] = now
            if book.valid:
                obs.ws_checksum[key] = book.checksum()


async def _mc_reader(source: McastSocketSource, feed: McastFeed, obs: Observed, stop: asyncio.Event) -> None:
    from tickwire.md.book import book_checksum

    while not stop.is_set():
        n = source.poll(timeout_ms=0, spin_polls=4)
        for i in range(n):  # one datagram at a time: the book is observed at every change_id it publishes
            off, length = int(source.offsets[i]), int(source.lengths[i])
            feed.on_payload(source.buf[off:off + length], int(source.rx_ns[i]))
            k = feed.flush()
            ev = feed.events[:k]
            for slot in set(ev["inst"][(ev["kind"] == T.EV_BOOK) & ((ev["flags"] & T.EVF_LAST) != 0)].tolist()):
                if slot in feed.names and feed.synced(slot):
                    key = (feed.names[slot], int(feed.books.state[slot]["last_change_id"]))
                    obs.mc_rx.setdefault(key, int(source.rx_ns[i]))
                    obs.mc_checksum[key] = int(book_checksum(feed.books.px, feed.books.qty, feed.books.state, slot))
        await asyncio.sleep(0 if n else 0.0005)


def run_both(channel_map: ChannelMap, seconds: float | None = None, rate: float = 100.0,
             until: Callable[[Observed, McastFeed], bool] | None = None, timeout_s: float = 120.0) -> Observed:
    """Simulator + WebSocket client + multicast receiver; what each feed saw. Runs for ``seconds`` (a benchmark's
    measuring window) or until ``until(observed, feed)`` holds, checked every 50 ms, at most ``timeout_s``."""
    if (seconds is None) == (until is None):
        raise ValueError("give either seconds or until")
    obs = Observed()

    async def main() -> None:
        stamps = StampListener()
        publisher = MulticastPublisher(channel_map, snapshot_interval_s=0.2)
        config = SimConfig(port=0, rate=rate)
        names = [i.name for i in config.instruments]
        units = {i.name: (i.tick_size, i.min_trade_amount) for i in config.instruments}
        channels = sorted({c for c in range(1, 22)})
        feed = McastFeed(n_slots=64)
        stop = asyncio.Event()
        with McastSocketSource(channel_map.endpoints(channels)) as source:
            async with SimServer(config, listeners=[stamps, publisher]) as sim:
                tasks = [asyncio.create_task(_ws_reader(sim.url, config.credentials, names, units, obs, stop)),
                         asyncio.create_task(_mc_reader(source, feed, obs, stop))]
                if seconds is not None:
                    await asyncio.sleep(seconds)
                else:
                    deadline = time.monotonic() + timeout_s
                    while not until(obs, feed) and time.monotonic() < deadline:  # type: ignore[misc]
                        await asyncio.sleep(0.05)
                stop.set()
                await asyncio.gather(*tasks)
        obs.published = stamps.published
        obs.mc_stats = feed.stats

    asyncio.run(main())
    return obs
