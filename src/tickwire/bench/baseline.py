"""The baseline client, written the plain way: websockets + json + a dict book + a Python strategy.

It does what the engine does in the benchmark scenarios — keep the book of ``book.{instrument}.raw`` (with the
change_id chain), place and cancel one far post-only bid per book update within a request budget, and poll
private/get_positions — and records the same latencies with the same clocks: order placement (send -> answer,
perf_counter), market data (book applied, CLOCK_REALTIME, joined with the simulator's send times), position
query (request -> answer). Round trips are also kept by request id, and every order request with the change_id
of the book message that triggered it, for the wire analysis of a capture (tickwire.md.wire).
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import websockets

from tickwire.deribit.session import Credentials


@dataclass
class BaselineResult:
    order_ns: list[float] = field(default_factory=list)
    position_ns: list[float] = field(default_factory=list)
    md_applied: list[tuple[int, int]] = field(default_factory=list)  # (change_id, realtime ns)
    md_ns: list[float] = field(default_factory=list)
    orders: int = 0
    gaps: int = 0
    order_rtt: dict[int, float] = field(default_factory=dict)  # by request id: joined with a capture
    position_rtt: dict[int, float] = field(default_factory=dict)
    triggers: dict[int, int] = field(default_factory=dict)  # order request id -> the change_id it answered


class _Client:
    def __init__(self, ws, instrument: str, tick: float, lot: float, offset_ticks: int, orders_per_s: float,
                 result: BaselineResult) -> None:
        self.ws, self.instrument, self.tick, self.lot = ws, instrument, tick, lot
        self.offset = offset_ticks * tick
        self.result = result
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.change_id = None
        self.next_id = 1
        self.pending: dict[int, tuple[str, int, asyncio.Future | None]] = {}
        self.order_id: str | None = None
        self.order_pending = False
        self.budget = orders_per_s
        self.rate = orders_per_s
        self.last = time.monotonic()

    async def call(self, method: str, params: dict) -> dict:
        fut = asyncio.get_running_loop().create_future()
        self._send(method, params, fut)
        return await asyncio.wait_for(fut, 10)

    def _send(self, method: str, params: dict, fut: asyncio.Future | None = None) -> int:
        rid = self.next_id
        self.next_id += 1
        self.pending[rid] = (method, time.perf_counter_ns(), fut)
        asyncio.ensure_future(self.ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method,
                                                       "params": params})))
        return rid

    def on_message(self, raw: str) -> None:
        msg = json.loads(raw)
        if "id" in msg and msg["id"] in self.pending:
            method, t0, fut = self.pending.pop(msg["id"])
            dt = time.perf_counter_ns() - t0
            if method in ("private/buy", "private/cancel"):
                if method == "private/buy":  # Order Placement, as the engine measures it: new orders only
                    self.result.order_ns.append(dt)
                    self.result.order_rtt[msg["id"]] = dt
                self.on_order_answer(method, msg)
            elif method == "private/get_positions":
                self.result.position_ns.append(dt)
                self.result.position_rtt[msg["id"]] = dt
            if fut is not None and not fut.done():
                fut.set_result(msg)
            return
        if msg.get("method") == "subscription" and msg["params"]["channel"].startswith("book."):
            self.on_book(msg["params"]["data"])

    def on_book(self, data: dict) -> None:
        if data["type"] == "snapshot":
            self.bids, self.asks = {}, {}
        elif data.get("prev_change_id") != self.change_id:
            self.result.gaps += 1
            return
        for side, levels in ((self.bids, data["bids"]), (self.asks, data["asks"])):
            for action, price, amount in levels:
                if action == "delete":
                    side.pop(price, None)
                else:
                    side[price] = amount
        self.change_id = data["change_id"]
        self.result.md_applied.append((data["change_id"], time.time_ns()))
        self.strategy()

    def strategy(self) -> None:
        """Python strategy: one far bid, cancelled once open, within an orders/s budget."""
        if self.order_pending or not self.bids:
            return
        now = time.monotonic()
        self.budget = min(self.rate, self.budget + (now - self.last) * self.rate)
        self.last = now
        if self.budget < 1:
            return
        self.budget -= 1
        self.order_pending = True
        self.result.orders += 1
        if self.order_id is None:
            rid = self._send("private/buy", {"instrument_name": self.instrument, "amount": self.lot,
                                             "type": "limit", "price": max(self.bids) - self.offset,
                                             "post_only": True, "label": "base"})
        else:
            rid = self._send("private/cancel", {"order_id": self.order_id})
        self.result.triggers[rid] = self.change_id

    def on_order_answer(self, method: str, msg: dict) -> None:
        self.order_pending = False
        result = msg.get("result")
        if method == "private/buy" and result and result["order"]["order_state"] == "open":
            self.order_id = result["order"]["order_id"]
        elif method == "private/cancel":
            self.order_id = None


async def run_baseline(url: str, creds: Credentials, instrument: str, tick: float, lot: float, duration_s: float,
                       orders_per_s: float = 20.0, poll_ms: int = 100, offset_ticks: int = 40) -> BaselineResult:
    """Run the baseline client for ``duration_s``; market-data latency is joined with sim/get_send_times."""
    result = BaselineResult()
    async with websockets.connect(url, max_size=None) as ws:
        client = _Client(ws, instrument, tick, lot, offset_ticks, orders_per_s, result)
        reader = asyncio.ensure_future(_read(ws, client))
        await client.call("public/auth", {"grant_type": "client_credentials", "client_id": creds.client_id,
                                          "client_secret": creds.client_secret})
        await client.call("private/subscribe", {"channels": [f"book.{instrument}.raw"]})
        end = time.monotonic() + duration_s
        while time.monotonic() < end:
            await asyncio.sleep(poll_ms / 1000)
            client._send("private/get_positions", {"currency": instrument.split("-")[0], "kind": "future"})
        await client.call("private/cancel_all", {})
        if result.md_applied:
            sent = await client.call("sim/get_send_times", {"channel": f"book.{instrument}.raw",
                                                            "since": result.md_applied[0][0] - 1,
                                                            "count": 1_000_000, "ids": []})
            times = {int(c): int(ns) for c, ns in sent["result"]["book"]}
            result.md_ns = [applied - times[c] for c, applied in result.md_applied if c in times]
        reader.cancel()
    return result


async def _read(ws, client: _Client) -> None:
    async for raw in ws:
        client.on_message(raw)
