"""A hostile Deribit-like venue for the robustness tests: a real WebSocket server (websockets, 127.0.0.1, port 0)
that speaks enough of Deribit's API v2 to get the engine quoting — public/get_instruments over HTTP, public/auth,
public/set_heartbeat, enable_cancel_on_disconnect, subscribe/unsubscribe, get_positions, get_open_orders,
get_user_trades, get_order_state, buy/sell/cancel/cancel_all, book.* snapshot + changes — and then misbehaves
the way one scenario asks. A scenario is a subclass that overrides a hook:

- ``answer(conn, method, params, rid)``: the JSON answer object to a request (None: no answer at all);
- ``after_ready(conn)``: a coroutine run once the engine subscribed (send bad frames, go silent...);
- ``book_data(conn)``: the next book message's data (the default walks a valid change_id chain).

Everything it saw is recorded (``connections`` with their start times, ``requests`` as (method, params)) so that
tests wait for conditions, never for fixed time windows.
"""
from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tickwire.deribit.session import Credentials
from tickwire.deribit.venue import Venue

NAME = "BTC-PERPETUAL"
INSTRUMENT = {"instrument_name": NAME, "tick_size": 0.5, "min_trade_amount": 10.0, "contract_size": 10.0,
              "base_currency": "BTC", "settlement_currency": "BTC", "kind": "future", "is_active": True}
CREDS = Credentials("hostile-id", "hostile-secret")
MID = 60_000.0


@dataclass
class Conn:
    """One engine connection as the venue sees it."""

    ws: ServerConnection
    started: float
    subscribed: set[str] = field(default_factory=set)
    change_id: int = 1000
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def send(self, obj: Any) -> None:
        await self.ws.send(orjson.dumps(obj).decode())


