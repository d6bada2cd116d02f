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

from tickwire.netstack._fp_json import (
    CAPACITY, INVALID, MAX_DIGITS, UNCERTAIN, UNKNOWN, const, eq_const, exact_float, parse_number, scaled_int, skip_string,
    skip_value, ws,
)
from tickwire.netstack.ascii import (
    COLON, COMMA, DIGIT_0, DIGIT_9, DOT, LOWER_C, LOWER_D, LOWER_N, MINUS, NON_ASCII, QUOTE, RBRACE, RBRACKET,
)
from tickwire.netstack.ws import OP_TEXT, SRC_RX, ws_feed
from tickwire.types import (
    ACT_LEVEL_CHANGE, ACT_LEVEL_DELETE, ACT_LEVEL_NEW, ACT_LEVEL_NONE, BOOK_ASK, BOOK_BID, EV_BOOK, EV_TICKER,
    EV_TRADE, EVENT_DTYPE, EVF_FIRST, EVF_LAST, EVF_SNAPSHOT, ORDER_RESP_DTYPE, OST_NAMES,
    RESP_ERROR, RESP_ORDER, RESP_ORDER_ID_BYTES,
)
from tickwire.deribit.instruments import lookup_instrument

# decode_message status (>= 0) and fallback reasons (fb[:, 1])
DEC_EVENTS, DEC_RESPONSE = 0, 1
FB_INVALID, FB_UNCERTAIN, FB_UNKNOWN, FB_CAPACITY, FB_INSTRUMENT, FB_CONTROL, FB_BINARY = 1, 2, 3, 4, 5, 6, 7
FB_NAMES = {FB_INVALID: "invalid_json", FB_UNCERTAIN: "uncertain", FB_UNKNOWN: "not_recognised",
            FB_CAPACITY: "capacity", FB_INSTRUMENT: "unknown_instrument", FB_CONTROL: "control_frame",
            FB_BINARY: "binary_frame"}
NO_INSTRUMENT = -5  # internal status: instrument not in the table

# Known keys: an id each (< 64, the duplicate-key check uses a bit mask).
_KEYS = ("jsonrpc method params id result error usOut channel data type timestamp prev_change_id instrument_name "
         "change_id bids asks trade_seq trade_id price amount direction best_bid_price best_bid_amount "
         "best_ask_price best_ask_amount order trades order_id order_state filled_amount average_price code").split()
(K_JSONRPC, K_METHOD, K_PARAMS, K_ID, K_RESULT, K_ERROR, K_USOUT, K_CHANNEL, K_DATA, K_TYPE, K_TIMESTAMP,
 K_PREV_CHANGE_ID, K_INSTRUMENT, K_CHANGE_ID, K_BIDS, K_ASKS, K_TRADE_SEQ, K_TRADE_ID, K_PRICE, K_AMOUNT,
 K_DIRECTION, K_BEST_BID_PRICE, K_BEST_BID_AMOUNT, K_BEST_ASK_PRICE, K_BEST_ASK_AMOUNT, K_ORDER, K_TRADES,
 K_ORDER_ID, K_ORDER_STATE, K_FILLED, K_AVG_PRICE, K_CODE) = range(len(_KEYS))
_MAXK = max(len(k) for k in _KEYS)
_KEY_BYTES = np.zeros((len(_KEYS), _MAXK), dtype=np.uint8)
_KEY_LEN = np.array([len(k) for k in _KEYS], dtype=np.int64)
for _i, _k in enumerate(_KEYS):
    _KEY_BYTES[_i, :len(_k)] = np.frombuffer(_k.encode(), dtype=np.uint8)
_BY_LEN = sorted(range(len(_KEYS)), key=lambda i: len(_KEYS[i]))
_LEN_IDS = np.array(_BY_LEN, dtype=np.int64)
_LEN_START = np.searchsorted(np.array([len(_KEYS[i]) for i in _BY_LEN]), np.arange(_MAXK + 2)).astype(np.int64)

