"""The engine against a hostile venue (tests/robust/hostile_venue.py): real sockets on 127.0.0.1, the real engine
(`run_async`), one misbehaviour per test. Each test first waits until the engine quotes, then the venue
misbehaves, then the test waits (generous deadlines, never fixed windows) for the recovery it expects."""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import pytest

from tickwire.config import load
from tickwire.deribit.session import DeribitSession, VenueError
from tickwire.engine.run import RunFailed, RunResult, run_async
from tickwire.engine.strategy import Strategy
from tickwire.types import C_RECONNECTS

from hostile_venue import INSTRUMENT, NAME, Conn, HostileVenue, wait_for

pytestmark = pytest.mark.timeout(900)  # the first engine in a process may compile the hot path

Body = Callable[[HostileVenue, Any, DeribitSession], Awaitable[None]]


def trade(hv: HostileVenue, body: Body, **overrides: Any) -> RunResult:
    """Run the engine (demo market maker) against ``hv`` until ``body`` returns; the run's result."""
    async def main() -> RunResult:
        venue = await hv.start()
        data = {"duration_s": 600.0, "position_poll_ms": 100,
                "session": {"request_timeout_ms": 500, "reconnect_min_ms": 50, "reconnect_max_ms": 2000}}
        for key, value in overrides.items():
            if isinstance(value, dict):
                data.setdefault(key, {}).update(value)
            else:
                data[key] = value
        cfg = load(None, data)
        stop = asyncio.Event()
        ready: dict[str, Any] = {}

        async def on_ready(engine: Any, session: DeribitSession) -> None:
            ready["engine"], ready["session"] = engine, session

        run = asyncio.create_task(run_async(cfg, venue, stop, on_ready))
        try:
            await wait_for(lambda: "engine" in ready or run.done(), 600, "the session")
            if run.done():
                return run.result()
            await wait_for(lambda: hv.count("private/buy") + hv.count("private/sell") > 0, 30, "the first quote")
            await body(hv, ready["engine"], ready["session"])
        finally:
            stop.set()
            try:
                result = await asyncio.wait_for(run, 60)
            finally:
                await hv.close()
        return result

    return asyncio.run(main())


def quoting_again(hv: HostileVenue, since: int) -> Callable[[], bool]:
    orders = lambda: hv.count("private/buy") + hv.count("private/sell")  # noqa: E731
    return lambda: orders() > since


# --- 1. WebSocket length overflow ------------------------------------------------------------------------------

class HugeLength(HostileVenue):
    """After quoting, one frame whose 64-bit length is 2^63 - 1 (or has the top bit set) and nothing more."""

    def __init__(self, header: bytes) -> None:
        super().__init__()
        self.header = header

    async def after_ready(self, conn: Conn) -> None:
        if len(self.connections) == 1:
            await asyncio.sleep(0.2)
            transport = conn.ws.transport
            transport.write(self.header + b"{}")  # raw bytes: no WebSocket library would send this


@pytest.mark.parametrize("length", [(1 << 63) - 1, (1 << 63) - 16, 1 << 63 | 5])
def test_huge_websocket_length_reconnects_instead_of_wedging(length: int) -> None:
    header = bytes([0x81, 127]) + length.to_bytes(8, "big")
    hv = HugeLength(header)

    async def body(hv: HostileVenue, engine: Any, session: DeribitSession) -> None:
        await wait_for(lambda: len(hv.connections) >= 2 and session.ready.is_set(), 30, "a reconnect")
        assert engine.counters[C_RECONNECTS] >= 1

    result = trade(hv, body)
    assert result.counters["reconnects"] >= 1


# --- 2. liveness -----------------------------------------------------------------------------------------------

class GoesSilent(HostileVenue):
    """After quoting, the first connection answers nothing and sends nothing (the TCP connection stays up)."""

    def answer(self, conn: Conn, method: str, params: dict, rid: Any) -> dict | None:
        if conn is self.connections[0] and getattr(conn, "silent", False):
            return None
        return super().answer(conn, method, params, rid)

    def feeding(self, conn: Conn) -> bool:
        return not getattr(conn, "silent", False)

    async def after_ready(self, conn: Conn) -> None:
        if conn is self.connections[0]:
            await asyncio.sleep(0.2)
            conn.silent = True  # type: ignore[attr-defined]


