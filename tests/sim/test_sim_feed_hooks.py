"""Send-time records (sim/get_send_times), the market-data listener hook, flow determinism, and TLS."""
from __future__ import annotations

import asyncio
import json
import ssl
import time
import urllib.request
from typing import Any, Mapping, Sequence

import orjson
from hypothesis import given, settings
from hypothesis import strategies as hs
from sim_wsclient import WsClient, run_with_sim

from tickwire.sim import SimConfig, SimServer
from tickwire.sim.exchange import Exchange
from tickwire.sim.feed import change_template, notification
from tickwire.sim.flow import MarketFlow
from tickwire.sim.listeners import MarketDataListener, SnapshotFn
from tickwire.sim.matching import BUY, SELL
from tickwire.sim.sendtimes import SendTimes

BTC = "BTC-PERPETUAL"


def test_send_times_cover_book_messages_and_requests() -> None:
    async def body(sim: Any) -> None:
        async with await WsClient.connect(sim.url) as c:
            await c.auth()
            await c.result("private/subscribe", {"channels": ["book.BTC-PERPETUAL.raw", "book.BTC-PERPETUAL.100ms"]})
            seen: dict[int, int] = {}
            first = None
            while len(seen) < 30:
                msg = await c.next_notification("book.BTC-PERPETUAL.raw")
                data = msg["params"]["data"]
                if data["type"] == "change":
                    seen[data["change_id"]] = time.time_ns()
                    first = first or data["change_id"]
            reply = await c.result("sim/get_send_times", {"channel": "book.BTC-PERPETUAL.raw", "since": first - 1})
            times = dict(reply["book"])
            assert set(seen) <= set(times)
            for cid, received in seen.items():
                assert 0 <= received - times[cid] < 5_000_000_000  # sent before received, same clock
            agg = await c.next_notification("book.BTC-PERPETUAL.100ms")
            agg = await c.next_notification("book.BTC-PERPETUAL.100ms")
            reply = await c.result("sim/get_send_times", {"channel": "book.BTC-PERPETUAL.100ms"})
            assert agg["params"]["data"]["change_id"] in dict(reply["book"])
            rid = await c.send("public/get_time")
            t_recv = (await c.answer(rid)) and time.time_ns()
            reply = await c.result("sim/get_send_times", {"ids": [rid]})
            assert reply["requests"][0][0] == rid and reply["requests"][0][1] <= t_recv
            assert reply["connection_id"] >= 1
    run_with_sim(body, rate=300)


class Recorder:
    """A listener that keeps what it is told (a real implementation of the Protocol, not a mock)."""

    def __init__(self) -> None:
        self.instruments: list[str] = []
        self.changes: list[tuple[str, int, int]] = []
        self.trades: list[dict[str, Any]] = []
        self.tickers: list[str] = []
        self.snapshot: SnapshotFn | None = None
        self.closed = False

    def on_instruments(self, instruments: Sequence[Mapping[str, Any]], snapshot: SnapshotFn) -> None:
        self.instruments = [i["instrument_name"] for i in instruments]
        self.snapshot = snapshot

    def on_book_change(self, instrument: str, change_id: int, prev_change_id: int, timestamp_ms: int,
                       bids: Sequence[list], asks: Sequence[list]) -> None:
        self.changes.append((instrument, change_id, prev_change_id))

    def on_trades(self, instrument: str, trades: Sequence[Mapping[str, Any]]) -> None:
        self.trades.extend(dict(t) for t in trades)

    def on_ticker(self, instrument: str, ticker: Mapping[str, Any]) -> None:
        self.tickers.append(instrument)

    def close(self) -> None:
        self.closed = True


class Broken(Recorder):
    def on_book_change(self, *args: Any) -> None:
        raise RuntimeError("listener bug")


def test_listener_sees_the_same_change_ids_as_the_websocket_feed() -> None:
    recorder, broken = Recorder(), Broken()
    assert isinstance(recorder, MarketDataListener)

    async def main() -> None:
        async with SimServer(SimConfig(port=0, rate=300), listeners=[recorder, broken]) as sim:
            async with await WsClient.connect(sim.url) as c:
                await c.auth()
                await c.result("private/subscribe", {"channels": ["book.BTC-PERPETUAL.raw"]})
                ws_ids = []
                while len(ws_ids) < 40:
                    data = (await c.next_notification("book.BTC-PERPETUAL.raw"))["params"]["data"]
                    if data["type"] == "change":
                        ws_ids.append((data["change_id"], data["prev_change_id"]))
                await c.result("private/buy", {"instrument_name": BTC, "amount": 10, "type": "market"})
                await asyncio.sleep(0.25)
                stats = await c.result("sim/get_stats")
                assert any("listener bug" in e for e in stats["listener_errors"])  # detached and reported
            listened = [(cid, prev) for name, cid, prev in recorder.changes if name == BTC]
            assert set(ws_ids) <= set(listened)
            for (cid, _), (_, prev) in zip(listened, listened[1:]):
                assert prev == cid  # the listener's chain is unbroken
            assert recorder.instruments[:2] == [BTC, "ETH-PERPETUAL"]
            assert any(t["instrument_name"] == BTC and t["direction"] == "buy" for t in recorder.trades)
            assert BTC in recorder.tickers
            assert recorder.snapshot is not None
            snap = recorder.snapshot(BTC)
            assert snap.bids[0][0] < snap.asks[0][0]
        assert recorder.closed
    asyncio.run(main())