_SUBSCRIPTION = const("subscription")
_BOOK = const("book.")
_TRADES = const("trades.")
_TICKER = const("ticker.")
_RAW, _100MS, _AGG2 = const("raw"), const("100ms"), const("agg2")
_SNAPSHOT, _CHANGE, _NEW, _DELETE = const("snapshot"), const("change"), const("new"), const("delete")
_BUY, _SELL = const("buy"), const("sell")
_OSTATES = [const(n) for n in OST_NAMES[1:]]
_OST_OPEN, _OST_FILLED, _OST_REJECTED, _OST_CANCELLED, _OST_UNTRIGGERED, _OST_TRIGGERED = _OSTATES

CH_BOOK, CH_TRADES, CH_TICKER = 1, 2, 3
ACTION_NAMES = {"new": ACT_LEVEL_NEW, "change": ACT_LEVEL_CHANGE, "delete": ACT_LEVEL_DELETE}
MS_TO_NS = 1_000_000  # exchange ms -> ns
MAX_MS = 9_223_372_036_854  # |timestamp| in ms whose ns value fits an int64



# ---------------------------------------------------------------------------------------------------------------
# Compiled scanners for the message shapes

@njit(cache=True, _nrt=False)
def _key_id(b, s, e):
    n = e - s
    if n > _MAXK:
        return -1
    for j in range(_LEN_START[n], _LEN_START[n + 1]):
        k = _LEN_IDS[j]
        same = True
        for i in range(n):
            if _KEY_BYTES[k, i] != b[s + i]:
                same = False
                break
        if same:
            return k
    return -1


@njit(cache=True, _nrt=False)
def _next_key(b, p, e, first):
    """At an object member position (after '{' or after a value): returns (pos of value, key id, key start,
    key end) or (status, ...). Key id -2 marks the end of the object (pos after '}')."""
    p = ws(b, p, e)
    if p >= e:
        return INVALID, 0, 0, 0
    c = b[p]
    if c == RBRACE:
        return p + 1, -2, 0, 0
    if not first:
        if c != COMMA:
            return INVALID, 0, 0, 0
        p = ws(b, p + 1, e)
        if p >= e:
            return INVALID, 0, 0, 0
        c = b[p]
    if c != QUOTE:
        return INVALID, 0, 0, 0
    ks = p + 1
    p, esc = skip_string(b, p, e)
    if p < 0:
        return p, 0, 0, 0
    if esc:
        return UNCERTAIN, 0, 0, 0  # an escaped key could spell a known one
    ke = p - 1
    p = ws(b, p, e)
    if p >= e or b[p] != COLON:
        return INVALID, 0, 0, 0
    return ws(b, p + 1, e), _key_id(b, ks, ke), ks, ke


@njit(cache=True, _nrt=False)
def _open(b, p, e, ch):
    """Expect the container opener ``ch`` at p: (position after it, 1) or (status, 0)."""
    if p >= e:
        return INVALID, 0
    if b[p] != ch:
        return UNKNOWN, 0
    return p + 1, 1


@njit(cache=True, _nrt=False)
def _string(b, p, e):
    """A string value without escapes: (next pos, start, end) or (status, 0, 0). Not a string: UNKNOWN."""
    if p >= e:
        return INVALID, 0, 0
    if b[p] != QUOTE:
        return UNKNOWN, 0, 0
    q, esc = skip_string(b, p, e)
    if q < 0:
        return q, 0, 0
    if esc:
        return UNCERTAIN, 0, 0
    return q, p + 1, q - 1


@njit(cache=True, _nrt=False)
def _int(b, p, e):
    """An integer literal: (next pos, value) or (status, 0)."""
    if p >= e:
        return INVALID, 0
    c = b[p]
    if c != MINUS and not (DIGIT_0 <= c <= DIGIT_9):
        return UNKNOWN, 0
    q, m, x, is_int, exact = parse_number(b, p, e, 18)
    if q < 0:
        return q, 0
    if not is_int or not exact:
        return UNCERTAIN, 0
    return q, m


@njit(cache=True, _nrt=False)
def _num(b, p, e):
    """A number decoded exactly: (next pos, mantissa, exponent) or (status, 0, 0)."""
    if p >= e:
        return INVALID, 0, 0
    c = b[p]
    if c != MINUS and not (DIGIT_0 <= c <= DIGIT_9):
        return UNKNOWN, 0, 0
    q, m, x, is_int, exact = parse_number(b, p, e, MAX_DIGITS)
    if q < 0:
        return q, 0, 0
    if not exact:
        return UNCERTAIN, 0, 0
    return q, m, x