def test_silent_venue_is_noticed_by_request_timeouts() -> None:
    async def body(hv: HostileVenue, engine: Any, session: DeribitSession) -> None:
        await wait_for(lambda: len(hv.connections) >= 2 and session.ready.is_set(), 30, "a reconnect")

    result = trade(GoesSilent(), body)
    assert result.counters["reconnects"] >= 1


class Drips(GoesSilent):
    """After quoting, the first connection goes silent except one byte a second of a frame that never ends."""

    async def after_ready(self, conn: Conn) -> None:
        if conn is self.connections[0]:
            await asyncio.sleep(0.2)
            conn.silent = True  # type: ignore[attr-defined]
            conn.ws.transport.write(bytes([0x81, 126, 0x10, 0x00]))  # a 4096-byte text frame...
            while True:
                await asyncio.sleep(1.0)
                conn.ws.transport.write(b" ")  # ...that arrives one byte a second


def test_dripping_venue_is_noticed_by_the_heartbeat_watchdog() -> None:
    # no position polling, so no request can time out: only the missed heartbeats (2 x 10 s) can notice
    async def body(hv: HostileVenue, engine: Any, session: DeribitSession) -> None:
        await wait_for(lambda: len(hv.connections) >= 2 and session.ready.is_set(), 60, "a reconnect")
        assert session.liveness_drops == 1

    result = trade(Drips(), body, position_poll_ms=600_000)
    assert result.counters["liveness_drops"] >= 1


# --- 3. background tasks ---------------------------------------------------------------------------------------

class BadPositions(HostileVenue):
    """private/get_positions answers garbage for a while (a dict, then a size that is a string)."""

    bad = True

    def answer(self, conn: Conn, method: str, params: dict, rid: Any) -> dict | None:
        if method == "private/get_positions" and self.bad and self.count(method) > 1:
            garbage = {"size": 1} if self.count(method) % 2 else [{"instrument_name": NAME, "size": "lots"}]
            return self.result(rid, garbage)
        return super().answer(conn, method, params, rid)


def test_malformed_positions_do_not_end_polling_or_timeouts() -> None:
    async def body(hv: HostileVenue, engine: Any, session: DeribitSession) -> None:
        n = hv.count("private/get_positions")
        await wait_for(lambda: hv.count("private/get_positions") > n + 5, 30, "polling through garbage")
        hv.bad = False  # type: ignore[attr-defined]
        n = hv.count("private/get_positions")
        await wait_for(lambda: hv.count("private/get_positions") > n + 3, 30, "polling after the garbage")
        assert engine.failure is None

    result = trade(BadPositions(), body)
    assert result.kill_reasons == []


class BadOpenOrdersAfterReconnect(HostileVenue):
    """The second connection gets a malformed get_open_orders answer (an object) twice, then sane ones."""

    def answer(self, conn: Conn, method: str, params: dict, rid: Any) -> dict | None:
        if method == "private/get_open_orders_by_instrument" and len(self.connections) in (2, 3):
            return self.result(rid, {"orders": "?"})
        return super().answer(conn, method, params, rid)

    async def after_ready(self, conn: Conn) -> None:
        if conn is self.connections[0]:
            await asyncio.sleep(0.2)
            await conn.ws.close()


def test_malformed_answer_during_reconnect_retries_with_the_next_connection() -> None:
    async def body(hv: HostileVenue, engine: Any, session: DeribitSession) -> None:
        await wait_for(lambda: len(hv.connections) >= 4 and session.ready.is_set(), 30, "the 4th connection ready")
        assert "malformed answer" in session.last_error

    trade(BadOpenOrdersAfterReconnect(), body)


class CrashingTimer(Strategy):
    """A Python strategy whose timer raises: the timers task dies."""

    timer_ms = 50

    def on_timer(self, now_ns: int) -> list:
        raise RuntimeError("strategy bug in on_timer")


def test_a_dead_background_task_fails_the_run_loudly() -> None:
    async def body(hv: HostileVenue, engine: Any, session: DeribitSession) -> None:
        await asyncio.sleep(0)

    async def main() -> None:
        hv = HostileVenue()
        venue = await hv.start()
        cfg = load(None, {"duration_s": 600.0, "strategy": f"{__name__}:CrashingTimer"})
        try:
            with pytest.raises(RunFailed, match="engine-timers.*strategy bug in on_timer"):
                await asyncio.wait_for(run_async(cfg, venue), 600)
        finally:
            await hv.close()

    asyncio.run(main())