class HostileVenue:
    """The well-behaved baseline; subclasses misbehave (see the module docstring)."""

    book_period_s = 0.02

    def __init__(self) -> None:
        self.connections: list[Conn] = []
        self.requests: list[tuple[str, dict]] = []
        self.orders: dict[str, dict] = {}  # order_id -> Order object
        self.position = 0.0
        self._ids = itertools.count(1)
        self._server: Any = None
        self.port = 0

    # --- lifecycle ---
    async def start(self) -> Venue:
        self._server = await serve(self._handle, "127.0.0.1", 0, process_request=self._http, max_size=None,
                                   compression=None, ping_interval=None)
        self.port = self._server.sockets[0].getsockname()[1]
        return Venue(f"ws://127.0.0.1:{self.port}/ws/api/v2", f"http://127.0.0.1:{self.port}/api/v2", CREDS, False)

    async def close(self) -> None:
        for c in self.connections:
            for t in c.tasks:
                t.cancel()
        self._server.close()
        await self._server.wait_closed()

    def _http(self, conn: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        body = orjson.dumps({"jsonrpc": "2.0", "result": [INSTRUMENT]})
        return Response(200, "OK", Headers({"Content-Type": "application/json",
                                            "Content-Length": str(len(body))}), body)

    # --- helpers for tests ---
    def methods(self) -> list[str]:
        return [m for m, _ in self.requests]

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.requests if m == method)

    def open_orders(self) -> list[dict]:
        return [o for o in self.orders.values() if o["order_state"] == "open"]

    # --- the protocol ---
    async def _handle(self, ws: ServerConnection) -> None:
        conn = Conn(ws, time.monotonic())
        self.connections.append(conn)
        try:
            async for raw in ws:
                try:
                    msg = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
                method, params, rid = msg.get("method", ""), msg.get("params") or {}, msg.get("id")
                self.requests.append((method, params))
                answer = self.answer(conn, method, params, rid)
                if answer is not None:
                    await conn.send(answer)
                if method == "private/subscribe":
                    for ch in params.get("channels", []):
                        if ch.startswith("book."):
                            await conn.send(self._book_msg(ch, self.snapshot(conn)))
                    if not any(t.get_name() == "after_ready" for t in conn.tasks):
                        conn.tasks.append(asyncio.get_running_loop().create_task(self._feed(conn)))
                        conn.tasks.append(asyncio.get_running_loop().create_task(self.after_ready(conn),
                                                                                 name="after_ready"))
        except ConnectionClosed:
            pass
        finally:
            for t in conn.tasks:
                t.cancel()
            if self.cancel_on_disconnect:
                for o in self.open_orders():
                    o["order_state"] = "cancelled"

    cancel_on_disconnect = True

    def result(self, rid: Any, result: Any) -> dict:
        return {"jsonrpc": "2.0", "id": rid, "result": result, "usIn": 0, "usOut": 0, "usDiff": 0}

    def error(self, rid: Any, code: int, message: str) -> dict:
        return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}

    def answer(self, conn: Conn, method: str, params: dict, rid: Any) -> dict | None:
        """The baseline venue's answer to one request."""
        if method == "public/auth":
            return self.result(rid, {"access_token": "t", "refresh_token": "r", "expires_in": 3600,
                                     "token_type": "bearer", "scope": "trade:read_write"})
        if method in ("public/set_heartbeat", "private/enable_cancel_on_disconnect", "public/test"):
            return self.result(rid, "ok")
        if method == "private/subscribe":
            conn.subscribed |= set(params.get("channels", []))
            return self.result(rid, params.get("channels", []))
        if method == "private/unsubscribe":
            conn.subscribed -= set(params.get("channels", []))
            return self.result(rid, params.get("channels", []))
        if method == "private/get_positions":
            return self.result(rid, [{"instrument_name": NAME, "size": self.position, "average_price": MID,
                                      "kind": "future", "direction": "buy" if self.position >= 0 else "sell"}])
        if method == "private/get_open_orders_by_instrument":
            return self.result(rid, self.open_orders())
        if method == "private/get_user_trades_by_instrument":
            return self.result(rid, {"trades": [], "has_more": False})
        if method == "private/get_order_state":
            order = self.orders.get(params.get("order_id", ""))
            return self.result(rid, order) if order else self.error(rid, 10004, "order_not_found")
        if method in ("private/buy", "private/sell"):
            oid = f"HV-{next(self._ids)}"
            order = {"order_id": oid, "label": params.get("label", ""), "instrument_name": NAME,
                     "direction": method.split("/")[1], "price": float(params.get("price", 0)),
                     "amount": float(params.get("amount", 0)), "filled_amount": 0.0, "order_state": "open",
                     "order_type": "limit", "post_only": True, "last_update_timestamp": int(time.time() * 1000),
                     "replaced": False}
            self.orders[oid] = order
            return self.result(rid, {"order": order, "trades": []})
        if method == "private/cancel":
            order = self.orders.get(params.get("order_id", ""))
            if order is None or order["order_state"] != "open":
                return self.error(rid, 11044, "not_open_order")
            order["order_state"] = "cancelled"
            order["last_update_timestamp"] += 1
            return self.result(rid, order)
        if method == "private/cancel_all":
            n = len(self.open_orders())
            for o in self.open_orders():
                o["order_state"] = "cancelled"
            return self.result(rid, n)
        if method == "private/edit":
            return self.error(rid, 11044, "not_open_order")
        return self.error(rid, -32601, "Method not found")

    # --- market data ---
    def snapshot(self, conn: Conn) -> dict:
        conn.change_id += 1
        return {"type": "snapshot", "timestamp": int(time.time() * 1000), "instrument_name": NAME,
                "change_id": conn.change_id,
                "bids": [["new", MID - 0.5 * k, 1000.0] for k in range(1, 6)],
                "asks": [["new", MID + 0.5 * k, 1000.0] for k in range(1, 6)]}

    def book_data(self, conn: Conn) -> dict:
        """A valid change: the best bid's amount moves."""
        prev = conn.change_id
        conn.change_id += 1
        return {"type": "change", "timestamp": int(time.time() * 1000), "instrument_name": NAME,
                "change_id": conn.change_id, "prev_change_id": prev,
                "bids": [["change", MID - 0.5, 1000.0 + 10 * (conn.change_id % 7)]], "asks": []}

    def _book_msg(self, channel: str, data: dict) -> dict:
        return {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}

    async def _feed(self, conn: Conn) -> None:
        channel = f"book.{NAME}.raw"
        while True:
            await asyncio.sleep(self.book_period_s)
            if channel in conn.subscribed and self.feeding(conn):
                await conn.send(self._book_msg(channel, self.book_data(conn)))

    def feeding(self, conn: Conn) -> bool:
        return True

    async def after_ready(self, conn: Conn) -> None:
        """Scenario hook: runs once per connection after the engine subscribed."""

    async def first_resting_order(self, conn: Conn) -> dict | None:
        """On the first connection: the first of our resting orders, once there is one (None on later ones)."""
        if conn is not self.connections[0]:
            return None
        await wait_for(lambda: self.open_orders(), 30, "a resting order")
        return self.open_orders()[0]

    async def notify(self, conn: Conn, channel: str, data: Any) -> None:
        await conn.send({"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}})


async def wait_for(cond: Any, timeout_s: float = 30.0, what: str = "condition") -> None:
    """Until ``cond()`` is true; AssertionError naming ``what`` after a generous deadline."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")
        await asyncio.sleep(0.02)