@njit(cache=True, _nrt=False)
def _channel(b, s, e):
    """Classify a channel name: (kind CH_* or 0, instrument start, instrument end)."""
    if e - s > 7 and eq_const(b, s, s + 7, _TRADES):
        return CH_TRADES, 0, 0
    kind = 0
    if e - s > 5 and eq_const(b, s, s + 5, _BOOK):
        kind = CH_BOOK
        i0 = s + 5
    elif e - s > 7 and eq_const(b, s, s + 7, _TICKER):
        kind = CH_TICKER
        i0 = s + 7
    else:
        return 0, 0, 0
    dot = -1
    for i in range(i0, e):
        if b[i] == DOT:
            if dot >= 0:
                return 0, 0, 0  # more than three parts: grouped book etc.
            dot = i
    if dot <= i0:
        return 0, 0, 0
    if kind == CH_BOOK and not (eq_const(b, dot + 1, e, _RAW) or eq_const(b, dot + 1, e, _100MS)
                                or eq_const(b, dot + 1, e, _AGG2)):
        return 0, 0, 0
    return kind, i0, dot


@njit(cache=True, _nrt=False)
def _levels(b, p, e, side, ev, n, cap):
    """A JSON array of [action, price, amount] at p: events with raw mantissas (price/amount) and exponents
    (change_id/prev_change_id) — converted once the instrument is known. Returns (next pos, n)."""
    p, ok = _open(b, p, e, 91)
    if not ok:
        return p, n
    p = ws(b, p, e)
    if p < e and b[p] == RBRACKET:
        return p + 1, n
    while True:
        p = ws(b, p, e)
        p, ok = _open(b, p, e, 91)
        if not ok:
            return (UNCERTAIN if p == UNKNOWN else p), n
        p = ws(b, p, e)
        p, s0, s1 = _string(b, p, e)
        if p < 0:
            return (UNCERTAIN if p == UNKNOWN else p), n
        c0 = b[s0] if s1 > s0 else 0  # dispatch on the first letter, then confirm the whole word
        if c0 == LOWER_N and eq_const(b, s0, s1, _NEW):
            action = ACT_LEVEL_NEW
        elif c0 == LOWER_C and eq_const(b, s0, s1, _CHANGE):
            action = ACT_LEVEL_CHANGE
        elif c0 == LOWER_D and eq_const(b, s0, s1, _DELETE):
            action = ACT_LEVEL_DELETE
        else:
            return UNCERTAIN, n
        p = ws(b, p, e)
        if p >= e or b[p] != COMMA:
            return UNCERTAIN, n
        p = ws(b, p + 1, e)
        p, pm, px = _num(b, p, e)
        if p < 0:
            return (UNCERTAIN if p == UNKNOWN else p), n
        p = ws(b, p, e)
        if p >= e or b[p] != COMMA:
            return UNCERTAIN, n
        p = ws(b, p + 1, e)
        p, am, ax = _num(b, p, e)
        if p < 0:
            return (UNCERTAIN if p == UNKNOWN else p), n
        p = ws(b, p, e)
        if p >= e or b[p] != RBRACKET:
            return UNCERTAIN, n
        if n >= cap:
            return CAPACITY, n
        r = ev[n]
        r.kind = EV_BOOK
        r.side = side
        r.action = action
        r.price = pm
        r.change_id = px
        r.amount = am
        r.prev_change_id = ax
        n += 1
        p = ws(b, p + 1, e)
        if p >= e:
            return INVALID, n
        if b[p] == RBRACKET:
            return p + 1, n
        if b[p] != COMMA:
            return INVALID, n
        p += 1


@njit(cache=True, _nrt=False)
def _to_ticks(insts, inst, m, x):
    return scaled_int(m, x, insts[inst].tick_num, insts[inst].tick_scale)


@njit(cache=True, _nrt=False)
def _to_lots(insts, inst, m, x):
    return scaled_int(m, x, insts[inst].lot_num, insts[inst].lot_scale)


