"""The "before" client of the seed benchmark: the same load, written the plain way.

websockets + json on the default asyncio loop, default socket options, no pinning; book messages handed to a
book thread through a ``queue.Queue`` and applied to dict books; every order a fresh dict; latencies by
``time.monotonic_ns``. Orders come from the same open-loop ticker as the engine's (tickwire.bench.load), and are
timed the same way: scheduled time -> first answer.
"""
from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
from typing import Any

import websockets

from tickwire.bench.gcpause import GcPauses
from tickwire.bench.load import (
    LIMIT_BUY, LIMIT_OFFSET_TICKS, LIMIT_SELL, MARKET_BUY, ClientOutcome, LastTouch, LoadSpec, OpenLoopTicker,
    market_instrument, order_kind,
)
from tickwire.deribit.errors import TOO_MANY_REQUESTS
from tickwire.deribit.session import Credentials


class _Books(threading.Thread):
    """The book thread: dict books of ``book.*.raw`` (change_id chain checked), fed through a queue.Queue."""

    def __init__(self) -> None:
        super().__init__(name="books", daemon=True)
        self.q: queue.Queue = queue.Queue()
        self.books: dict[str, tuple[dict[float, float], dict[float, float]]] = {}
        self.change_id: dict[str, int] = {}
        self.applied: list[tuple[str, int, int]] = []  # (instrument, change_id, CLOCK_REALTIME ns)
        self.gaps = 0
        self.lock = threading.Lock()

    def run(self) -> None:
        while (item := self.q.get()) is not None:
            self.apply(item)

    def apply(self, data: dict) -> None:
        name = data["instrument_name"]
        with self.lock:
            if data["type"] == "snapshot":
                self.books[name] = ({}, {})
            elif data.get("prev_change_id") != self.change_id.get(name):
                self.gaps += 1
                return
            bids, asks = self.books[name]
            for side, levels in ((bids, data["bids"]), (asks, data["asks"])):
                for action, price, amount in levels:
                    if action == "delete":
                        side.pop(price, None)
                    else:
                        side[price] = amount
            self.change_id[name] = data["change_id"]
            self.applied.append((name, data["change_id"], time.time_ns()))

    def top(self, name: str) -> tuple[float, float]:
        """Best bid and ask (0.0 for an empty side)."""
        with self.lock:
            bids, asks = self.books.get(name, ({}, {}))
            return (max(bids) if bids else 0.0, min(asks) if asks else 0.0)


