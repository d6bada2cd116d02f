"""The engine's slow path for what the venue says about our orders: JSON-RPC order answers, user.orders and
user.trades notifications, and the other messages the compiled decoder left to orjson.

Every venue answer is validated before it changes state (:mod:`tickwire.engine.venue_check`): a malformed one is
counted in ``bad_messages``, logged and dropped, never applied and never a reason to drop the connection. A fill
is ours only when its label (or order id) names an order in our table, on that order's instrument and side, and
its amount fits in what the order still has unfilled; anything else is refused and the venue's position
(private/get_positions, see :mod:`tickwire.engine.reconcile`) settles the truth.

Used as a mixin of :class:`tickwire.engine.engine.Engine` (it works on the engine's order table and positions).
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from tickwire.deribit import credits
from tickwire.deribit.errors import NOT_OPEN_CODES, TOO_MANY_REQUESTS
from tickwire.clock import monotonic_ns
from tickwire.engine import orders as om
from tickwire.engine import venue_check as vc
from tickwire.engine.hotpath import ORDER_ID_BASE, REQ_CANCEL, REQ_CANCEL_ALL, REQ_EDIT, REQ_NEW
from tickwire.engine.binlog import LOG_REFUSED
from tickwire.engine.probes import RTT_ORDER
from tickwire.netstack import ws
from tickwire.types import (
    C_DUPLICATES, C_FILLS, C_REJECTS, C_RATE_LIMITED, ORD_PENDING_REPLACE, ORDER_RESP_DTYPE, OST_NAMES, RESP_ERROR,
    RESP_ORDER,
)

log = logging.getLogger("tickwire.engine")


class OrderAnswers:
    """Mixin: order answers and user channels -> the order table and positions."""

    def _init_answers(self, capacity: int) -> None:
        self.bad_messages = 0  # venue messages refused by validation
        self.refused_fills = 0  # user trades that were not ours or exceeded the order
        self._fill_cid = np.full(capacity, -1, np.int64)  # which cid _fill_lots[slot] belongs to
        self._fill_lots = np.zeros(capacity, np.float64)  # lots of accepted fills per order slot

    def _malformed(self, what: str) -> None:
        self.bad_messages += 1
        log.warning("venue sent a malformed message, ignored: %s", what)

    # --- answers the compiled decoder made into ORDER_RESP records ---
    def _on_resp(self, r: np.void, ns: int) -> None:
        rid = int(r["req_id"])
        if rid >= ORDER_ID_BASE:
            self._on_order_answer(rid, r)
            self._refresh_exposure()
            return
        if self.session is None:
            return
        if r["kind"] == RESP_ERROR:
            code = int(r["err_code"])
            self.session.on_message({"id": rid, "error": {"code": code, "message": self._error_text(rid, ns)}})
        else:
            self.session.on_message({"id": rid, "result": self._order_dict(r)})

    def _error_text(self, rid: int, ns: int) -> str:
        """The venue's own error message for a slow-path request (the compiled decoder keeps only the code):
        re-read the spans of this read with orjson, which is rare (slow-path errors only)."""
        for src, off, ln, op in self.spans[:ns]:
            if op != ws.OP_TEXT:
                continue
            msg = self._span_json(int(src), int(off), int(ln))
            err = msg.get("error") if isinstance(msg, dict) and msg.get("id") == rid else None
            if isinstance(err, dict):
                return str(err.get("message", ""))[:500]
        return "error"

    def _resp_from_json(self, rid: int, msg: dict) -> np.void | None:
        """An order answer the compiled decoder left to orjson, as the same ORDER_RESP record (None: malformed)."""
        r = np.zeros(1, ORDER_RESP_DTYPE)[0]
        r["req_id"] = rid
        us_out = msg.get("usOut", 0) or 0
        r["us_out"] = us_out if vc.is_int(us_out) and 0 <= us_out < 1 << 62 else 0
        err = msg.get("error")
        if err is not None:
            code = err.get("code") if isinstance(err, dict) else None
            if not vc.is_int(code) or not -(1 << 62) < code < 1 << 62:
                self._malformed(f"order answer {rid}: error {str(err)[:80]!r}")
                return None
            r["kind"], r["err_code"] = RESP_ERROR, code
            return r
        result = msg.get("result")
        order = result.get("order", result) if isinstance(result, dict) else None
        inst = self.index.get(order.get("instrument_name", ""), -1) if isinstance(order, dict) else -1
        checked = vc.order(order, self.inst[inst].lot_size if inst >= 0 else 1.0)
        if checked is None:
            self._malformed(f"order answer {rid}: {str(result)[:120]!r}")
            return None
        r["kind"] = RESP_ORDER
        r["order_state"], r["filled"] = checked.state, checked.filled_lots
        raw = checked.order_id.encode()[: r["oid"].shape[0]]
        r["oid"][: len(raw)] = np.frombuffer(raw, np.uint8)
        r["oid_len"] = len(raw)
        return r

    @staticmethod
    def _order_dict(r: np.void) -> dict:
        """The fields of a decoded order answer, as the Order object keys (for slow-path callers)."""
        return {"order_id": bytes(r["oid"][: r["oid_len"]]).decode(), "order_state": OST_NAMES[int(r["order_state"])],
                "filled_lots": int(r["filled"]), "last_update_timestamp": int(r["us_out"]) // 1000}

    # --- everything orjson decoded ---
    def _on_json(self, msg: dict) -> None:
        if self.session is not None and self.session.on_message(msg):
            return
        rid = msg.get("id")
        if vc.is_int(rid):
            if not 0 <= rid < 1 << 62:
                self._malformed(f"answer with id {rid}: no request of ours has it")
            elif rid >= ORDER_ID_BASE:
                r = self._resp_from_json(rid, msg)
                if r is not None:
                    self._on_order_answer(rid, r)
                    self._refresh_exposure()
            return
        if msg.get("method") != "subscription":
            return
        params = msg.get("params")
        channel = params.get("channel") if isinstance(params, dict) else None
        if not isinstance(channel, str):
            self._malformed(f"subscription without a channel: {str(params)[:80]!r}")
            return
        data = params.get("data")
        if channel.startswith("user.orders."):
            for order in data if isinstance(data, list) else [data]:
                self._apply_order(order)
            self._refresh_exposure()
        elif channel.startswith("user.trades."):
            self._apply_trades(data)
        elif channel.startswith("user.portfolio."):
            if isinstance(data, dict):
                self.portfolio = data
            else:
                self._malformed(f"{channel}: data is not an object")
        elif channel.startswith("trades.") and self.py_strategy is not None:
            self._public_trades(channel, data)

    def _public_trades(self, channel: str, data: Any) -> None:
        inst = self.index.get(channel.split(".")[1] if channel.count(".") >= 1 else "", -1)
        if inst < 0:
            return
        for t in data if isinstance(data, list) else []:
            checked = vc.public_trade(t)
            if checked is None:
                self._malformed(f"{channel}: trade {str(t)[:80]!r}")
                continue
            side, price, amount = checked
            self.submit(self.py_strategy.on_trade(inst, side, round(price / self.inst[inst].tick_size),
                                                  round(amount / self.inst[inst].lot_size)))

    # --- our orders ---
    def _slot_of(self, cid: int) -> int:
        if not 0 <= cid < 1 << 62:
            return -1
        slot = cid & (self.orders.shape[0] - 1)
        return slot if self.orders[slot]["cid"] == cid and self.orders[slot]["state"] != 0 else -1

    def _cid_of(self, label: Any) -> int:
        if not isinstance(label, str) or not label.startswith(self.label):
            return -1
        digits = label[len(self.label):]
        return int(digits) if digits.isdigit() and len(digits) < 19 else -1

    def _slot_of_order_id(self, order_id: Any) -> int:
        if not isinstance(order_id, str) or not order_id:
            return -1
        raw = order_id.encode()
        for slot in np.flatnonzero(self.orders["oid_len"] == len(raw)):
            if bytes(self.orders[slot]["oid"][: len(raw)]) == raw and self.orders[slot]["state"] != 0:
                return int(slot)
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
                self.probes.add_rtt(RTT_ORDER, int(o["sent_tsc"]), self._read_tsc, rid)
            if error:
                self._refused(int(r["err_code"]))
                om.apply_local(self.orders, slot, om.L_NEW_REFUSED)
                om.retire(self.acct, slot)
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
        if vfilled > int(self.orders[slot]["amount"]):
            self._malformed(f"order {self.label}{int(self.orders[slot]['cid'])}: filled {vfilled} lots of "
                            f"{int(self.orders[slot]['amount'])}")
            return
        if om.apply_venue(self.orders, slot, vstate, vfilled, ts_ms):
            self.counters[C_FILLS] += 1
        om.retire(self.acct, slot)  # a finished order gives its slot back (its record stays readable a while)

    def _refused(self, code: int) -> None:
        self.counters[C_REJECTS] += 1
        if self.binlog is not None:
            self.binlog.put(LOG_REFUSED, code)
        if code == TOO_MANY_REQUESTS:  # our credit mirror was optimistic: stop until it refills
            self.counters[C_RATE_LIMITED] += 1
            credits.drain(self.cstate, credits.MATCHING, monotonic_ns())

    def _apply_order(self, order: Any, cid: int = -1) -> int:
        """Apply a venue Order object (notification or query); returns the slot or -1 if not ours or malformed."""
        if not isinstance(order, dict):
            self._malformed(f"order is a {type(order).__name__}, not an object")
            return -1
        cid = cid if cid >= 0 else self._cid_of(order.get("label"))
        slot = self._slot_of(cid) if cid >= 0 else -1
        if slot < 0:
            return -1
        o = self.orders[slot]
        checked = vc.order(order, self.inst[int(o["inst"])].lot_size)
        if checked is None:
            self._malformed(f"order {self.label}{cid}: {str(order)[:120]!r}")
            return -1
        if o["oid_len"] == 0 and checked.order_id:
            raw = checked.order_id.encode()[: o["oid"].shape[0]]
            o["oid"][: len(raw)] = np.frombuffer(raw, np.uint8)
            o["oid_len"] = len(raw)
        before = int(o["state"])
        self._venue_update(slot, checked.state, checked.filled_lots, checked.ts_ms)
        if before == ORD_PENDING_REPLACE and int(o["state"]) == ORD_PENDING_REPLACE and order.get("replaced"):
            om.apply_local(self.orders, slot, om.L_EDIT_DONE)
        if int(o["state"]) != before:
            self._notify(slot)
        return slot

    def _apply_trades(self, trades: Any) -> None:
        """user.trades (or the trade history after a reconnect): only our fills, each bounded by its order."""
        if not isinstance(trades, list):
            self._malformed(f"user trades are a {type(trades).__name__}, not a list")
            return
        changed = False
        for t in trades:
            checked = vc.user_trade(t)
            if checked is None:
                self._malformed(f"user trade {str(t)[:120]!r}")
                continue
            if self.positions.seen(checked.trade_id):
                self.counters[C_DUPLICATES] += 1
                continue
            slot = self._fill_slot(checked)
            if slot < 0:
                continue
            if self.positions.on_trade(t):
                self._fill_lots[slot] += checked.amount / self.inst[int(self.orders[slot]["inst"])].lot_size
                changed = True
        if changed:
            self._refresh_exposure()

    def _fill_slot(self, t: vc.UserTrade) -> int:
        """The slot of the order this fill belongs to, or -1 (refused, counted, logged) when it is not ours, names
        another instrument or side, or exceeds what the order has left."""
        cid = self._cid_of(t.label)
        slot = self._slot_of(cid) if cid >= 0 else self._slot_of_order_id(t.order_id)
        if slot < 0:
            return self._refuse_fill(t, "no order of ours has this label or order id")
        o = self.orders[slot]
        if self._fill_cid[slot] != o["cid"]:  # the slot holds a new order: start its count afresh
            self._fill_cid[slot], self._fill_lots[slot] = o["cid"], 0.0
        inst = self.inst[int(o["inst"])]
        if t.instrument != inst.name or t.side != int(o["side"]):
            return self._refuse_fill(t, f"order {self.label}{int(o['cid'])} is on another instrument or side")
        left = int(o["amount"]) - self._fill_lots[slot]
        if t.amount / inst.lot_size > left + 1e-9:
            return self._refuse_fill(t, f"{t.amount:g} is more than the {left * inst.lot_size:g} left on "
                                        f"order {self.label}{int(o['cid'])}")
        return slot

    def _refuse_fill(self, t: vc.UserTrade, why: str) -> int:
        self.refused_fills += 1
        log.warning("user trade %s refused: %s", t.trade_id, why)
        return -1

    def _notify(self, slot: int) -> None:
        if self.py_strategy is not None:
            self.submit(self.py_strategy.on_order(self._view(self.orders[slot])))


__all__ = ["OrderAnswers"]