@njit(cache=True, _nrt=False)
def _book_data(b, p, e, insts, ci0, ci1, ev, n0, msg, recv_ts):
    """A book notification's data object at p. Returns (next pos or status, events end)."""
    p, ok = _open(b, p, e, 123)
    if not ok:
        return (UNCERTAIN if p == UNKNOWN else p), n0
    cap = ev.shape[0]
    n = n0
    seen = np.int64(0)
    snapshot = -1
    ts = 0
    cid = 0
    prev = -1
    i0 = 0
    i1 = 0
    first = True
    while True:
        p, k, ks, ke = _next_key(b, p, e, first)
        first = False
        if p < 0:
            return p, n0
        if k == -2:
            break
        if k >= 0:
            if seen & (np.int64(1) << k):
                if k in (K_TYPE, K_TIMESTAMP, K_CHANGE_ID, K_PREV_CHANGE_ID, K_INSTRUMENT, K_BIDS, K_ASKS):
                    return UNCERTAIN, n0
            seen |= np.int64(1) << k
        if k == K_TYPE:
            p, s0, s1 = _string(b, p, e)
            if p >= 0:
                if eq_const(b, s0, s1, _SNAPSHOT):
                    snapshot = 1
                elif eq_const(b, s0, s1, _CHANGE):
                    snapshot = 0
                else:
                    return UNCERTAIN, n0
        elif k == K_TIMESTAMP:
            p, ts = _int(b, p, e)
            if p >= 0 and abs(ts) > MAX_MS:
                return UNCERTAIN, n0
        elif k == K_CHANGE_ID:
            p, cid = _int(b, p, e)
        elif k == K_PREV_CHANGE_ID:
            p, prev = _int(b, p, e)
        elif k == K_INSTRUMENT:
            p, i0, i1 = _string(b, p, e)
        elif k == K_BIDS:
            p, n = _levels(b, p, e, BOOK_BID, ev, n, cap)
        elif k == K_ASKS:
            p, n = _levels(b, p, e, BOOK_ASK, ev, n, cap)
        else:
            p = skip_value(b, p, e)
        if p < 0:
            return (UNCERTAIN if p == UNKNOWN else p), n0
    need = ((1 << K_TYPE) | (1 << K_TIMESTAMP) | (1 << K_CHANGE_ID) | (1 << K_INSTRUMENT) | (1 << K_BIDS)
            | (1 << K_ASKS))
    if (seen & need) != need or (snapshot == 0 and not seen & (1 << K_PREV_CHANGE_ID)):
        return UNCERTAIN, n0
    if not eq_const(b, i0, i1, b[ci0:ci1]):
        return UNCERTAIN, n0
    inst = lookup_instrument(insts, b, i0, i1)
    if inst < 0:
        return NO_INSTRUMENT, n0
    if n == n0:
        if n >= cap:
            return CAPACITY, n0
        ev[n].kind = EV_BOOK
        ev[n].side = BOOK_BID
        ev[n].action = ACT_LEVEL_NONE
        ev[n].price = 0
        ev[n].amount = 0
        ev[n].change_id = 0
        ev[n].prev_change_id = 0
        n += 1
    for j in range(n0, n):
        r = ev[j]
        if r.action != ACT_LEVEL_NONE:
            t, ok = _to_ticks(insts, inst, r.price, r.change_id)
            a, ok2 = _to_lots(insts, inst, r.amount, r.prev_change_id)
            if not (ok and ok2):
                return UNCERTAIN, n0
            r.price = t
            r.amount = a
        f = EVF_SNAPSHOT if snapshot == 1 else 0
        if j == n0:
            f |= EVF_FIRST
        if j == n - 1:
            f |= EVF_LAST
        r.flags = f
        r.inst = inst
        r.exch_ts = ts * MS_TO_NS
        r.recv_ts = recv_ts
        r.change_id = cid
        r.prev_change_id = -1 if snapshot == 1 else prev
        r.msg = msg
    return p, n