class MalformedAuth(HostileVenue):
    def answer(self, conn: Conn, method: str, params: dict, rid: Any) -> dict | None:
        if method == "public/auth":
            return self.result(rid, ["not", "an", "object"])
        return super().answer(conn, method, params, rid)


class Handler:
    def on_bytes(self, data: bytes, tsc: int) -> None: ...
    async def on_ready(self, session: DeribitSession) -> None: ...
    def on_lost(self, reason: str) -> None: ...
    def messages_received(self) -> int:
        return 0


def _session(venue: Any, handler: Any) -> DeribitSession:
    cfg = load(None, {"session": {"reconnect_min_ms": 50, "reconnect_max_ms": 200}}).session
    return DeribitSession(venue.url, venue.creds, [], handler, cfg)


def test_start_up_failure_names_the_real_cause() -> None:
    async def main() -> None:
        hv = MalformedAuth()
        venue = await hv.start()

        class Feeding(Handler):  # hand the bytes to the session the way the engine's slow path does
            def on_bytes(self, data: bytes, tsc: int) -> None:
                import orjson
                for op, payload in deframer.feed(data):
                    session.on_message(orjson.loads(payload))

        from tickwire.netstack.ws import MASK_NO, PH_FRAMES, Deframer
        deframer = Deframer(PH_FRAMES, MASK_NO)
        session = _session(venue, Feeding())
        session.start()
        try:
            with pytest.raises(asyncio.TimeoutError, match=r"last error: MalformedAnswer: public/auth: 0 malformed"):
                await session.wait_ready(2.0)
        finally:
            await session.stop()
            await hv.close()

    asyncio.run(main())


# --- 4. malformed notifications and backoff --------------------------------------------------------------------