class _Plain:
    def __init__(self, ws: Any, spec: LoadSpec, out: ClientOutcome, tick: float, lots: list[float]) -> None:
        self.ws, self.spec, self.out, self.tick, self.lots = ws, spec, out, tick, lots
        self.books = _Books()
        self.touch = LastTouch()
        self.next_id = 1
        self.pending: dict[int, tuple[str, int, asyncio.Future | None]] = {}
        self.t0 = time.monotonic_ns()

    def send(self, method: str, params: dict, started_ns: int, fut: asyncio.Future | None = None) -> None:
        rid = self.next_id
        self.next_id += 1
        self.pending[rid] = (method, started_ns, fut)
        asyncio.ensure_future(self.ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method,
                                                       "params": params})))

    async def call(self, method: str, params: dict) -> Any:
        fut = asyncio.get_running_loop().create_future()
        self.send(method, params, time.monotonic_ns(), fut)
        msg = await asyncio.wait_for(fut, 30)
        return msg.get("result")

    def on_message(self, raw: str) -> None:
        msg = json.loads(raw)
        rid = msg.get("id")
        if rid in self.pending:
            method, started, fut = self.pending.pop(rid)
            now = time.monotonic_ns()
            at = (now - self.t0) / 1e9
            if "error" in msg:
                self.out.refused(int(msg["error"].get("code", 0)))
            if method in ("private/buy", "private/sell"):
                self.out.count("orders_answered")
                self.out.latency["Order Placement"].add([now - started], at)
            elif method == "private/get_positions":
                self.out.latency["Position Query"].add([now - started], at)
            if fut is not None and not fut.done():
                fut.set_result(msg)
        elif msg.get("method") == "subscription" and msg["params"]["channel"].startswith("book."):
            self.books.q.put(msg["params"]["data"])

    def fire(self, k: int, scheduled_ns: int) -> None:
        self.out.count("orders_scheduled")
        name = self.spec.instruments[0]
        top = self.touch.price_from(*self.books.top(name))
        if top is None:
            self.out.count("orders_skipped_no_book")
            return
        kind = order_kind(k)
        order: dict[str, Any] = {"instrument_name": name, "amount": self.lots[0], "label": f"plain-{k}"}
        if kind in (LIMIT_BUY, LIMIT_SELL):
            price = top[0] - LIMIT_OFFSET_TICKS * self.tick if kind == LIMIT_BUY else top[1] + LIMIT_OFFSET_TICKS * self.tick
            order.update(type="limit", price=price, time_in_force="immediate_or_cancel")
        else:
            inst = market_instrument(k, len(self.spec.instruments))
            order.update(type="market", instrument_name=self.spec.instruments[inst], amount=self.lots[inst])
        buying = kind in (LIMIT_BUY, MARKET_BUY)
        self.send("private/buy" if buying else "private/sell", order, scheduled_ns)
        self.out.count("orders_sent")

    async def poll_positions(self) -> None:
        currencies = sorted({n.split("-")[0] for n in self.spec.instruments})
        while True:
            await asyncio.sleep(self.spec.poll_ms / 1000)
            for ccy in currencies:
                self.send("private/get_positions", {"currency": ccy, "kind": "future"}, time.monotonic_ns())

    async def join_md(self) -> None:
        with self.books.lock:
            applied, self.books.applied = self.books.applied, []
        at = (time.monotonic_ns() - self.t0) / 1e9
        for name in self.spec.instruments:
            mine = [(c, t) for n, c, t in applied if n == name]
            if not mine:
                continue
            sent = await self.call("sim/get_send_times", {"channel": f"book.{name}.raw",
                                                          "since": min(c for c, _ in mine) - 1, "count": 1_000_000,
                                                          "ids": []})
            table = {int(c): int(ns) for c, ns in (sent or {}).get("book", [])}
            lat = [t - table[c] for c, t in mine if c in table and t >= table[c]]
            self.out.count("md_unjoined", len(mine) - len(lat))
            self.out.latency["Market Data"].add(lat, at)


async def run_before(spec: LoadSpec, creds: Credentials, tick: float, lots: list[float]) -> ClientOutcome:
    """Run the plain client under the load for ``spec.duration_s``; ``tick`` is the first instrument's tick size,
    ``lots`` each instrument's minimum amount."""
    out = ClientOutcome()
    async with websockets.connect(spec.url, max_size=None) as ws:
        client = _Plain(ws, spec, out, tick, lots)
        client.books.start()
        reader = asyncio.ensure_future(_read(ws, client))
        await client.call("public/auth", {"grant_type": "client_credentials", "client_id": creds.client_id,
                                          "client_secret": creds.client_secret})
        await client.call("private/subscribe", {"channels": [f"book.{n}.raw" for n in spec.instruments]})
        poller = asyncio.ensure_future(client.poll_positions())
        ticker = OpenLoopTicker(asyncio.get_running_loop(), spec.order_rate, spec.duration_s, client.fire)
        pauses = GcPauses()  # measured, not avoided: the plain client leaves the collector as it is
        pauses.install()
        ticker.start()
        spec.mark_ready()
        deadline = time.monotonic() + spec.duration_s + spec.drain_s
        while ticker.running() or (_orders_pending(client) and time.monotonic() < deadline):
            await asyncio.sleep(spec.send_times_every_s if ticker.running() else 0.1)
            await client.join_md()
            if not ticker.running():
                spec.mark_done()
        poller.cancel()
        pauses.remove()
        out.counters.update(pauses.counters())
        await client.join_md()
        out.count("orders_lost", _orders_pending(client))
        out.count("orders_priced_from_last_touch", client.touch.stale)
        out.counters["gaps"] = client.books.gaps
        out.counters["rate_limited"] = out.refusals.get(str(TOO_MANY_REQUESTS), 0)
        await client.call("private/cancel_all", {})
        ticker.stop()
        reader.cancel()
        client.books.q.put(None)
    return out


def _orders_pending(client: _Plain) -> int:
    return sum(1 for m, _, _ in client.pending.values() if m in ("private/buy", "private/sell"))


async def _read(ws: Any, client: _Plain) -> None:
    async for raw in ws:
        client.on_message(raw)