@njit(cache=True, _nrt=False)
def _trade(b, p, e, insts, ev, n, msg, recv_ts):
    """One public trade object at p -> one EV_TRADE at ev[n]. Returns (next pos or status, n)."""
    p, ok = _open(b, p, e, 123)
    if not ok:
        return (UNCERTAIN if p == UNKNOWN else p), n
    seen = np.int64(0)
    first = True
    seq = tid = ts = pm = px = am = ax = 0
    i0 = i1 = 0
    side = 0
    while True:
        p, k, ks, ke = _next_key(b, p, e, first)
        first = False
        if p < 0:
            return p, n
        if k == -2:
            break
        if k in (K_TRADE_SEQ, K_TRADE_ID, K_TIMESTAMP, K_PRICE, K_AMOUNT, K_DIRECTION, K_INSTRUMENT):
            if seen & (np.int64(1) << k):
                return UNCERTAIN, n
            seen |= np.int64(1) << k
        if k == K_TRADE_SEQ:
            p, seq = _int(b, p, e)
        elif k == K_TRADE_ID:
            p, s0, s1 = _string(b, p, e)
            if p >= 0:
                if s1 == s0 or s1 - s0 > 18:
                    return UNCERTAIN, n
                for i in range(s0, s1):
                    if b[i] < DIGIT_0 or b[i] > DIGIT_9:
                        return UNCERTAIN, n
                    tid = tid * 10 + (b[i] - 48)
        elif k == K_TIMESTAMP:
            p, ts = _int(b, p, e)
            if p >= 0 and abs(ts) > MAX_MS:
                return UNCERTAIN, n
        elif k == K_PRICE:
            p, pm, px = _num(b, p, e)
        elif k == K_AMOUNT:
            p, am, ax = _num(b, p, e)
        elif k == K_DIRECTION:
            p, s0, s1 = _string(b, p, e)
            if p >= 0:
                if eq_const(b, s0, s1, _BUY):
                    side = BOOK_BID
                elif eq_const(b, s0, s1, _SELL):
                    side = BOOK_ASK
                else:
                    return UNCERTAIN, n
        elif k == K_INSTRUMENT:
            p, i0, i1 = _string(b, p, e)
        else:
            p = skip_value(b, p, e)
        if p < 0:
            return (UNCERTAIN if p == UNKNOWN else p), n
    if seen != ((1 << K_TRADE_SEQ) | (1 << K_TRADE_ID) | (1 << K_TIMESTAMP) | (1 << K_PRICE) | (1 << K_AMOUNT)
                | (1 << K_DIRECTION) | (1 << K_INSTRUMENT)):
        return UNCERTAIN, n
    inst = lookup_instrument(insts, b, i0, i1)
    if inst < 0:
        return NO_INSTRUMENT, n
    t, ok = _to_ticks(insts, inst, pm, px)
    a, ok2 = _to_lots(insts, inst, am, ax)
    if not (ok and ok2):
        return UNCERTAIN, n
    if n >= ev.shape[0]:
        return CAPACITY, n
    r = ev[n]
    r.kind = EV_TRADE
    r.side = side
    r.action = 0
    r.flags = 0
    r.inst = inst
    r.exch_ts = ts * MS_TO_NS
    r.recv_ts = recv_ts
    r.change_id = tid
    r.prev_change_id = seq
    r.price = t
    r.amount = a
    r.msg = msg
    return p, n + 1


@njit(cache=True, _nrt=False)
def _trades_data(b, p, e, insts, ev, n0, msg, recv_ts):
    p, ok = _open(b, p, e, 91)
    if not ok:
        return (UNCERTAIN if p == UNKNOWN else p), n0
    n = n0
    p = ws(b, p, e)
    if p < e and b[p] == RBRACKET:
        return p + 1, n
    while True:
        p = ws(b, p, e)
        p, n = _trade(b, p, e, insts, ev, n, msg, recv_ts)
        if p < 0:
            return p, n0
        p = ws(b, p, e)
        if p >= e:
            return INVALID, n0
        if b[p] == RBRACKET:
            p += 1
            break
        if b[p] != COMMA:
            return INVALID, n0
        p += 1
    for j in range(n0, n):
        f = 0
        if j == n0:
            f |= EVF_FIRST
        if j == n - 1:
            f |= EVF_LAST
        ev[j].flags = f
    return p, n


