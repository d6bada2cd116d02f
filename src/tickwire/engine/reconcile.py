"""The engine's reconciliation with the venue: after every (re)connect, periodically, and for late answers.

- ``on_ready``: open orders, the trade history and positions are read back so that no order is lost or
  duplicated; an order the venue no longer knows (10004 order_not_found) is finished in our table, so the
  strategy quotes again.
- every ``position_poll_ms``: private/get_positions (a size that differs twice in a row is adopted), request
  timeouts (resolved with private/get_order_state, never resent), Python-tier timers, masking keys.
- a book that broke (change_id gap or refused data): the instrument's resting quotes are cancelled, the book
  channel is resubscribed and the fresh snapshot awaited; a failed attempt is retried with backoff, and after
  ``RESYNC_ATTEMPTS`` the connection is dropped (a reconnect subscribes everything afresh).

Every venue answer is validated first (:mod:`tickwire.engine.venue_check`). A background task that dies on an
unexpected exception is recorded in ``failure`` (the run's supervisor fails the run with it, never exit 0).
Used as a mixin of :class:`tickwire.engine.engine.Engine`.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np

from tickwire.clock import monotonic_ns
from tickwire.deribit.errors import ORDER_NOT_FOUND
from tickwire.deribit.session import DeribitSession, MalformedAnswer, SessionClosed, VenueError
from tickwire.engine import orders as om
from tickwire.engine import venue_check as vc
from tickwire.engine.probes import RTT_POSITION
from tickwire.engine.strategy import cancel
from tickwire.native import lib
from tickwire.types import (
    C_DUPLICATES, C_POSITION_FIXES, C_RECONNECTS, C_TIMEOUTS, ORD_OPEN, ORD_PARTIALLY_FILLED, ORD_PENDING_CANCEL,
    ORD_PENDING_NEW,
)

log = logging.getLogger("tickwire.engine")

VENUE_TROUBLE = (VenueError, SessionClosed, asyncio.TimeoutError)  # MalformedAnswer is a VenueError
RESYNC_ATTEMPTS = 3


class Reconciler:
    """Mixin: reconciliation, timeouts, resyncs and the supervised background tasks of the engine."""

    def _init_reconcile(self) -> None:
        self._mismatch: dict[str, float] = {}
        self._queries: set[int] = set()  # cids with a state query in flight
        self._resyncing: set[int] = set()  # instruments with a resync in flight
        self._tasks: list[asyncio.Task[Any]] = []
        self.failure: BaseException | None = None  # the first background task that died
        self.failed = asyncio.Event()

    # --- SessionHandler ---
    async def on_ready(self, session: DeribitSession) -> None:
        """(Re)connected and subscribed: reconcile orders, fills and positions with the venue."""
        self.session = session
        reconnect = self.counters[C_RECONNECTS] > 0
        await self._reconcile_orders(reconnect)
        await self._poll_positions(force=True)
        self._refresh_exposure()
        self._rearm_after_disconnect()

    async def _venue_list(self, method: str, params: dict, key: str | None = None, on_sent: Any = None) -> list:
        """A request whose result is a list (or an object holding the list at ``key``), validated. ``on_sent`` gets
        the request's JSON-RPC id when it leaves (to find it in a capture)."""
        assert self.session is not None
        result = await self.session.request(method, params, on_sent=on_sent)
        if key is not None and result is not None:
            result = result.get(key) if isinstance(result, dict) else False
        if result is None:
            return []
        if not isinstance(result, list):
            raise MalformedAnswer(method, f"result is a {type(result).__name__}, not a list")
        return result

    async def _reconcile_orders(self, reconnect: bool) -> None:
        venue: dict[int, dict] = {}
        for name in self.instruments:
            for order in await self._venue_list("private/get_open_orders_by_instrument", {"instrument_name": name}):
                cid = self._cid_of(order.get("label")) if isinstance(order, dict) else -1
                if cid >= 0:
                    if cid in venue:
                        self.counters[C_DUPLICATES] += 1
                    venue[cid] = order
            self._apply_trades(await self._venue_list("private/get_user_trades_by_instrument",
                                                      {"instrument_name": name, "count": 1000, "sorting": "desc"},
                                                      key="trades"))
        for order in venue.values():
            self._apply_order(order)
        for slot in np.flatnonzero([om.is_live(s) for s in self.orders["state"]]):
            o = self.orders[slot]
            cid = int(o["cid"])
            if cid in venue:
                continue
            if o["oid_len"]:
                await self._query_order(cid)
            elif reconnect and self.cfg.session.cancel_on_disconnect:
                # never acknowledged, not open on the venue: its request died with the old connection, or
                # cancel-on-disconnect removed it; fills (if any) were applied from the trade history above
                self._finish(int(slot))
        self._refresh_exposure()

    def _finish(self, slot: int) -> None:
        """The venue does not have this order (any more): cancelled in our table, fills as we know them."""
        o = self.orders[slot]
        om.apply_venue(self.orders, slot, om.V_CANCELLED, int(o["filled"]), int(o["last_ts"]) + 1)
        om.retire(self.acct, slot)
        self._notify(slot)

    async def _query_order(self, cid: int) -> None:
        """Resolve an order whose answer is late or was refused: private/get_order_state, never a resend."""
        slot = self._slot_of(cid)
        if slot < 0 or cid in self._queries or self.session is None:
            return
        o = self.orders[slot]
        self._queries.add(cid)
        try:
            if o["oid_len"]:
                order = await self.session.request("private/get_order_state",
                                                   {"order_id": bytes(o["oid"][: o["oid_len"]]).decode()})
                self._apply_order(order, cid)
            else:
                name = self.instruments[int(o["inst"])]
                for order in await self._venue_list("private/get_open_orders_by_instrument",
                                                    {"instrument_name": name}):
                    if isinstance(order, dict) and self._cid_of(order.get("label")) == cid:
                        self._apply_order(order)
        except VenueError as exc:
            if exc.code == ORDER_NOT_FOUND and self._slot_of(cid) == slot and om.is_live(int(o["state"])):
                log.info("order %s%d is not known to the venue: finished", self.label, cid)
                self._finish(slot)
            else:
                log.info("order state query for %s%d failed: %s", self.label, cid, exc)
        except (SessionClosed, asyncio.TimeoutError) as exc:
            log.info("order state query for %s%d failed: %s", self.label, cid, type(exc).__name__)
        finally:
            self._queries.discard(cid)
            self._refresh_exposure()

    # --- book resync ---
    def _start_resync(self, inst: int) -> None:
        """A book broke: cancel its resting quotes now, then resubscribe (one resync per instrument at a time)."""
        resting = [int(o["cid"]) for o in self.orders if int(o["inst"]) == inst
                   and int(o["state"]) in (ORD_OPEN, ORD_PARTIALLY_FILLED)]
        if resting:
            self.submit([cancel(cid) for cid in resting])
        if inst not in self._resyncing:
            self._resyncing.add(inst)
            self._spawn(self._resync(inst))

    async def _resync(self, inst: int) -> None:
        """Resubscribe the book channel until a fresh snapshot makes the book valid again."""
        channel = f"book.{self.instruments[inst]}.{self.cfg.session.book_interval}"
        wait_s = self.cfg.session.request_timeout_ms / 1e3
        try:
            for attempt in range(RESYNC_ATTEMPTS):
                session = self.session
                if session is None or not session.connected.is_set():
                    return  # the reconnect subscribes afresh
                if not session.ready.is_set():  # the book broke while the session was still reconciling
                    try:
                        await asyncio.wait_for(session.ready.wait(), 4 * wait_s)
                    except asyncio.TimeoutError:
                        return
                log.info("book %s broke: resubscribing (attempt %d)", channel, attempt + 1)
                try:
                    await session.request("private/unsubscribe", {"channels": [channel]})
                    got = await session.request("private/subscribe", {"channels": [channel]})
                    if not isinstance(got, list) or channel not in got:
                        raise MalformedAnswer("private/subscribe", f"{channel} not in the answer")
                    if await self._book_valid_within(inst, wait_s):
                        return
                    log.warning("no valid snapshot of %s within %gs", channel, wait_s)
                except VENUE_TROUBLE as exc:
                    log.warning("resync of %s failed: %s", channel, exc or type(exc).__name__)
                await asyncio.sleep(wait_s * 2 ** attempt / 4)
            if self.session is not None and self.session.ready.is_set():
                log.warning("book %s still broken after %d resyncs: reconnecting", channel, RESYNC_ATTEMPTS)
                self.session.drop_connection()
        finally:
            self._resyncing.discard(inst)

    async def _book_valid_within(self, inst: int, timeout_s: float) -> bool:
        deadline = monotonic_ns() + int(timeout_s * 1e9)
        while monotonic_ns() < deadline:
            if self.books.state[inst]["valid"]:
                return True
            await asyncio.sleep(0.01)
        return bool(self.books.state[inst]["valid"])

    # --- periodic work ---
    async def _poll_positions(self, force: bool = False) -> None:
        assert self.session is not None
        for ccy in sorted({i.currency for i in self.inst}):
            start = int(lib.tw_rdtsc())
            sent: list[int] = []
            venue = await self._venue_list("private/get_positions", {"currency": ccy, "kind": "future"},
                                           on_sent=sent.append)
            self.probes.add_rtt(RTT_POSITION, start, self._read_tsc, sent[-1] if sent else 0)
            checked = [vc.position(p) for p in venue]
            if None in checked:
                raise MalformedAnswer("private/get_positions", f"{str(venue)[:120]!r}")
            self._reconcile_positions(checked, force)

    def _reconcile_positions(self, venue: list[tuple[str, float, float]], force: bool) -> None:
        """Adopt the venue's size when it differs twice in a row with the same value (a fill may be in flight)."""
        mismatched = {}
        for name, size, _ in venue:
            mine = self.positions.positions.get(name)
            if mine is not None and abs(mine.size - size) > 1e-9:
                mismatched[name] = size
        confirmed = [{"instrument_name": name, "size": size, "average_price": avg} for name, size, avg in venue
                     if name in mismatched and (force or self._mismatch.get(name) == mismatched[name])]
        if confirmed:
            fixed = self.positions.reconcile(confirmed, in_flight=False)
            self.counters[C_POSITION_FIXES] += len(fixed)
            self._refresh_exposure()
        done = {p["instrument_name"] for p in confirmed}
        self._mismatch = {k: v for k, v in mismatched.items() if k not in done}

    def _check_timeouts(self) -> None:
        timeout_ticks = self.cfg.session.request_timeout_ms * 1e-3 * self.probes.tsc_hz
        now = int(lib.tw_rdtsc())
        for slot in np.flatnonzero(np.isin(self.orders["state"], (ORD_PENDING_NEW, ORD_PENDING_CANCEL))):
            o = self.orders[slot]
            waiting = o["state"] == ORD_PENDING_NEW and o["ack_tsc"] == 0 or o["state"] == ORD_PENDING_CANCEL
            if waiting and now - int(o["sent_tsc"]) > timeout_ticks and int(o["cid"]) not in self._queries:
                self.counters[C_TIMEOUTS] += 1
                o["sent_tsc"] = now  # next check one timeout later
                self._spawn(self._query_order(int(o["cid"])))

    async def run_timers(self) -> None:
        """Position polling, timeouts, Python-tier timers and masking-key refresh, until cancelled. A venue that
        answers badly or not at all is logged and polled again; any other exception ends the task (and the
        supervisor fails the run with it)."""
        period = self.cfg.position_poll_ms / 1e3
        next_timer = 0
        while True:
            await asyncio.sleep(period)
            if self.session is None or not self.session.ready.is_set():
                continue
            try:
                await self._poll_positions()
            except VENUE_TROUBLE as exc:
                log.info("position poll failed: %s", exc or type(exc).__name__)
            self._check_timeouts()
            self._check_binlog()
            self.op.refill_keys()
            self._flush(*self.hot.timers(self._direct_fd()))
            now = monotonic_ns()
            if self.py_strategy is not None and self.py_strategy.timer_ms and now >= next_timer:
                next_timer = now + self.py_strategy.timer_ms * 1_000_000
                self.submit(self.py_strategy.on_timer(now))

    def _check_binlog(self) -> None:
        """A dead log writer means the engine runs unobserved: stop quoting and say why (once)."""
        if self.binlog is not None and "binlog writer died" not in self.kill_reasons and not self.binlog.alive():
            self.kill(f"binlog writer died: exit code {self.binlog.process.exitcode}, "
                      f"{self.binlog.dropped()} record(s) refused")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            self.record_failure(task.exception())

    def record_failure(self, exc: BaseException) -> None:
        """A background task died: remember the first cause and wake the supervisor."""
        log.error("engine task died: %r", exc)
        if self.failure is None:
            self.failure = exc
        self.failed.set()


__all__ = ["Reconciler", "VENUE_TROUBLE"]
