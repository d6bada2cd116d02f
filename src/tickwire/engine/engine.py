"""The engine: the async driver around the compiled hot pass, plus the slow-path state keeping.

Per socket read (:meth:`Engine.on_bytes`) one compiled call (tickwire.engine.hotpath): deframe (netstack.ws),
decode (netstack.deribit_json), book, numba strategy, risk, encode, send. Order answers arrive as decoded
records; what the compiled decoder does not take (user.orders, user.trades, portfolio, slow-path answers,
heartbeats) is handled here with orjson.

Slow-path duties: order answers and notifications drive the order state machine (tickwire.engine.orders);
fills drive positions; every ``position_poll_ms`` private/get_positions is reconciled; requests without an
answer in time are resolved with private/get_order_state (or the open-orders list for an order the venue has
not acknowledged yet), never resent; a change_id gap resubscribes the book channel (a fresh snapshot); after
a reconnect, open orders, fills and positions are reconciled so that no order is lost or duplicated.
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
from tickwire.md.book import Books, book_clear, book_top
from tickwire.engine.hotpath import (
    ORDER_ID_BASE, REQ_CANCEL, REQ_CANCEL_ALL, REQ_EDIT, REQ_NEW, HotPass, HotState, new_order_path, new_receive,
    no_strategy,
)
from tickwire.engine.positions import PositionBook
from tickwire.engine.probes import RTT_ORDER, RTT_POSITION, Probes
from tickwire.deribit.errors import NOT_OPEN_CODES, TOO_MANY_REQUESTS
from tickwire.deribit.session import DeribitSession, SessionClosed, VenueError, ignore_result
from tickwire.engine.strategy import BookView, NumbaStrategy, OrderView, Strategy, new_market, write_actions
from tickwire.native import lib
from tickwire.deribit.instruments import InstrumentTable
from tickwire.netstack import ws
from tickwire.types import (
    BOOK_NO_PRICE, C_DUPLICATES, C_FILLS, C_KILLS, C_POSITION_FIXES, C_RATE_LIMITED, C_RECONNECTS,
    C_REJECTS, C_TIMEOUTS, COUNTER_NAMES, N_COUNTERS, ORD_PENDING_CANCEL, ORD_PENDING_NEW, ORD_PENDING_REPLACE,
    ORDER_RESP_DTYPE, OST_NAMES, RESP_ERROR, RESP_ORDER, SIDE_BUY, SIDE_SELL,
)

log = logging.getLogger("tickwire.engine")



class Instrument:
    """What the engine needs of one instrument (from public/get_instruments)."""

    def __init__(self, info: dict) -> None:
        self.name: str = info["instrument_name"]
        self.tick_size = float(info["tick_size"])
        self.lot_size = float(info["min_trade_amount"])
        self.settlement = str(info.get("settlement_currency") or info.get("base_currency") or "BTC")
        self.currency = str(info.get("base_currency") or self.settlement)


class Engine:
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
        self.orders, self.expo = self.acct
        self.limits, self.rstate, self.cstate = self.risk
        self.bid, self.ask, self.touched = self.mkt.bid, self.mkt.ask, self.mkt.touched
        self.act = self.op.act
        self.positions = PositionBook(self.instruments)
        self.portfolio: dict[str, Any] = {}
        self._empty = np.frombuffer(b"", np.uint8)
        self.kill_reasons: set[str] = set()
        self.session: DeribitSession | None = None
        self._read_tsc = 0
        self._mismatch: dict[str, float] = {}
        self._queries: set[int] = set()  # cids with a state query in flight
        self._tasks: list[asyncio.Task[Any]] = []
        self.strategy = strategy_cls(self, **dict(cfg.strategy_params))
        if isinstance(self.strategy, NumbaStrategy):
            kernel, self.params = type(self.strategy).kernel, self.strategy.params_array()
        else:
            kernel, self.params = no_strategy, np.zeros(1)
        self.kernel = kernel
        self.hot = HotPass(HotState(self.recv, self.mkt, self.acct, self.op, self.risk, self.probes.rings,
                                    self.counters, self.params), kernel)
        self.multicast = cfg.md == "multicast"  # books come from a multicast feed (attach_md), not book.*
        self.py_strategy = self.strategy if isinstance(self.strategy, Strategy) else None

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
        while True:
            ns, n_resp, n_fb, tx_len, sent = self.compiled_pass(buf, tsc, fd)
            self.after_pass(n_resp, n_fb, tx_len, sent)
            if ns < self.spans.shape[0]:
                break
            buf = self._empty
        if ns < 0 or self.ws_st[ws.S_PHASE] == ws.PH_CLOSED:
            log.warning("websocket stream closed or broken (%s): reconnecting",
                        ws.ERR_NAMES[int(self.ws_st[ws.S_ERR])])
            if self.session is not None:
                self.session.drop_connection()

    def after_pass(self, n_resp: int, n_fb: int, tx_len: int, sent: int) -> None:
        """The slow-path part of one compiled pass (either driver): send what it could not, then the order
        answers and messages it handed over, then the changed books it leaves to Python."""
        self._flush(tx_len, sent)
        for k in range(n_resp):
            self._on_resp(self.resps[k])
        for k in range(n_fb):
            self._on_fallback(int(self.fb[k, 0]))
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
        if self.touched.any():
            self._after_books()

    def compiled_pass(self, buf: np.ndarray, tsc: int, fd: int) -> tuple[int, int, int, int, int]:
        """The compiled pass over one read (``buf``: C-contiguous uint8; see hotpath.build_hot_pass);
        ``op.tx[:tx_len]`` holds its frames."""
        return self.hot.read(buf, tsc, fd)

    def _on_fallback(self, span: int) -> None:
        src, off, ln, opcode = (int(x) for x in self.spans[span])
        if opcode == ws.OP_PING and self.session is not None and self.session.transport is not None:
            self.session.transport.send_frame(ws.OP_PONG, (self.rx if src == ws.SRC_RX else self.ctrl)[off:off + ln])
            return
        if opcode != ws.OP_TEXT:
            return
        area = self.rx if src == ws.SRC_RX else self.ctrl
        try:
            msg = orjson.loads(area[off:off + ln].tobytes())
        except orjson.JSONDecodeError:
            log.warning("venue sent a message that is not JSON (%d bytes): ignored", ln)
            return
        if isinstance(msg, dict):
            self._on_json(msg)

    def _on_resp(self, r: np.void) -> None:
        """A JSON-RPC answer the compiled decoder turned into an ORDER_RESP record."""
        rid = int(r["req_id"])
        if rid >= ORDER_ID_BASE:
            self._on_order_answer(rid, r)
            self._refresh_exposure()
            return
        if self.session is None:
            return
        if r["kind"] == RESP_ERROR:
            self.session.on_message({"id": rid, "error": {"code": int(r["err_code"]), "message": "error"}})
        else:
            self.session.on_message({"id": rid, "result": self._order_dict(r)})

    def _resp_from_json(self, rid: int, msg: dict) -> np.void:
        """An order answer the compiled decoder left to orjson, as the same ORDER_RESP record."""
        r = np.zeros(1, ORDER_RESP_DTYPE)[0]
        r["req_id"] = rid
        r["us_out"] = int(msg.get("usOut", 0) or 0)
        err = msg.get("error")
        if err is not None:
            r["kind"], r["err_code"] = RESP_ERROR, int(err.get("code", 0) or 0)
            return r
        result = msg.get("result") or {}
        order = result.get("order", result) if isinstance(result, dict) else {}
        r["kind"] = RESP_ORDER
        r["order_state"] = om.VENUE_STATES.get(order.get("order_state", ""), om.V_OPEN)
        inst = self.index.get(order.get("instrument_name", ""), -1)
        lot = self.inst[inst].lot_size if inst >= 0 else 1.0
        r["filled"] = round(float(order.get("filled_amount", 0) or 0) / lot)
        raw = str(order.get("order_id", "")).encode()[: r["oid"].shape[0]]
        r["oid"][: len(raw)] = np.frombuffer(raw, np.uint8)
        r["oid_len"] = len(raw)
        return r

    @staticmethod
    def _order_dict(r: np.void) -> dict:
        """The fields of a decoded order answer, as the Order object keys (for slow-path callers)."""
        return {"order_id": bytes(r["oid"][: r["oid_len"]]).decode(), "order_state": OST_NAMES[int(r["order_state"])],
                "filled_lots": int(r["filled"]), "last_update_timestamp": int(r["us_out"]) // 1000}

    def _flush(self, tx_len: int, sent: int) -> None:
        """Whatever the compiled path framed but could not write directly goes through the transport."""
        if tx_len <= 0:
            return
        done = max(0, sent)
        if done < tx_len and self.session is not None and self.session.transport is not None:
            self.session.transport.write_raw(self.op.tx[done:tx_len].tobytes())

    def _after_books(self) -> None:
        for inst in np.flatnonzero(self.touched):
            if self.touched[inst] == 2:
                self._spawn(self._resync(int(inst)))
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

    # --- slow path: everything orjson decoded ---
    def _on_json(self, msg: dict) -> None:
        if self.session is not None and self.session.on_message(msg):
            return
        rid = msg.get("id")
        if isinstance(rid, int) and rid >= ORDER_ID_BASE:
            self._on_order_answer(rid, self._resp_from_json(rid, msg))
            self._refresh_exposure()
            return
        if msg.get("method") != "subscription":
            return
        params = msg.get("params") or {}
        channel, data = params.get("channel", ""), params.get("data")
        if channel.startswith("user.orders."):
            for order in data if isinstance(data, list) else [data]:
                self._apply_order(order)
            self._refresh_exposure()
        elif channel.startswith("user.trades."):
            self._apply_trades(data or [])
        elif channel.startswith("user.portfolio."):
            self.portfolio = data or {}
        elif channel.startswith("trades.") and self.py_strategy is not None:
            inst = self.index.get(channel.split(".")[1], -1)
            for t in data or []:
                if inst >= 0:
                    side = SIDE_BUY if t.get("direction") == "buy" else SIDE_SELL
                    self.submit(self.py_strategy.on_trade(inst, side,
                                                          round(float(t["price"]) / self.inst[inst].tick_size),
                                                          round(float(t["amount"]) / self.inst[inst].lot_size)))

    def _slot_of(self, cid: int) -> int:
        slot = cid & (self.orders.shape[0] - 1)
        return slot if self.orders[slot]["cid"] == cid and self.orders[slot]["state"] != 0 else -1

    def _cid_of(self, label: str | None) -> int:
        if not label or not label.startswith(self.label):
            return -1
        try:
            return int(label[len(self.label):])
        except ValueError:
            return -1

    def _on_order_answer(self, rid: int, r: np.void) -> None:
        cid, kind = divmod(rid - ORDER_ID_BASE, 4)
        slot = self._slot_of(cid) if kind != REQ_CANCEL_ALL else -1
        if slot < 0:
            return
        o = self.orders[slot]
        error = r["kind"] == RESP_ERROR
        if kind == REQ_NEW:
            if o["ack_tsc"] == 0:
                o["ack_tsc"] = self._read_tsc
                self.probes.add_rtt(RTT_ORDER, int(o["sent_tsc"]), self._read_tsc)
            if error:
                self._refused(int(r["err_code"]))
                om.apply_local(self.orders, slot, om.L_NEW_REFUSED)
            else:
                self._apply_record(slot, r)
        elif kind == REQ_CANCEL:
            if error:
                code = int(r["err_code"])
                if code not in NOT_OPEN_CODES:
                    self._refused(code)
                om.apply_local(self.orders, slot, om.L_CANCEL_REFUSED)
                self._spawn(self._query_order(cid))
            else:
                self._apply_record(slot, r)
        elif kind == REQ_EDIT:
            if error:
                self._refused(int(r["err_code"]))
            else:
                self._apply_record(slot, r)
            om.apply_local(self.orders, slot, om.L_EDIT_DONE)  # edited or refused: it rests (or it finished)
            if error:
                self._spawn(self._query_order(cid))  # the price/amount we hold may be the refused ones
        self._notify(slot)

    def _apply_record(self, slot: int, r: np.void) -> None:
        o = self.orders[slot]
        if o["oid_len"] == 0 and r["oid_len"]:
            o["oid"][:] = r["oid"]
            o["oid_len"] = r["oid_len"]
        self._venue_update(slot, int(r["order_state"]), int(r["filled"]), int(r["us_out"]) // 1000)

    def _venue_update(self, slot: int, vstate: int, vfilled: int, ts_ms: int) -> None:
        if om.apply_venue(self.orders, slot, vstate, vfilled, ts_ms):
            self.counters[C_FILLS] += 1

    def _refused(self, code: int) -> None:
        self.counters[C_REJECTS] += 1
        if code == TOO_MANY_REQUESTS:  # our credit mirror was optimistic: stop until it refills
            self.counters[C_RATE_LIMITED] += 1
            credits.drain(self.cstate, credits.MATCHING, monotonic_ns())

    def _apply_order(self, order: dict, cid: int = -1) -> int:
        """Apply a venue Order object (notification or query); returns the slot or -1 if not ours."""
        cid = cid if cid >= 0 else self._cid_of(order.get("label"))
        slot = self._slot_of(cid) if cid >= 0 else -1
        if slot < 0:
            return -1
        o = self.orders[slot]
        inst = self.inst[int(o["inst"])]
        if o["oid_len"] == 0 and order.get("order_id"):
            raw = str(order["order_id"]).encode()[: o["oid"].shape[0]]
            o["oid"][: len(raw)] = np.frombuffer(raw, np.uint8)
            o["oid_len"] = len(raw)
        vstate = om.VENUE_STATES.get(order.get("order_state", ""), om.V_OPEN)
        if "filled_lots" in order:
            vfilled = int(order["filled_lots"])
        else:
            vfilled = round(float(order.get("filled_amount", 0) or 0) / inst.lot_size)
        before = int(o["state"])
        self._venue_update(slot, vstate, vfilled, int(order.get("last_update_timestamp", 0) or 0))
        if before == ORD_PENDING_REPLACE and int(o["state"]) == ORD_PENDING_REPLACE and order.get("replaced"):
            om.apply_local(self.orders, slot, om.L_EDIT_DONE)
        if int(o["state"]) != before:
            self._notify(slot)
        return slot

    def _apply_trades(self, trades: list[dict]) -> None:
        changed = False
        for t in trades:
            if self._cid_of(t.get("label")) < 0 and t.get("label"):
                continue  # another client's trade on this account: positions reconcile covers it
            if self.positions.on_trade(t):
                changed = True
            else:
                self.counters[C_DUPLICATES] += 1
        if changed:
            self._refresh_exposure()

    def _notify(self, slot: int) -> None:
        if self.py_strategy is not None:
            self.submit(self.py_strategy.on_order(self._view(self.orders[slot])))

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

    async def on_ready(self, session: DeribitSession) -> None:
        """(Re)connected and subscribed: reconcile orders, fills and positions with the venue."""
        self.session = session
        reconnect = self.counters[C_RECONNECTS] > 0
        await self._reconcile_orders(reconnect)
        await self._poll_positions(force=True)
        self._refresh_exposure()
        self._rearm_after_disconnect()

    async def _reconcile_orders(self, reconnect: bool) -> None:
        assert self.session is not None
        venue: dict[int, dict] = {}
        for name in self.instruments:
            for order in await self.session.request("private/get_open_orders_by_instrument",
                                                    {"instrument_name": name}) or []:
                cid = self._cid_of(order.get("label"))
                if cid >= 0:
                    if cid in venue:
                        self.counters[C_DUPLICATES] += 1
                    venue[cid] = order
            trades = await self.session.request("private/get_user_trades_by_instrument",
                                                {"instrument_name": name, "count": 1000, "sorting": "desc"})
            self._apply_trades([t for t in (trades or {}).get("trades", []) if self._cid_of(t.get("label")) >= 0])
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
                om.apply_venue(self.orders, int(slot), om.V_CANCELLED, int(o["filled"]), int(o["last_ts"]) + 1)
        self._refresh_exposure()

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
                self._apply_order(order or {}, cid)
            else:
                name = self.instruments[int(o["inst"])]
                for order in await self.session.request("private/get_open_orders_by_instrument",
                                                        {"instrument_name": name}) or []:
                    if self._cid_of(order.get("label")) == cid:
                        self._apply_order(order)
        except (VenueError, SessionClosed, asyncio.TimeoutError) as exc:
            log.info("order state query for %s%d failed: %s", self.label, cid, type(exc).__name__)
        finally:
            self._queries.discard(cid)
            self._refresh_exposure()

    async def _resync(self, inst: int) -> None:
        """A change_id gap: resubscribe the book channel; the venue answers with a fresh snapshot."""
        if self.session is None or not self.session.ready.is_set():
            return
        channel = f"book.{self.instruments[inst]}.{self.cfg.session.book_interval}"
        log.info("change_id gap on %s: resubscribing", channel)
        try:
            await self.session.request("private/unsubscribe", {"channels": [channel]})
            await self.session.request("private/subscribe", {"channels": [channel]})
        except (VenueError, SessionClosed, asyncio.TimeoutError) as exc:
            log.warning("resync of %s failed (%s): reconnecting", channel, type(exc).__name__)
            self.session.drop_connection()

    # --- periodic work ---
    async def _poll_positions(self, force: bool = False) -> None:
        assert self.session is not None
        for ccy in sorted({i.currency for i in self.inst}):
            start = int(lib.tw_rdtsc())
            venue = await self.session.request("private/get_positions", {"currency": ccy, "kind": "future"})
            self.probes.add_rtt(RTT_POSITION, start, self._read_tsc)
            self._reconcile_positions(venue or [], force)

    def _reconcile_positions(self, venue: list[dict], force: bool) -> None:
        """Adopt the venue's size when it differs twice in a row with the same value (a fill may be in flight)."""
        mismatched = {}
        for p in venue:
            name = p.get("instrument_name")
            mine = self.positions.positions.get(name)
            if mine is not None and abs(mine.size - float(p.get("size", 0.0))) > 1e-9:
                mismatched[name] = float(p.get("size", 0.0))
        confirmed = [p for p in venue if p.get("instrument_name") in mismatched
                     and (force or self._mismatch.get(p["instrument_name"]) == mismatched[p["instrument_name"]])]
        if confirmed:
            fixed = self.positions.reconcile(confirmed, in_flight=False)
            self.counters[C_POSITION_FIXES] += len(fixed)
            self._refresh_exposure()
        self._mismatch = {k: v for k, v in mismatched.items() if k not in {p["instrument_name"] for p in confirmed}}

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
        """Position polling, timeouts, Python-tier timers and masking-key refresh, until cancelled."""
        period = self.cfg.position_poll_ms / 1e3
        next_timer = 0
        while True:
            await asyncio.sleep(period)
            if self.session is None or not self.session.ready.is_set():
                continue
            try:
                await self._poll_positions()
            except (VenueError, SessionClosed, asyncio.TimeoutError) as exc:
                log.info("position poll failed: %s", type(exc).__name__)
            self._check_timeouts()
            self.op.refill_keys()
            now = monotonic_ns()
            if self.py_strategy is not None and self.py_strategy.timer_ms and now >= next_timer:
                next_timer = now + self.py_strategy.timer_ms * 1_000_000
                self.submit(self.py_strategy.on_timer(now))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)

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
            except (VenueError, SessionClosed, asyncio.TimeoutError):
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
        if self.session is not None:
            out["reconnects"] = self.session.reconnects
            out["rate_limited"] += self.session.rate_limited
        return out

    def live_order_count(self) -> int:
        return int(om.count_live(self.orders))


__all__ = ["Engine", "Instrument"]