@njit(cache=True, _nrt=False)
def _ticker_data(b, p, e, insts, ci0, ci1, ev, n0, msg, recv_ts):
    p, ok = _open(b, p, e, 123)
    if not ok:
        return (UNCERTAIN if p == UNKNOWN else p), n0
    seen = np.int64(0)
    first = True
    ts = bpm = bpx = bam = bax = apm = apx = aam = aax = 0
    i0 = i1 = 0
    while True:
        p, k, ks, ke = _next_key(b, p, e, first)
        first = False
        if p < 0:
            return p, n0
        if k == -2:
            break
        if k in (K_TIMESTAMP, K_INSTRUMENT, K_BEST_BID_PRICE, K_BEST_BID_AMOUNT, K_BEST_ASK_PRICE,
                 K_BEST_ASK_AMOUNT):
            if seen & (np.int64(1) << k):
                return UNCERTAIN, n0
            seen |= np.int64(1) << k
        if k == K_TIMESTAMP:
            p, ts = _int(b, p, e)
            if p >= 0 and abs(ts) > MAX_MS:
                return UNCERTAIN, n0
        elif k == K_INSTRUMENT:
            p, i0, i1 = _string(b, p, e)
        elif k == K_BEST_BID_PRICE:
            p, bpm, bpx = _num(b, p, e)
        elif k == K_BEST_BID_AMOUNT:
            p, bam, bax = _num(b, p, e)
        elif k == K_BEST_ASK_PRICE:
            p, apm, apx = _num(b, p, e)
        elif k == K_BEST_ASK_AMOUNT:
            p, aam, aax = _num(b, p, e)
        else:
            p = skip_value(b, p, e)
        if p < 0:
            return (UNCERTAIN if p == UNKNOWN else p), n0
    if seen != ((1 << K_TIMESTAMP) | (1 << K_INSTRUMENT) | (1 << K_BEST_BID_PRICE) | (1 << K_BEST_BID_AMOUNT)
                | (1 << K_BEST_ASK_PRICE) | (1 << K_BEST_ASK_AMOUNT)):
        return UNCERTAIN, n0
    if not eq_const(b, i0, i1, b[ci0:ci1]):
        return UNCERTAIN, n0
    inst = lookup_instrument(insts, b, i0, i1)
    if inst < 0:
        return NO_INSTRUMENT, n0
    if n0 + 2 > ev.shape[0]:
        return CAPACITY, n0
    for j in range(2):
        if j == 0:
            t, ok = _to_ticks(insts, inst, bpm, bpx)
            a, ok2 = _to_lots(insts, inst, bam, bax)
        else:
            t, ok = _to_ticks(insts, inst, apm, apx)
            a, ok2 = _to_lots(insts, inst, aam, aax)
        if not (ok and ok2):
            return UNCERTAIN, n0
        r = ev[n0 + j]
        r.kind = EV_TICKER
        r.side = BOOK_BID if j == 0 else BOOK_ASK
        r.action = 0
        r.flags = EVF_FIRST if j == 0 else EVF_LAST
        r.inst = inst
        r.exch_ts = ts * MS_TO_NS
        r.recv_ts = recv_ts
        r.change_id = 0
        r.prev_change_id = 0
        r.price = t
        r.amount = a
        r.msg = msg
    return p, n0 + 2


@njit(cache=True, _nrt=False)
def _data(b, p, e, kind, ci0, ci1, insts, ev, n, msg, recv_ts):
    if kind == CH_BOOK:
        return _book_data(b, p, e, insts, ci0, ci1, ev, n, msg, recv_ts)
    if kind == CH_TRADES:
        return _trades_data(b, p, e, insts, ev, n, msg, recv_ts)
    return _ticker_data(b, p, e, insts, ci0, ci1, ev, n, msg, recv_ts)


@njit(cache=True, _nrt=False)
def _params(b, p, e, insts, ev, n0, msg, recv_ts):
    """The params object of a subscription notification. Returns (next pos or status, events end)."""
    p, ok = _open(b, p, e, 123)
    if not ok:
        return p, n0
    n = n0
    first = True
    kind = -1
    ci0 = ci1 = 0
    d0 = -1
    parsed = False
    while True:
        p, k, ks, ke = _next_key(b, p, e, first)
        first = False
        if p < 0:
            return p, n0
        if k == -2:
            break
        if k == K_CHANNEL:
            if kind != -1:
                return UNCERTAIN, n0
            p, s0, s1 = _string(b, p, e)
            if p < 0:
                return p, n0
            kind, ci0, ci1 = _channel(b, s0, s1)
            if kind == 0:
                return UNKNOWN, n0
        elif k == K_DATA:
            if d0 != -1:
                return UNCERTAIN, n0
            d0 = p
            if kind > 0:
                p, n = _data(b, p, e, kind, ci0, ci1, insts, ev, n, msg, recv_ts)
                parsed = True
            else:
                p = skip_value(b, p, e)
        else:
            p = skip_value(b, p, e)
        if p < 0:
            return p, n0
    if kind <= 0 or d0 < 0:
        return UNKNOWN, n0
    if not parsed:  # data came before channel
        q, n = _data(b, d0, e, kind, ci0, ci1, insts, ev, n0, msg, recv_ts)
        if q < 0:
            return q, n0
    return p, n


