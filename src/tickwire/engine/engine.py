"""The engine: the async driver around the compiled hot pass, plus the slow-path state keeping.

Per socket read (:meth:`Engine.on_bytes`) one compiled call (tickwire.engine.hotpath): deframe (netstack.ws),
decode (netstack.deribit_json), book, numba strategy, risk, encode, send. Order answers arrive as decoded
records; what the compiled decoder does not take (user.orders, user.trades, portfolio, slow-path answers,
heartbeats) is handled here with orjson.

Slow-path duties live in two mixins: :mod:`tickwire.engine.answers` (order answers and notifications drive the
order state machine, validated fills drive positions) and :mod:`tickwire.engine.reconcile` (reconciliation after
a reconnect, position polling, request timeouts, book resyncs, supervised background tasks). A malformed venue
message is counted and dropped (``bad_messages``), never a reason to drop the connection.
The kill switch (breach, disconnect, signal, CLI) stops new orders and sends private/cancel_all.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np
import orjson

from tickwire.clock import monotonic_ns
from tickwire.config import EngineConfig
from tickwire.engine import risk
from tickwire.deribit import credits
from tickwire.engine import orders as om
from tickwire.engine.answers import OrderAnswers
from tickwire.engine.reconcile import VENUE_TROUBLE, Reconciler
from tickwire.md.book import Books, book_clear, book_top
from tickwire.engine.hotpath import HotPass, HotState, new_order_path, new_receive, no_strategy
from tickwire.engine.positions import PositionBook
from tickwire.engine.pool import pool_stats
from tickwire.engine.binlog import BinLogWriter, binlog_stages
from tickwire.engine.probes import Probes, stamp_kernel_rx
from tickwire.deribit.session import DeribitSession, SessionClosed, ignore_result
from tickwire.engine.strategy import BookView, NumbaStrategy, OrderView, Strategy, new_market, write_actions
from tickwire.native import lib
from tickwire.deribit.instruments import InstrumentTable
from tickwire.netstack import ws
from tickwire.types import (
    BOOK_NO_PRICE, C_KILLS, C_RECONNECTS, COUNTER_NAMES, EV_TICKER, EV_TRADE, EVF_LAST, N_COUNTERS,
)

# what a malformed venue message can raise in slow-path code that validation missed: the message is dropped
MESSAGE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError, UnicodeError)

log = logging.getLogger("tickwire.engine")



class Instrument:
    """What the engine needs of one instrument (from public/get_instruments)."""

    def __init__(self, info: dict) -> None:
        self.name: str = info["instrument_name"]
        self.tick_size = float(info["tick_size"])
        self.lot_size = float(info["min_trade_amount"])
        self.settlement = str(info.get("settlement_currency") or info.get("base_currency") or "BTC")
        self.currency = str(info.get("base_currency") or self.settlement)


class Engine(OrderAnswers, Reconciler):
    """One engine: books, orders, positions, risk, a strategy, probes; driven by a DeribitSession."""

    def __init__(self, cfg: EngineConfig, instruments: list[Instrument], strategy_cls: type,
                 label_prefix: str, probe_capacity: int = 1 << 16, order_capacity: int = 1024) -> None:
        self.cfg = cfg
        self.instruments = tuple(i.name for i in instruments)
        self.inst = instruments
        self.index = {name: k for k, name in enumerate(self.instruments)}
        n = len(instruments)
        self.label = label_prefix
        self.books = Books(n)
        self.insts = InstrumentTable(capacity=max(1, n), defaults=False)
        for i in instruments:  # codec slot == engine instrument index; exact decimal tick and lot sizes
            self.insts.add(i.name, repr(i.tick_size), repr(i.lot_size))
        t = self.insts.active
        meta = np.stack([t["tick_num"], t["tick_scale"], t["lot_num"], t["lot_scale"]], axis=1).astype(np.int64)
        # the records of the compiled pass (tickwire.engine.hotpath.HotState); the slow path uses the same arrays
        self.recv = new_receive(t)
        self.mkt = new_market(self.books)
        self.acct = om.new_account(n, order_capacity)
        self.op = new_order_path(list(self.instruments), meta, label_prefix)
        self.risk = risk.new_risk(cfg.risk, cfg.credits, [i.lot_size for i in instruments], monotonic_ns())
        self.counters = np.zeros(N_COUNTERS, np.int64)
        self.probes = Probes(probe_capacity)
        self.ws_st, self.rx, self.spans, self.ctrl, _, self.events, self.resps, self.fb = self.recv
        self.orders, self.expo = self.acct.orders, self.acct.expo
        self.limits, self.rstate, self.cstate = self.risk
        self.bid, self.ask, self.touched = self.mkt.bid, self.mkt.ask, self.mkt.touched
        self.act = self.op.act
        self.positions = PositionBook(self.instruments)
        self.portfolio: dict[str, Any] = {}
        self._empty = np.frombuffer(b"", np.uint8)
        self.kill_reasons: set[str] = set()
        self.session: DeribitSession | None = None
        self._read_tsc = 0
        self._init_answers(order_capacity)
        self._init_reconcile()
        self.strategy = strategy_cls(self, **dict(cfg.strategy_params))
        if isinstance(self.strategy, NumbaStrategy):
            kernel, self.params = type(self.strategy).kernel, self.strategy.params_array()
        else:
            kernel, self.params = no_strategy, np.zeros(1)
        self.kernel = kernel
        self.hot = HotPass(HotState(self.recv, self.mkt, self.acct, self.op, self.risk, self.probes.rings,
                                    self.counters, self.params), kernel)
        self.multicast = cfg.md.startswith("multicast")  # books come from a multicast feed (attach_md), not book.*
        self.py_strategy = self.strategy if isinstance(self.strategy, Strategy) else None
        self.binlog: BinLogWriter | None = None  # set to log every pass's stage stamps (binary, formatted elsewhere)

    def warm_up(self) -> None:
        """Compile the hot pass and the order path now (numba compiles on first call), not on the first read."""
        self.on_bytes(b"", 0)
        self.on_md_events(self.events[:0])
        self.submit(())
        self.hot.send(0, -1)
        # the slow path's kernels too: a first call loads (or compiles) them, which must not stall a live session
        scratch = om.new_order_table(2)
        om.apply_venue(scratch, 0, om.V_OPEN, 0, 0)
        om.apply_local(scratch, 0, om.L_CANCEL_SENT)
        om.retire(self.acct, 0)  # slot 0 is free: nothing to give back, but the kernel is loaded
        om.count_live(scratch)
        book_top(self.books.px, self.books.qty, self.books.state, 0)
        risk.recompute_exposure(scratch, self.rstate.copy(), self.expo.copy())
        buckets = self.cstate.copy()
        credits.wait_ns(buckets, credits.NON_MATCHING, monotonic_ns())
        credits.take(buckets, credits.NON_MATCHING, monotonic_ns())
        self.probes.reset()

    # --- strategy Context ---
    def tick_size(self, inst: int) -> float:
        return self.inst[inst].tick_size

    def lot_size(self, inst: int) -> float:
        return self.inst[inst].lot_size

    def position(self, inst: int) -> int:
        return int(self.expo[inst]["position"])

    def live_orders(self, inst: int) -> list[OrderView]:
        return [self._view(o) for o in self.orders if om.is_live(o["state"]) and o["inst"] == inst]

    @staticmethod
    def _view(o: np.void) -> OrderView:
        return OrderView(int(o["cid"]), int(o["inst"]), int(o["side"]), int(o["state"]), int(o["price"]),
                         int(o["amount"]), int(o["filled"]))

    # --- channels ---
    def channels(self) -> list[str]:
        iv = self.cfg.session.book_interval
        chans = []
        for name in self.instruments:
            chans += [] if self.multicast else [f"book.{name}.{iv}"]
            chans += [f"trades.{name}.{iv}", f"ticker.{name}.100ms",
                      f"user.orders.{name}.raw", f"user.trades.{name}.raw"]
        for ccy in sorted({i.currency.lower() for i in self.inst}):
            chans.append(f"user.portfolio.{ccy}")
        return chans

    # --- hot path entry: every socket read ---
    def on_bytes(self, data: bytes, tsc: int) -> None:
        """One socket read: the compiled pass, then the slow path for what it left (answers, user channels)."""
        self._read_tsc = tsc
        buf = np.frombuffer(data, np.uint8)
        transport = self.session.transport if self.session is not None else None
        fd = transport.direct_fd if transport is not None and transport.can_send_direct() else -1
        first_pass = self.probes.passes
        while True:
            ns, n_resp, n_fb, tx_len, sent = self.compiled_pass(buf, tsc, fd)
            self.after_pass(ns, n_resp, n_fb, tx_len, sent)
            if ns < self.spans.shape[0]:
                break
            buf = self._empty
        if transport is not None and transport.last_rx_tsc:
            stamp_kernel_rx(self.probes.stages, self.probes.count, first_pass, transport.last_rx_tsc)
        if ns < 0 or self.ws_st[ws.S_PHASE] == ws.PH_CLOSED:
            log.warning("websocket stream closed or broken (%s): reconnecting",
                        ws.ERR_NAMES[int(self.ws_st[ws.S_ERR])])
            if self.session is not None:
                self.session.drop_connection()

    def after_pass(self, ns: int, n_resp: int, n_fb: int, tx_len: int, sent: int, read_tsc: int = 0) -> None:
        """The slow-path part of one compiled pass (either driver): send what it could not, then the order
        answers and messages it handed over (a malformed one is counted and dropped), then the changed books it
        leaves to Python. ``read_tsc``: when the bytes were read (answers' round trips end there), if not already
        set by :meth:`on_bytes`."""
        if read_tsc:
            self._read_tsc = read_tsc
        self._flush(tx_len, sent)
        if self.binlog is not None:
            binlog_stages(self.binlog.words, self.binlog.rec, self.probes.stages, self.probes.passes)
        for k in range(n_resp):
            try:
                self._on_resp(self.resps[k], ns)
            except MESSAGE_ERRORS as exc:
                self._malformed(f"answer {int(self.resps[k]['req_id'])}: {type(exc).__name__}: {exc}")
        for k in range(n_fb):
            try:
                self._on_fallback(int(self.fb[k, 0]))
            except MESSAGE_ERRORS as exc:
                self._malformed(f"{type(exc).__name__}: {exc}")
        self._market_events(self.events[:self.mkt.clock[1]])
        if self.touched.any():
            self._after_books()

    def on_md_events(self, events: np.ndarray) -> None:
        """One batch of the multicast feed (book events already applied to ``self.books``): the compiled
        decide part of the hot pass (strategy, risk, encode, send) for the touched instruments. Until the
        session is ready (multicast flows before it and during a reconnect) only the books are kept."""
        if events.shape[0] and (self.session is None or not self.session.ready.is_set()):
            return
        tsc = int(lib.tw_rdtsc())
        transport = self.session.transport if self.session is not None else None
        fd = transport.direct_fd if transport is not None and transport.can_send_direct() else -1
        tx_len, sent = self.hot.applied(events, tsc, fd)
        self._flush(tx_len, sent)
        self._market_events(events)
        if self.touched.any():
            self._after_books()

    def compiled_pass(self, buf: np.ndarray, tsc: int, fd: int) -> tuple[int, int, int, int, int]:
        """The compiled pass over one read (``buf``: C-contiguous uint8; see hotpath.build_hot_pass);
        ``op.tx[:tx_len]`` holds its frames."""
        return self.hot.read(buf, tsc, fd)

    def messages_received(self) -> int:
        """Complete WebSocket messages and control frames taken on this connection (the session's liveness)."""
        return int(self.ws_st[ws.S_MSGS] + self.ws_st[ws.S_CTRL_FRAMES])

    def _on_fallback(self, span: int) -> None:
        src, off, ln, opcode = (int(x) for x in self.spans[span])
        if opcode == ws.OP_PING and self.session is not None and self.session.transport is not None:
            self.session.transport.send_frame(ws.OP_PONG, (self.rx if src == ws.SRC_RX else self.ctrl)[off:off + ln])
            return
        if opcode != ws.OP_TEXT:
            return
        msg = self._span_json(src, off, ln)
        if msg is None:
            log.warning("venue sent a message that is not JSON (%d bytes): ignored", ln)
        elif isinstance(msg, dict):
            self._on_json(msg)

    def _span_json(self, src: int, off: int, ln: int) -> Any:
        """The JSON value of one deframed message (valid until the next read), None when it is not JSON."""
        area = self.rx if src == ws.SRC_RX else self.ctrl
        try:
            return orjson.loads(area[off:off + ln].tobytes())
        except orjson.JSONDecodeError:
            return None

    def _direct_fd(self) -> int:
        """The socket the compiled path may write to itself, or -1 (the transport writes)."""
        transport = self.session.transport if self.session is not None else None
        return transport.direct_fd if transport is not None and transport.can_send_direct() else -1

    def _flush(self, tx_len: int, sent: int) -> None:
        """Whatever the compiled path framed but could not write directly goes through the transport."""
        if tx_len <= 0:
            return
        done = max(0, sent)
        if done < tx_len and self.session is not None and self.session.transport is not None:
            self.session.transport.write_raw(self.op.tx[done:tx_len].tobytes())

    def _market_events(self, events: np.ndarray) -> None:
        """The Python tier's on_trade / on_ticker for every trade and ticker the compiled decoder produced."""
        if self.py_strategy is None or events.shape[0] == 0:
            return
        for k in np.flatnonzero((events["kind"] == EV_TRADE) | (events["kind"] == EV_TICKER)):
            ev = events[k]
            inst = int(ev["inst"])
            if not 0 <= inst < len(self.instruments):
                continue
            if ev["kind"] == EV_TRADE:
                self.submit(self.py_strategy.on_trade(inst, int(ev["side"]), int(ev["price"]), int(ev["amount"])))
            elif ev["flags"] & EVF_LAST and k > 0 and events[k - 1]["kind"] == EV_TICKER:
                bid = events[k - 1]
                self.submit(self.py_strategy.on_ticker(inst, int(bid["price"]), int(bid["amount"]),
                                                       int(ev["price"]), int(ev["amount"])))
        self.mkt.clock[1] = 0

    def _after_books(self) -> None:
        for inst in np.flatnonzero(self.touched):
            if self.touched[inst] == 2:
                self._start_resync(int(inst))
            elif self.py_strategy is not None:
                bp, bq, ap, aq = book_top(self.books.px, self.books.qty, self.books.state, inst)
                st = self.books.state[inst]
                view = BookView(int(inst), bool(st["valid"]) and bp != BOOK_NO_PRICE and ap != BOOK_NO_PRICE,
                                int(bp), int(bq), int(ap), int(aq), int(st["last_change_id"]))
                self.submit(self.py_strategy.on_book(int(inst), view))
        self.touched[:] = 0

    def submit(self, actions: Any) -> int:
        """Send Python-tier actions through the same risk check and order path as the compiled tier; returns
        the bytes framed (``op.tx[:n]``)."""
        n = write_actions(actions, self.act)
        if n == 0:
            return 0
        transport = self.session.transport if self.session is not None else None
        fd = transport.direct_fd if transport is not None and transport.can_send_direct() else -1
        tx_len, sent = self.hot.send(n, fd)
        self._flush(tx_len, sent)
        return tx_len

    def _refresh_exposure(self) -> None:
        risk.recompute_exposure(self.orders, self.rstate, self.expo)
        for k, i in enumerate(self.inst):
            lots = round(self.positions.positions[i.name].size / i.lot_size)
            self.expo[k]["position"] = lots
            if abs(lots) > self.limits[k]["max_position_lots"] and "breach" not in self.kill_reasons:
                self.kill(f"breach: {i.name} position {lots} lots over the limit")

    # --- kill switch ---
    def kill(self, reason: str) -> None:
        """Stop quoting and cancel every order (breach, disconnect, signal, CLI)."""
        first = not self.kill_reasons
        self.kill_reasons.add(reason.split(":")[0])
        risk.kill(self.rstate)
        self.counters[C_KILLS] += 1
        (log.info if reason == "shutdown" else log.warning)("kill switch: %s", reason)
        if first and self.session is not None and self.session.ready.is_set():
            try:
                self.session.send_request("private/cancel_all", {}).add_done_callback(ignore_result)
            except SessionClosed:
                pass  # cancel-on-disconnect cancels them

    def _rearm_after_disconnect(self) -> None:
        self.kill_reasons.discard("disconnect")
        if not self.kill_reasons:
            risk.rearm(self.rstate)

    # --- SessionHandler ---
    def on_lost(self, reason: str) -> None:
        self.counters[C_RECONNECTS] += 1
        self.kill(reason)
        ws.ws_init(self.ws_st, ws.PH_FRAMES, ws.MASK_NO)
        if self.multicast:
            return  # the multicast feed keeps its books through a WebSocket reconnect
        for inst in range(len(self.inst)):
            book_clear(self.books.px, self.books.qty, self.books.state, inst)
        self.bid[:] = 0
        self.ask[:] = 0

    async def shutdown(self, timeout_s: float = 2.0) -> int:
        """Stop quoting, cancel everything, wait until the venue shows no open order; returns those left."""
        self.kill("shutdown")
        left = -1
        deadline = monotonic_ns() + int(timeout_s * 1e9)
        while self.session is not None and self.session.ready.is_set() and monotonic_ns() < deadline:
            try:
                await self.session.request("private/cancel_all", {})
                left = 0
                for name in self.instruments:
                    left += len(await self.session.request("private/get_open_orders_by_instrument",
                                                           {"instrument_name": name}) or [])
            except VENUE_TROUBLE:
                left = -1
            if left == 0:
                break
            await asyncio.sleep(0.05)
        for task in list(self._tasks):
            task.cancel()
        return left

    # --- results ---
    def counter_dict(self) -> dict[str, int]:
        out = {name: int(self.counters[i]) for i, name in enumerate(COUNTER_NAMES)}
        out["bad_messages"], out["refused_fills"] = self.bad_messages, self.refused_fills
        slots = pool_stats(self.acct.slot_free, self.acct.slot_state)  # the order table's slot pool
        out["order_slots_refused"], out["order_slots_bad_releases"] = slots["refused"], slots["bad_releases"]
        if self.session is not None:
            out["liveness_drops"] = self.session.liveness_drops
            out["reconnects"] = self.session.reconnects
            out["rate_limited"] += self.session.rate_limited
        return out

    def live_order_count(self) -> int:
        return int(om.count_live(self.orders))


__all__ = ["Engine", "Instrument"]