BAD_MESSAGES = [
    {"jsonrpc": "2.0", "id": 3, "error": "boom"},  # error not an object
    {"jsonrpc": "2.0", "id": 4, "error": {"code": "10004", "message": "x"}},  # code as a string
    {"jsonrpc": "2.0", "id": (1 << 64) - 1, "result": {"order": {"order_state": "open"}}},  # id 2^64-1
    {"jsonrpc": "2.0", "id": (1 << 64) - 1, "error": {"code": 1}},
    {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": f"user.trades.{NAME}.raw", "data": "x"}},
    {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": f"user.trades.{NAME}.raw",
                                                           "data": [{"trade_id": None, "price": "p"}]}},
    {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": f"trades.{NAME}.raw",
                                                           "data": [{"price": 0, "amount": 10, "direction": "buy"}]}},
    {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": f"user.orders.{NAME}.raw",
                                                           "data": [{"label": "x", "order_state": 7}, 5]}},
    {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": 5, "data": {}}},
    {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": f"user.portfolio.btc", "data": [1]}},
]


class Malformed(HostileVenue):
    async def after_ready(self, conn: Conn) -> None:
        if conn is self.connections[0]:
            for msg in BAD_MESSAGES:
                await conn.send(msg)
            await conn.send({"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}})


def test_malformed_notifications_are_dropped_not_the_connection() -> None:
    async def body(hv: HostileVenue, engine: Any, session: DeribitSession) -> None:
        await wait_for(lambda: hv.count("public/test") >= 1, 30, "the test_request after the bad messages")
        await wait_for(lambda: engine.bad_messages >= 5, 30, "the bad messages counted")
        assert len(hv.connections) == 1 and session.ready.is_set()
        assert engine.positions.positions[NAME].size == 0

    result = trade(Malformed(), body)
    assert result.counters["reconnects"] == 0 and result.counters["bad_messages"] >= 5
    book = result.as_dict()["books"][NAME]  # --json carries the final book
    assert book["valid"] and book["best_bid"] == 59_999.5 and book["best_ask"] == 60_000.5


class KillsEveryConnection(HostileVenue):
    """Every connection gets a reserved-opcode frame right after it subscribed (a protocol error)."""

    async def after_ready(self, conn: Conn) -> None:
        await asyncio.sleep(0.05)
        conn.ws.transport.write(bytes([0x83, 0]))  # opcode 3 is reserved: the engine drops the connection


def test_backoff_grows_when_every_connection_dies_on_a_bad_message() -> None:
    async def body(hv: HostileVenue, engine: Any, session: DeribitSession) -> None:
        await wait_for(lambda: len(hv.connections) >= 7, 60, "7 connections")

    hv = KillsEveryConnection()
    trade(hv, body, session={"reconnect_min_ms": 50, "reconnect_max_ms": 5000})
    starts = [c.started for c in hv.connections[:7]]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    # delays 50 ms * 2^k * U(0.5, 1): the late gaps are several times the early ones (jitter cannot undo that)
    assert gaps[4] + gaps[5] > 3 * (gaps[0] + gaps[1]), gaps


# --- 5. fills that are not ours --------------------------------------------------------------------------------

class PhantomFills(HostileVenue):
    """user.trades that must not count: unknown label, negative amount, 50x the order's amount, wrong side."""

    async def after_ready(self, conn: Conn) -> None:
        o = await self.first_resting_order(conn)
        if o is None:
            return
        base = {"instrument_name": NAME, "price": o["price"], "direction": o["direction"], "fee": 0.0,
                "order_id": o["order_id"], "label": o["label"], "timestamp": 1}
        trades = [dict(base, trade_id="p1", label="someone-else-7", order_id="OTHER-1", amount=6000.0),
                  dict(base, trade_id="p2", label="", order_id="", amount=6000.0),
                  dict(base, trade_id="p3", amount=-10.0),
                  dict(base, trade_id="p4", amount=o["amount"] * 50),
                  dict(base, trade_id="p5", direction="sell" if o["direction"] == "buy" else "buy",
                       amount=o["amount"])]
        await self.notify(conn, f"user.trades.{NAME}.raw", trades)
        self.sent_phantoms = True


def test_fills_not_ours_or_too_large_are_refused() -> None:
    async def body(hv: HostileVenue, engine: Any, session: DeribitSession) -> None:
        await wait_for(lambda: getattr(hv, "sent_phantoms", False), 30, "the phantom fills")
        await wait_for(lambda: engine.refused_fills + engine.bad_messages >= 5, 30, "5 refusals")
        assert engine.positions.positions[NAME].size == 0
        assert engine.refused_fills >= 4  # p1, p2, p4, p5 (p3's negative amount is malformed)
        assert "breach" not in engine.kill_reasons

    result = trade(PhantomFills(), body)
    assert result.positions[NAME]["size"] == 0 and result.kill_reasons == []


class OwnFill(HostileVenue):
    """One real fill of our resting order (its label, its amount): it must count."""

    async def after_ready(self, conn: Conn) -> None:
        o = await self.first_resting_order(conn)
        if o is None:
            return
        self.position += o["amount"] if o["direction"] == "buy" else -o["amount"]
        trade = {"instrument_name": NAME, "price": o["price"], "direction": o["direction"], "fee": 0.0,
                 "order_id": o["order_id"], "label": o["label"], "trade_id": "real-1", "amount": o["amount"]}
        o["order_state"], o["filled_amount"] = "filled", o["amount"]
        await self.notify(conn, f"user.trades.{NAME}.raw", [trade])
        self.filled = o


def test_our_own_fill_still_counts() -> None:
    async def body(hv: HostileVenue, engine: Any, session: DeribitSession) -> None:
        await wait_for(lambda: getattr(hv, "filled", None) is not None, 30, "the fill")
        size = hv.filled["amount"] * (1 if hv.filled["direction"] == "buy" else -1)
        await wait_for(lambda: engine.positions.positions[NAME].size == size, 30, "the fill applied")
        assert engine.refused_fills == 0

    trade(OwnFill(), body)


# --- 6. impossible book data -----------------------------------------------------------------------------------

class ImpossibleBook(HostileVenue):
    """Once quoting: a book change with an impossible value (chosen by the test); the first resubscribe is
    answered with an empty channel list (a failed resync that must be retried)."""

    def __init__(self, bad: dict) -> None:
        super().__init__()
        self.bad = bad
        self.sent_bad = False

    def book_data(self, conn: Conn) -> dict:
        data = super().book_data(conn)
        if not self.sent_bad and self.open_orders() and len(self.connections) == 1:
            self.sent_bad = True
            data.update(self.bad)
        return data

    def answer(self, conn: Conn, method: str, params: dict, rid: Any) -> dict | None:
        if method == "private/subscribe" and self.count("private/subscribe") == 2:
            return self.result(rid, [])
        return super().answer(conn, method, params, rid)


@pytest.mark.parametrize("bad", [
    {"bids": [["change", 0.0, 10.0]]},  # price 0
    {"bids": [["new", 5e15, 10.0]]},  # absurd price
    {"bids": [["change", 59_999.5, -10.0]]},  # negative amount
    {"change_id": 19, "prev_change_id": None},  # change_id going backwards (prev filled in below)
], ids=["price0", "absurd", "negative", "backwards"])
def test_impossible_book_data_resyncs_and_cancels_quotes(bad: dict) -> None:
    hv = ImpossibleBook(bad)
    if "prev_change_id" in bad:
        def book_data(conn: Conn, _orig=hv.book_data) -> dict:  # backwards: change_id below the chain
            data = HostileVenue.book_data(hv, conn)
            if not hv.sent_bad and hv.open_orders() and len(hv.connections) == 1:
                hv.sent_bad = True
                data["prev_change_id"] = conn.change_id - 1
                data["change_id"] = conn.change_id - 500
                conn.change_id -= 500
            return data
        hv.book_data = book_data  # type: ignore[method-assign]

    async def body(hv: HostileVenue, engine: Any, session: DeribitSession) -> None:
        await wait_for(lambda: hv.sent_bad, 30, "the impossible message")
        await wait_for(lambda: hv.count("private/subscribe") >= 3, 30, "a retried resubscribe")
        assert hv.count("private/cancel") >= 1, "quotes must be cancelled while the book is broken"
        await wait_for(lambda: bool(engine.books.state[0]["valid"]), 30, "a valid book again")
        st = engine.books.state[0]
        # refused by the book (errors) or, when the decoder already refused the message, by the chain (gaps)
        assert st["n_errors"] + st["n_gaps"] >= 1
        assert all(0 < p < 200_000 for side in (0, 1) for p, _ in engine.books.levels(0, side))
        assert all(q > 0 for side in (0, 1) for _, q in engine.books.levels(0, side))

    trade(hv, body)


# --- 7. order not found after a reconnect ----------------------------------------------------------------------

class ForgetsOrders(HostileVenue):
    """The first connection drops after quoting; the venue then knows none of the old orders (10004) and does
    not list them (cancel-on-disconnect is off, so only the query can tell)."""

    cancel_on_disconnect = False

    async def after_ready(self, conn: Conn) -> None:
        if conn is self.connections[0]:
            await wait_for(lambda: self.open_orders(), 30, "a resting order")
            self.forgotten = {o["order_id"] for o in self.open_orders()}
            self.orders.clear()
            self.quotes_before = self.count("private/buy") + self.count("private/sell")
            await conn.ws.close()


def test_order_not_found_after_reconnect_is_finished_and_requoted() -> None:
    async def body(hv: HostileVenue, engine: Any, session: DeribitSession) -> None:
        await wait_for(lambda: len(hv.connections) >= 2 and session.ready.is_set(), 30, "the reconnect")
        await wait_for(lambda: hv.count("private/get_order_state") >= 1, 30, "the order state query")
        await wait_for(quoting_again(hv, hv.quotes_before), 30, "a new quote")
        assert engine.live_order_count() <= 2

    trade(ForgetsOrders(), body, session={"cancel_on_disconnect": False})


# --- 9. the venue's error text ---------------------------------------------------------------------------------

class RefusesKeys(HostileVenue):
    def answer(self, conn: Conn, method: str, params: dict, rid: Any) -> dict | None:
        if method == "public/auth":
            return self.error(rid, 13004, "invalid_credentials: key revoked by the hostile venue")
        return super().answer(conn, method, params, rid)


def test_13004_keeps_the_venue_text() -> None:
    async def main() -> None:
        hv = RefusesKeys()
        venue = await hv.start()
        from tickwire.engine.engine import Engine, Instrument
        from tickwire.engine.strategies.market_maker import MarketMaker

        engine = Engine(load(None), [Instrument(INSTRUMENT)], MarketMaker, "twh-")
        session = _session(venue, engine)
        engine.session = session
        session.start()
        try:
            with pytest.raises(VenueError, match="13004 invalid_credentials: key revoked by the hostile venue"):
                await session.wait_ready(30.0)
        finally:
            await session.stop()
            await hv.close()

    asyncio.run(main())