@njit(cache=True, _nrt=False)
def _order_fields(b, p, e, k, r, insts):
    """Store one order field (key id k) at p into the response record r. Returns next pos or status."""
    if k == K_ORDER_ID:
        p, s0, s1 = _string(b, p, e)
        if p >= 0:
            if s1 - s0 > RESP_ORDER_ID_BYTES or s1 == s0:
                return UNCERTAIN
            for i in range(s0, s1):
                if b[i] >= NON_ASCII:
                    return UNCERTAIN
                r.oid[i - s0] = b[i]
            for i in range(s1 - s0, RESP_ORDER_ID_BYTES):
                r.oid[i] = 0
            r.oid_len = s1 - s0
        return p
    if k == K_ORDER_STATE:
        p, s0, s1 = _string(b, p, e)
        if p >= 0:
            if eq_const(b, s0, s1, _OST_OPEN):
                r.order_state = 1
            elif eq_const(b, s0, s1, _OST_FILLED):
                r.order_state = 2
            elif eq_const(b, s0, s1, _OST_REJECTED):
                r.order_state = 3
            elif eq_const(b, s0, s1, _OST_CANCELLED):
                r.order_state = 4
            elif eq_const(b, s0, s1, _OST_UNTRIGGERED):
                r.order_state = 5
            elif eq_const(b, s0, s1, _OST_TRIGGERED):
                r.order_state = 6
            else:
                return UNCERTAIN
        return p
    if k == K_DIRECTION:
        p, s0, s1 = _string(b, p, e)
        if p >= 0:
            if eq_const(b, s0, s1, _BUY):
                r.side = BOOK_BID
            elif eq_const(b, s0, s1, _SELL):
                r.side = BOOK_ASK
            else:
                return UNCERTAIN
        return p
    if k == K_INSTRUMENT:
        p, s0, s1 = _string(b, p, e)
        if p >= 0:
            r.inst = lookup_instrument(insts, b, s0, s1)
        return p
    # numbers: keep mantissa in the int field and exponent in... floats computed right away
    p, m, x = _num(b, p, e)
    if p < 0:
        return p
    f, ok = exact_float(m, x)
    if not ok:
        return UNCERTAIN
    if k == K_PRICE:
        r.price_f = f
        r.price = m
        r.us_out = x  # temporary: exponent of price (fixed up in _result)
    elif k == K_AMOUNT:
        r.amount_f = f
        r.amount = m
        r.err_code = x  # temporary: exponent of amount
    elif k == K_FILLED:
        r.filled_f = f
        r.filled = m
        r.recv_ts = x  # temporary: exponent of filled_amount
    else:
        r.average_price = f
    return p


_ORDER_NEED = ((1 << K_ORDER_ID) | (1 << K_ORDER_STATE) | (1 << K_DIRECTION) | (1 << K_INSTRUMENT)
               | (1 << K_PRICE) | (1 << K_AMOUNT) | (1 << K_FILLED) | (1 << K_AVG_PRICE))


