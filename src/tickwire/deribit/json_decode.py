"""The Deribit JSON codec in compiled code: WebSocket message spans -> EVENT_DTYPE / ORDER_RESP_DTYPE records.

Recognised (everything else, and anything it cannot decode with certainty, is reported as a *fallback* span for
the orjson reference path ``ref_decode``; the two agree on every message both accept — see tests/netstack):

- ``subscription`` notifications of ``book.{instrument}.{raw|100ms|agg2}`` (type, timestamp, change_id,
  prev_change_id, levels ``[action, price, amount]``) -> one EV_BOOK event per level (flags EVF_FIRST/LAST and
  EVF_SNAPSHOT; a message without levels gives one event with action ACT_LEVEL_NONE);
- ``trades.*`` -> one EV_TRADE per trade (change_id = numeric trade_id, prev_change_id = trade_seq);
- ``ticker.{instrument}.{interval}`` -> two EV_TICKER events (BOOK_BID then BOOK_ASK: best price and amount);
- JSON-RPC responses whose result is an order (``private/cancel``) or ``{"order": ..., "trades": [...]}``
  (``private/buy``, ``sell``, ``edit``) -> RESP_ORDER; error responses -> RESP_ERROR with the code.

Prices become integer ticks and amounts integer lots using the instrument table (``InstrumentTable``): exact
decimal arithmetic on the digits, so a value that is not an exact multiple (or has more than 15 significant
digits, an escape in a key, a duplicate key, an unknown instrument...) is never rounded: the message falls back.

This module is the entry: the message envelope (JSON-RPC answer or subscription notification) and the per-read
loop. The parts: :mod:`~tickwire.deribit.json_scan` (keys, strings, exact numbers, ticks and lots),
:mod:`~tickwire.deribit.json_md` (book, trades and ticker notifications), :mod:`~tickwire.deribit.json_answers`
(order answers and errors).

Hot-path API (all @njit, no allocation):

    decode_read(st, rx, n, spans, ctrl, insts, events, resps, fb, recv_ts, msg_base)
        -> (n_spans, n_events, n_resps, n_fallback)
    one socket read: ``ws_feed`` the ``n`` bytes written at ``rx[ws_reserve(st, rx, n)]``, decode every message.
    fb[i] = (span index, reason) for the slow path: reason FB_* (control frames FB_CONTROL, e.g. ping -> pong).

    decode_spans(rx, ctrl, spans, ns, insts, events, resps, fb, recv_ts, msg_base) -> (n_events, n_resps, n_fb)
    decode_message(b, s, e, insts, events, n_ev, resps, n_resp, msg, recv_ts) -> (status, n_ev, n_resp)
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tickwire.netstack._fp_json import CAPACITY, INVALID, UNCERTAIN, UNKNOWN, const, eq_const, skip_value, ws
from tickwire.netstack.ascii import LBRACE
from tickwire.netstack.ws import OP_TEXT, SRC_RX, ws_feed
from tickwire.types import EVENT_DTYPE, ORDER_RESP_DTYPE, RESP_ERROR
from tickwire.deribit.json_answers import error_object, order_result
from tickwire.deribit.json_md import subscription_params
from tickwire.deribit.json_scan import (
    K_ERROR, K_ID, K_METHOD, K_PARAMS, K_RESULT, K_USOUT, KEY_END, NO_INSTRUMENT, int_value, next_key,
    open_container, string_value,
)

# decode_message status (>= 0) and fallback reasons (fb[:, 1])
DEC_EVENTS, DEC_RESPONSE = 0, 1
FB_INVALID, FB_UNCERTAIN, FB_UNKNOWN, FB_CAPACITY, FB_INSTRUMENT, FB_CONTROL, FB_BINARY = 1, 2, 3, 4, 5, 6, 7
FB_NAMES = {FB_INVALID: "invalid_json", FB_UNCERTAIN: "uncertain", FB_UNKNOWN: "not_recognised",
            FB_CAPACITY: "capacity", FB_INSTRUMENT: "unknown_instrument", FB_CONTROL: "control_frame",
            FB_BINARY: "binary_frame"}

_SUBSCRIPTION = const("subscription")


@njit(cache=True, _nrt=False)
def decode_message(b, s, e, insts, ev, n_ev, resps, n_resp, msg, recv_ts):
    """Decode the JSON message b[s:e]. Returns (status, n_ev, n_resp): status DEC_EVENTS or DEC_RESPONSE with
    the records appended, or a negative status (INVALID/UNCERTAIN/UNKNOWN/CAPACITY/NO_INSTRUMENT) with nothing
    appended."""
    p = ws(b, s, e)
    p, ok = open_container(b, p, e, LBRACE)
    if not ok:
        return (INVALID if p == INVALID else UNKNOWN), n_ev, n_resp
    seen = np.int64(0)
    first = True
    n = n_ev
    is_sub = False
    params0 = -1
    rid = 0
    us_out = 0
    r = resps[min(n_resp, resps.shape[0] - 1)]  # the last record is scratch: a response there is CAPACITY
    r.kind = 0
    r.inst = -1
    while True:
        p, k, ks, ke = next_key(b, p, e, first)
        first = False
        if p < 0:
            return p, n_ev, n_resp
        if k == KEY_END:
            break
        if k >= 0:
            if seen & (np.int64(1) << k):
                if k in (K_METHOD, K_PARAMS, K_ID, K_RESULT, K_ERROR, K_USOUT):
                    return UNCERTAIN, n_ev, n_resp
            seen |= np.int64(1) << k
        if k == K_METHOD:
            p, s0, s1 = string_value(b, p, e)
            if p < 0:
                return p, n_ev, n_resp
            if not eq_const(b, s0, s1, _SUBSCRIPTION):
                return UNKNOWN, n_ev, n_resp
            is_sub = True
            if params0 >= 0:
                q, n = subscription_params(b, params0, e, insts, ev, n, msg, recv_ts)
                if q < 0:
                    return q, n_ev, n_resp
        elif k == K_PARAMS:
            if is_sub:
                p, n = subscription_params(b, p, e, insts, ev, n, msg, recv_ts)
            else:
                params0 = p
                p = skip_value(b, p, e)
        elif k == K_ID:
            p, rid = int_value(b, p, e)
        elif k == K_USOUT:
            p, us_out = int_value(b, p, e)
        elif k == K_RESULT:
            p = order_result(b, p, e, r, insts)
        elif k == K_ERROR:
            p = error_object(b, p, e, r)
        else:
            p = skip_value(b, p, e)
        if p < 0:
            return p, n_ev, n_resp
    p = ws(b, p, e)
    if p != e:
        return INVALID, n_ev, n_resp
    if is_sub:
        if seen & ((1 << K_ID) | (1 << K_RESULT) | (1 << K_ERROR)) or not seen & (1 << K_PARAMS):
            return UNKNOWN, n_ev, n_resp
        return DEC_EVENTS, n, n_resp
    if seen & (1 << K_ID) and ((seen >> K_RESULT) & 1) + ((seen >> K_ERROR) & 1) == 1 and r.kind != 0 \
            and not seen & ((1 << K_METHOD) | (1 << K_PARAMS)):
        if n_resp >= resps.shape[0] - 1:
            return CAPACITY, n_ev, n_resp
        r.req_id = rid
        r.us_out = us_out
        r.recv_ts = recv_ts
        if r.kind == RESP_ERROR:
            r.order_state = r.side = r.oid_len = 0
            r.inst = -1
            r.price = r.amount = r.filled = 0
            r.price_f = r.amount_f = r.filled_f = r.average_price = 0.0
            r.oid[:] = 0
        else:
            r.err_code = 0
        return DEC_RESPONSE, n_ev, n_resp + 1
    return UNKNOWN, n_ev, n_resp


_STATUS_TO_FB = np.zeros(-NO_INSTRUMENT + 1, dtype=np.int64)  # -status -> fallback reason
for _status, _reason in ((INVALID, FB_INVALID), (UNCERTAIN, FB_UNCERTAIN), (UNKNOWN, FB_UNKNOWN),
                         (CAPACITY, FB_CAPACITY), (NO_INSTRUMENT, FB_INSTRUMENT)):
    _STATUS_TO_FB[-_status] = _reason


@njit(cache=True, _nrt=False)
def decode_spans(rx, ctrl, spans, ns, insts, events, resps, fb, recv_ts, msg_base):
    """Decode spans[:ns] (from ws_feed) into events/resps; the rest goes to fb as (span index, FB_* reason).
    Event/response ``msg`` is ``msg_base + span index``. Returns (n_events, n_resps, n_fb)."""
    n_ev = 0
    n_resp = 0
    n_fb = 0
    for i in range(ns):
        op = spans[i, 3]
        if op != OP_TEXT:
            fb[n_fb, 0] = i
            fb[n_fb, 1] = FB_CONTROL if op >= 8 else FB_BINARY
            n_fb += 1
            continue
        buf = rx if spans[i, 0] == SRC_RX else ctrl
        s = spans[i, 1]
        status, n_ev2, n_resp2 = decode_message(buf, s, s + spans[i, 2], insts, events, n_ev, resps, n_resp,
                                                msg_base + i, recv_ts)
        if status >= 0:
            n_ev = n_ev2
            n_resp = n_resp2
        else:
            fb[n_fb, 0] = i
            fb[n_fb, 1] = _STATUS_TO_FB[-status]
            n_fb += 1
    return n_ev, n_resp, n_fb


@njit(cache=True, _nrt=False)
def decode_read(st, rx, n, spans, ctrl, insts, events, resps, fb, recv_ts, msg_base):
    """One socket read, bytes in -> records out: feed the ``n`` bytes written at ``rx[ws_reserve(st, rx, n)]``
    to the deframer and decode every complete message. ``fb`` rows point into ``spans`` (valid until the next
    reserve). Returns (n_spans, n_events, n_resps, n_fb); when n_spans == len(spans) call again with n = 0."""
    ns = ws_feed(st, rx, n, spans, ctrl)
    n_ev, n_resp, n_fb = decode_spans(rx, ctrl, spans, ns, insts, events, resps, fb, recv_ts, msg_base)
    return ns, n_ev, n_resp, n_fb


def new_outputs(events: int = 65536, resps: int = 1024, spans: int = 1024) -> tuple[np.ndarray, np.ndarray,
                                                                                       np.ndarray]:
    """Preallocated (events, resps, fb) buffers for decode_read/decode_spans."""
    return (np.zeros(events, dtype=EVENT_DTYPE), np.zeros(resps, dtype=ORDER_RESP_DTYPE),
            np.zeros((spans, 2), dtype=np.int64))
