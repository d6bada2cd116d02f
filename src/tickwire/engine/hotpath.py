"""The compiled hot pass: bytes -> deframe -> decode -> book -> strategy -> risk -> encode -> frame -> send.

Called once per socket read by the async driver (tickwire.engine.engine).
Everything here works on preallocated arrays; the only calls out are the _tw_native shims (TSC, clock, send),
bound by symbol (tickwire.engine.shims) so that every kernel it calls is cached on disk (only the pass itself,
specialised on the strategy kernel, compiles per process: a few seconds at warm-up).

Order requests carry JSON-RPC ids ``ORDER_ID_BASE + cid * 4 + kind`` so that the slow path knows, from the id
alone, which client order and which request an answer belongs to (no lookup table, no allocation).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tickwire.engine import risk
from tickwire.deribit import json_encode as encode
from tickwire.md.book import GAP, IGNORED, book_apply_event, book_top
from tickwire.engine.orders import L_CANCEL_SENT, L_EDIT_SENT, apply_local, is_live
from tickwire.engine.probes import K_PASSES, md_applied
from tickwire.engine import shims
from tickwire.deribit.json_decode import decode_read
from tickwire.netstack.ws import OP_TEXT, ws_encode, ws_reserve
from tickwire.types import (
    ACT_CANCEL, ACT_CANCEL_ALL, ACT_EDIT, ACT_NEW, ACT_NONE, BOOK_NO_PRICE, C_BOOK_UPDATES, C_CANCELS_SENT,
    C_CREDITS_SPENT, C_MESSAGES, C_ORDERS_SENT, C_RESYNCS, C_RISK_REFUSED, EV_BOOK, EVF_LAST, ORD_OPEN,
    ORD_PARTIALLY_FILLED, ORD_PENDING_CANCEL, ORD_PENDING_NEW, RISK_MAX_OPEN, RISK_OK, ST_BOOK, ST_DECODED,
    ST_ENCODED, ST_RECV, ST_RISK, ST_SENT, ST_STRATEGY,
)

ORDER_ID_BASE = 1 << 40
REQ_NEW, REQ_CANCEL, REQ_CANCEL_ALL, REQ_EDIT = 0, 1, 2, 3


@njit(cache=True)
def order_req_id(cid: int, kind: int) -> int:
    return ORDER_ID_BASE + cid * 4 + kind


class OrderPath:
    """Every array the order path needs, preallocated once per engine (see :func:`encode_actions`).

    ``meta`` int64[n_inst, 4] = (tick_num, tick_scale, lot_num, lot_scale); ``names`` uint8[n_inst, 48] with
    ``name_len``; ``label`` the run's label prefix; ``keys`` a pool of WebSocket masking keys refilled from the OS
    CSPRNG on the slow path; ``ids[0]`` the next client id, ``ids[1]`` the next masking key index.
    """

    def __init__(self, names: list[str], meta: np.ndarray, label: str, orders: np.ndarray, n_keys: int = 4096):
        import os

        self.names = np.zeros((len(names), 48), np.uint8)
        self.name_len = np.zeros(len(names), np.int64)
        for i, name in enumerate(names):
            raw = name.encode()
            self.names[i, :len(raw)] = np.frombuffer(raw, np.uint8)
            self.name_len[i] = len(raw)
        self.meta = meta
        self.label = np.frombuffer(label.encode(), np.uint8).copy()
        self.orders = orders
        self.frag, self.frag_off = encode.fragments()
        self.payload = np.zeros(1024, np.uint8)
        self.tx = np.zeros(1 << 16, np.uint8)
        self.keys = np.frombuffer(os.urandom(4 * n_keys), np.uint32).astype(np.int64)
        self.ids = np.ones(2, np.int64)

    def refill_keys(self) -> None:
        """New masking keys (the slow path calls this periodically: keys must not be predictable)."""
        import os

        self.keys[:] = np.frombuffer(os.urandom(4 * self.keys.shape[0]), np.uint32)


@njit(cache=True)
def _frame(payload, n, tx, tx_len, keys, ids):
    key = keys[ids[1] % keys.shape[0]]
    ids[1] += 1
    w = ws_encode(tx, tx_len, payload, 0, n, OP_TEXT, True, True, key)
    return tx_len + (w if w > 0 else 0)


@njit(cache=True)
def admit_actions(out, n_act, orders, ids, limits, rstate, expo, bid, ask, cstate, ccost, counters, now_ns):
    """Risk phase: each action passes :func:`risk.admit` (reserving what it uses) or becomes ACT_NONE. A new
    order gets its client id here (``out[k].cid``)."""
    mask = orders.shape[0] - 1
    for k in range(n_act):
        a = out[k]
        if a.kind == ACT_EDIT and orders[a.cid & mask].cid == a.cid:
            a.inst = orders[a.cid & mask].inst  # an edit names only the order: risk checks it on its instrument
            a.side = orders[a.cid & mask].side
        verdict = risk.admit(a, limits, rstate, expo, bid, ask, cstate, ccost, now_ns)
        if verdict == RISK_OK and a.kind == ACT_NEW:
            if is_live(orders[ids[0] & mask].state):
                verdict = RISK_MAX_OPEN  # the order table is full of live orders
            else:
                a.cid = ids[0]
                ids[0] += 1
        if verdict != RISK_OK:
            counters[C_RISK_REFUSED] += 1
            a.kind = ACT_NONE
        else:
            counters[C_CREDITS_SPENT] += 1


@njit(cache=True)
def encode_actions(out, n_act, orders, ids, keys, names, name_len, meta, label, frag, frag_off, payload, tx,
                   counters, tsc):
    """Encode phase: record the admitted actions in the order table and write their framed requests into
    ``tx``; returns the bytes to send."""
    tx_len = 0
    mask = orders.shape[0] - 1
    for k in range(n_act):
        a = out[k]
        if a.kind == ACT_NEW:
            o = orders[a.cid & mask]
            o.cid = a.cid
            o.inst = a.inst
            o.side = a.side
            o.state = ORD_PENDING_NEW
            o.otype = a.otype
            o.post_only = a.post_only
            o.price = a.price
            o.amount = a.amount
            o.filled = 0
            o.last_ts = 0
            o.oid_len = 0
            o.req_id = order_req_id(a.cid, REQ_NEW)
            o.sent_tsc = tsc
            o.ack_tsc = 0
            m = meta[a.inst]
            n = encode.encode_new(payload, frag, frag_off, o.req_id, names[a.inst], name_len[a.inst], a.side,
                                  a.otype, a.tif, a.post_only, a.price, m[0], m[1], a.amount, m[2], m[3], label,
                                  label.shape[0], a.cid)
            counters[C_ORDERS_SENT] += 1
        elif a.kind == ACT_CANCEL:
            slot = a.cid & mask
            o = orders[slot]
            if o.cid != a.cid or not is_live(o.state) or o.oid_len == 0 or o.state == ORD_PENDING_CANCEL:
                continue  # unknown, finished, not acknowledged yet, or already being cancelled
            apply_local(orders, slot, L_CANCEL_SENT)
            n = encode.encode_cancel(payload, frag, frag_off, order_req_id(a.cid, REQ_CANCEL), o.oid, o.oid_len)
            counters[C_CANCELS_SENT] += 1
        elif a.kind == ACT_EDIT:
            slot = a.cid & mask
            o = orders[slot]
            if (o.cid != a.cid or o.oid_len == 0 or (o.state != ORD_OPEN and o.state != ORD_PARTIALLY_FILLED)
                    or a.amount > o.amount):
                continue  # only a resting, acknowledged order, never larger (risk reserved no more exposure)
            apply_local(orders, slot, L_EDIT_SENT)
            o.price = a.price
            o.amount = a.amount
            m = meta[a.inst]
            n = encode.encode_edit(payload, frag, frag_off, order_req_id(a.cid, REQ_EDIT), o.oid, o.oid_len,
                                   a.price, m[0], m[1], a.amount, m[2], m[3])
            counters[C_ORDERS_SENT] += 1
        elif a.kind == ACT_CANCEL_ALL:
            n = encode.encode_cancel_all(payload, frag, frag_off, order_req_id(0, REQ_CANCEL_ALL))
            counters[C_CANCELS_SENT] += 1
        else:
            continue
        tx_len = _frame(payload, n, tx, tx_len, keys, ids)
    return tx_len


@njit(cache=True)
def refresh_top(px, qty, st, bid, ask):
    """Best bid/ask ticks per instrument for risk (0 when a side is empty or the book is invalid)."""
    for inst in range(bid.shape[0]):
        bp, bq, ap, aq = book_top(px, qty, st, inst)
        ok = st[inst].valid != 0 and bp != BOOK_NO_PRICE and ap != BOOK_NO_PRICE
        bid[inst] = bp if ok else 0
        ask[inst] = ap if ok else 0


def build_hot_pass(kernel):
    """The hot pass specialised on one numba strategy ``kernel`` (a compile-time constant inside, so a read's
    dispatch does not have to type a function argument), as two entry points sharing their decide part:
    ``hot_pass`` (one WebSocket read) and ``applied_pass`` (market data already applied to the books, e.g. a
    multicast batch). Compiled at the first call; memoised per kernel."""
    cached = _HOT_PASSES.get(kernel)
    if cached is not None:
        return cached

    @njit
    def decide_and_send(row, px, qty, st, touched, params, act, orders, ids, keys, names, name_len, meta, label,
                        frag, frag_off, payload, tx, limits, rstate, expo, bid, ask, cstate, ccost, counters, stages,
                        fd):
        """The part of a pass after the books changed: the strategy kernel on each ``touched`` instrument, risk,
        encode, frame and send on ``fd`` (-1: the caller sends); stamps probe row ``row`` from ST_BOOK on.
        Returns (bytes framed in ``tx``, bytes sent or -errno)."""
        stages[row, ST_BOOK] = shims.rdtsc()
        refresh_top(px, qty, st, bid, ask)
        n_act = 0
        for inst in range(touched.shape[0]):
            if touched[inst] != 0 and n_act < act.shape[0]:
                n_act += kernel(inst, px, qty, st, expo, orders, params, act[n_act:])
        if n_act == 0:
            return 0, 0
        tsc = shims.rdtsc()
        stages[row, ST_STRATEGY] = tsc
        admit_actions(act, n_act, orders, ids, limits, rstate, expo, bid, ask, cstate, ccost, counters,
                      shims.monotonic_ns())
        stages[row, ST_RISK] = shims.rdtsc()
        tx_len = encode_actions(act, n_act, orders, ids, keys, names, name_len, meta, label, frag, frag_off,
                                payload, tx, counters, tsc)
        stages[row, ST_ENCODED] = shims.rdtsc()
        sent = 0
        if tx_len > 0 and fd >= 0:
            sent = shims.send(fd, tx.ctypes.data, tx_len)
            stages[row, ST_SENT] = shims.rdtsc()
        return tx_len, sent

    @njit
    def hot_pass(data, ws_st, rx, spans, ctrl, insts, events, resps, fb, px, qty, st, touched, params, act,
                 orders, ids, keys, names, name_len, meta, label, frag, frag_off, payload, tx, limits, rstate, expo,
                 bid, ask, cstate, ccost, counters, stages, md, pcount, recv_tsc, fd):
        """One socket read, compiled end to end: deframe + decode ``data`` (netstack), apply the book events,
        run the strategy kernel on each changed book, check risk, encode, frame and send on ``fd`` (-1: the
        caller sends). ``touched[inst]`` becomes 1 for an instrument whose book changed, 2 when its change_id
        chain broke (the slow path resyncs it). Returns (n_spans, n_resps, n_fallback, bytes framed in ``tx``,
        bytes sent or -errno); when n_spans == len(spans) call again with empty ``data``."""
        n = data.shape[0]
        w = ws_reserve(ws_st, rx, n)
        if w < 0:
            return -1, 0, 0, 0, 0
        rx[w:w + n] = data
        ns, n_ev, n_resp, n_fb = decode_read(ws_st, rx, n, spans, ctrl, insts, events, resps, fb, recv_tsc, 0)
        row = _new_row(stages, pcount, recv_tsc)
        counters[C_MESSAGES] += ns
        any_book = False
        for k in range(n_ev):
            ev = events[k]
            if ev.kind != EV_BOOK:
                continue
            r = book_apply_event(px, qty, st, ev)
            if r == GAP:
                touched[ev.inst] = 2
                counters[C_RESYNCS] += 1
            elif r != IGNORED and ev.flags & EVF_LAST:
                md_applied(md, pcount, ev.inst, ev.change_id)
                counters[C_BOOK_UPDATES] += 1
                if touched[ev.inst] == 0:
                    touched[ev.inst] = 1
                any_book = True
        if not any_book:
            return ns, n_resp, n_fb, 0, 0
        tx_len, sent = decide_and_send(row, px, qty, st, touched, params, act, orders, ids, keys, names, name_len,
                                       meta, label, frag, frag_off, payload, tx, limits, rstate, expo, bid, ask,
                                       cstate, ccost, counters, stages, fd)
        return ns, n_resp, n_fb, tx_len, sent

    @njit
    def applied_pass(events, n_ev, px, qty, st, touched, params, act, orders, ids, keys, names, name_len, meta,
                     label, frag, frag_off, payload, tx, limits, rstate, expo, bid, ask, cstate, ccost, counters,
                     stages, md, pcount, recv_tsc, fd):
        """The hot pass for market data whose book events are already applied (the multicast feed applies
        them while decoding): probes, ``touched``, then :func:`decide_and_send`. Returns (bytes framed in
        ``tx``, bytes sent or -errno)."""
        row = _new_row(stages, pcount, recv_tsc)  # recv: the feed handed its events over (decoded, applied)
        any_book = False
        for k in range(n_ev):
            ev = events[k]
            if ev.kind == EV_BOOK and ev.flags & EVF_LAST and 0 <= ev.inst < touched.shape[0]:
                md_applied(md, pcount, ev.inst, ev.change_id)
                counters[C_MESSAGES] += 1
                counters[C_BOOK_UPDATES] += 1
                if touched[ev.inst] == 0:
                    touched[ev.inst] = 1
                any_book = True
        if not any_book:
            return 0, 0
        return decide_and_send(row, px, qty, st, touched, params, act, orders, ids, keys, names, name_len, meta,
                               label, frag, frag_off, payload, tx, limits, rstate, expo, bid, ask, cstate, ccost,
                               counters, stages, fd)

    _HOT_PASSES[kernel] = hot_pass, applied_pass
    return hot_pass, applied_pass


_HOT_PASSES: dict = {}


@njit(cache=True)
def _new_row(stages, pcount, recv_tsc):
    """Start the probe row of one pass: cleared, stamped received and decoded (decoded: now)."""
    row = pcount[K_PASSES] % stages.shape[0]
    pcount[K_PASSES] += 1
    for s in range(stages.shape[1]):
        stages[row, s] = 0
    stages[row, ST_RECV] = recv_tsc
    stages[row, ST_DECODED] = shims.rdtsc()
    return row


@njit(cache=True)
def send_actions(act, n_act, orders, ids, keys, names, name_len, meta, label, frag, frag_off, payload, tx,
                 limits, rstate, expo, bid, ask, cstate, ccost, counters, fd):
    """The order path for actions decided outside the hot pass (Python tier, timers, kill switch)."""
    tsc = shims.rdtsc()
    admit_actions(act, n_act, orders, ids, limits, rstate, expo, bid, ask, cstate, ccost, counters,
                  shims.monotonic_ns())
    tx_len = encode_actions(act, n_act, orders, ids, keys, names, name_len, meta, label, frag, frag_off, payload,
                            tx, counters, tsc)
    sent = 0
    if tx_len > 0 and fd >= 0:
        sent = shims.send(fd, tx.ctypes.data, tx_len)
    return tx_len, sent


@njit(cache=True)
def no_strategy(inst, px, qty, st, expo, orders, params, out):
    """The kernel slot of a Python-tier strategy: the compiled pass decides nothing itself."""
    return 0