def test_flow_is_deterministic_for_a_seed_and_never_crossed() -> None:
    def run(seed: int) -> tuple[list[Any], list[Any], int]:
        exchange = Exchange(SimConfig(seed=seed))
        flow = MarketFlow(exchange, 100, seed)
        flow.seed_books()
        flow.run_events(2000)
        for st in exchange.states.values():
            bid, ask = st.book.best(BUY), st.book.best(SELL)
            assert bid is None or ask is None or bid < ask
        st = exchange.states[BTC]
        return st.book.depth(BUY), st.book.depth(SELL), st.change_id
    assert run(7) == run(7)
    assert run(7) != run(8)


def test_tls_websocket_and_https() -> None:
    async def body(sim: Any) -> None:
        assert sim.url.startswith("wss://") and sim.cert is not None
        context = ssl.create_default_context(cafile=str(sim.cert))
        async with await WsClient.connect(sim.url, ssl=context) as c:
            assert (await c.result("public/test"))["version"]
            await c.auth()
            await c.result("private/subscribe", {"channels": ["book.BTC-PERPETUAL.raw"]})
            assert (await c.next_notification("book.BTC-PERPETUAL.raw"))["params"]["data"]["type"] == "snapshot"

        def get() -> dict[str, Any]:
            with urllib.request.urlopen(sim.http_url + "/public/get_time", context=context, timeout=5) as resp:
                return json.loads(resp.read())
        assert isinstance((await asyncio.get_running_loop().run_in_executor(None, get))["result"], int)
    run_with_sim(body, rate=50, tls=True)


def test_send_time_ring_keeps_the_newest() -> None:
    times = SendTimes(kept=8)
    for cid in range(1, 21):
        times.record_book("book.X.raw", cid * 3, 1000 + cid)
    assert times.book_since("book.X.raw", 0, 100) == [[cid * 3, 1000 + cid] for cid in range(13, 21)]
    assert times.book_since("book.X.raw", 50, 2) == [[51, 1017], [54, 1018]]
    assert times.book_since("book.Y.raw", 0, 10) == []
    for rid in range(12):
        times.record_request(1, rid, rid * 10)
    assert times.requests_of(1, [9, 2], 10) == [[9, 90]]  # 2 is older than the kept window
    assert times.requests_of(1, [], 10) == []  # no ids: none (book-only callers fetch no request list)
    assert len(times.requests_of(1, None, 10)) == 8


def test_websockets_baseline_stack_serves_the_same_api() -> None:
    async def body(sim: Any) -> None:
        async with await WsClient.connect(sim.url) as c:
            await c.auth()
            await c.result("private/subscribe", {"channels": ["book.BTC-PERPETUAL.raw"]})
            snap = (await c.next_notification("book.BTC-PERPETUAL.raw"))["params"]["data"]
            change = (await c.next_notification("book.BTC-PERPETUAL.raw"))["params"]["data"]
            assert change["prev_change_id"] == snap["change_id"]
            order = await c.result("private/buy", {"instrument_name": BTC, "amount": 10, "price": 1000.0})
            assert order["order"]["order_state"] == "open"
            assert (await c.raw_answer("{bad"))["error"]["code"] == -32700
    run_with_sim(body, rate=200, stack="websockets")


@settings(max_examples=200, deadline=None)
@given(hs.integers(0, 2**53), hs.integers(0, 2**53), hs.integers(0, 2**53),
       hs.lists(hs.tuples(hs.sampled_from(["new", "change", "delete"]), hs.floats(0.5, 1e6), hs.floats(0, 1e9)),
                max_size=3),
       hs.lists(hs.tuples(hs.sampled_from(["new", "change", "delete"]), hs.floats(0.5, 1e6), hs.floats(0, 1e9)),
                max_size=3),
       hs.sampled_from([BTC, "ETH-PERPETUAL", "BTC-27DEC24-50000-C"]))
def test_change_template_bytes_equal_the_encoded_change_object(ts: int, prev: int, cid: int, bids: list[Any],
                                                               asks: list[Any], name: str) -> None:
    # the raw book feed fills a pre-encoded template instead of encoding a dict per message: same bytes
    channel = f"book.{name}.raw"
    bids, asks = [list(b) for b in bids], [list(a) for a in asks]
    want = notification(channel, {"type": "change", "timestamp": ts, "prev_change_id": prev, "instrument_name": name,
                                  "change_id": cid, "bids": bids, "asks": asks})
    assert change_template(channel, name) % (ts, prev, cid, orjson.dumps(bids), orjson.dumps(asks)) == want