@njit(cache=True, _nrt=False)
def _result(b, p, e, r, insts):
    """A result object that is an order, bare or as {"order": ..., "trades": [...]}. Returns next pos or status."""
    p, ok = _open(b, p, e, 123)
    if not ok:
        return UNKNOWN if p == UNKNOWN else p
    seen = np.int64(0)
    level = 0
    first = True
    nested = False
    while True:
        p, k, ks, ke = _next_key(b, p, e, first)
        first = False
        if p < 0:
            return p
        if k == -2:
            if level == 1:
                level = 0
                continue
            break
        if level == 0 and k == K_ORDER:
            if nested or seen:
                return UNCERTAIN
            p, ok = _open(b, p, e, 123)
            if not ok:
                return UNKNOWN if p == UNKNOWN else p
            nested = True
            level = 1
            first = True
            continue
        if (np.int64(1) << max(k, 0)) & _ORDER_NEED and k >= 0 and (level == 1 or not nested):
            if seen & (np.int64(1) << k):
                return UNCERTAIN
            seen |= np.int64(1) << k
            p = _order_fields(b, p, e, k, r, insts)
        elif level == 0 and nested and k >= 0 and (np.int64(1) << k) & _ORDER_NEED:
            return UNCERTAIN  # order fields both inside and outside "order"
        else:
            p = skip_value(b, p, e)
        if p < 0:
            return UNCERTAIN if p == UNKNOWN else p
    if seen == 0 and not nested:
        return UNKNOWN
    if seen != _ORDER_NEED:
        return UNCERTAIN
    px, ax, fx = r.us_out, r.err_code, r.recv_ts
    if r.inst >= 0:
        t, ok = _to_ticks(insts, r.inst, r.price, px)
        a, ok2 = _to_lots(insts, r.inst, r.amount, ax)
        f, ok3 = _to_lots(insts, r.inst, r.filled, fx)
        if not (ok and ok2 and ok3):
            return UNCERTAIN
        r.price = t
        r.amount = a
        r.filled = f
    else:
        r.price = 0
        r.amount = 0
        r.filled = 0
    r.us_out = 0
    r.err_code = 0
    r.recv_ts = 0
    r.kind = RESP_ORDER
    return p


@njit(cache=True, _nrt=False)
def _error(b, p, e, r):
    p, ok = _open(b, p, e, 123)
    if not ok:
        return UNKNOWN if p == UNKNOWN else p
    first = True
    code_seen = False
    while True:
        p, k, ks, ke = _next_key(b, p, e, first)
        first = False
        if p < 0:
            return p
        if k == -2:
            break
        if k == K_CODE:
            if code_seen:
                return UNCERTAIN
            code_seen = True
            p, c = _int(b, p, e)
            r.err_code = c
        else:
            p = skip_value(b, p, e)
        if p < 0:
            return UNCERTAIN if p == UNKNOWN else p
    if not code_seen:
        return UNCERTAIN
    r.kind = RESP_ERROR
    return p


@njit(cache=True, _nrt=False)
def decode_message(b, s, e, insts, ev, n_ev, resps, n_resp, msg, recv_ts):
    """Decode the JSON message b[s:e]. Returns (status, n_ev, n_resp): status DEC_EVENTS or DEC_RESPONSE with
    the records appended, or a negative status (INVALID/UNCERTAIN/UNKNOWN/CAPACITY/NO_INSTRUMENT) with nothing
    appended."""
    p = ws(b, s, e)
    p, ok = _open(b, p, e, 123)
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
        p, k, ks, ke = _next_key(b, p, e, first)
        first = False
        if p < 0:
            return p, n_ev, n_resp
        if k == -2:
            break
        if k >= 0:
            if seen & (np.int64(1) << k):
                if k in (K_METHOD, K_PARAMS, K_ID, K_RESULT, K_ERROR, K_USOUT):
                    return UNCERTAIN, n_ev, n_resp
            seen |= np.int64(1) << k
        if k == K_METHOD:
            p, s0, s1 = _string(b, p, e)
            if p < 0:
                return (UNKNOWN if p == UNKNOWN else p), n_ev, n_resp
            if not eq_const(b, s0, s1, _SUBSCRIPTION):
                return UNKNOWN, n_ev, n_resp
            is_sub = True
            if params0 >= 0:
                q, n = _params(b, params0, e, insts, ev, n, msg, recv_ts)
                if q < 0:
                    return q, n_ev, n_resp
        elif k == K_PARAMS:
            if is_sub:
                p, n = _params(b, p, e, insts, ev, n, msg, recv_ts)
            else:
                params0 = p
                p = skip_value(b, p, e)
        elif k == K_ID:
            p, rid = _int(b, p, e)
        elif k == K_USOUT:
            p, us_out = _int(b, p, e)
        elif k == K_RESULT:
            p = _result(b, p, e, r, insts)
        elif k == K_ERROR:
            p = _error(b, p, e, r)
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


_STATUS_TO_FB = np.array([0, FB_INVALID, FB_UNCERTAIN, FB_UNKNOWN, FB_CAPACITY, FB_INSTRUMENT], dtype=np.int64)


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


