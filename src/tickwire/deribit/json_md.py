"""Market-data notifications in compiled code: a ``subscription`` message's params -> EVENT_DTYPE records.

- ``book.{instrument}.{raw|100ms|agg2}`` (type, timestamp, change_id, prev_change_id, levels ``[action, price,
  amount]``) -> one EV_BOOK event per level (flags EVF_FIRST/LAST and EVF_SNAPSHOT; a message without levels gives
  one event with action ACT_LEVEL_NONE);
- ``trades.*`` -> one EV_TRADE per trade (change_id = numeric trade_id, prev_change_id = trade_seq);
- ``ticker.{instrument}.{interval}`` -> two EV_TICKER events (BOOK_BID then BOOK_ASK: best price and amount).

Each decoder returns (next position or a negative status, events end); on a status nothing counts as appended.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tickwire.netstack._fp_json import CAPACITY, INVALID, UNCERTAIN, UNKNOWN, const, eq_const, skip_value, ws
from tickwire.netstack.ascii import (
    COMMA, DIGIT_0, DIGIT_9, DOT, LBRACE, LBRACKET, LOWER_C, LOWER_D, LOWER_N, RBRACKET,
)
from tickwire.types import (
    ACT_LEVEL_CHANGE, ACT_LEVEL_DELETE, ACT_LEVEL_NEW, ACT_LEVEL_NONE, BOOK_ASK, BOOK_BID, EV_BOOK, EV_TICKER,
    EV_TRADE, EVF_FIRST, EVF_LAST, EVF_SNAPSHOT,
)
from tickwire.deribit.instruments import lookup_instrument
from tickwire.deribit.json_scan import (
    K_AMOUNT, K_ASKS, K_BEST_ASK_AMOUNT, K_BEST_ASK_PRICE, K_BEST_BID_AMOUNT, K_BEST_BID_PRICE, K_BIDS, K_CHANGE_ID,
    K_CHANNEL, K_DATA, K_DIRECTION, K_INSTRUMENT, K_PREV_CHANGE_ID, K_PRICE, K_TIMESTAMP, K_TRADE_ID, K_TRADE_SEQ,
    K_TYPE, KEY_END, MS_TO_NS, NO_INSTRUMENT, int_value, next_key, number_value, open_container, side_value,
    string_value, timestamp_value, to_lots, to_ticks,
)

CH_BOOK, CH_TRADES, CH_TICKER = 1, 2, 3
ACTION_NAMES = {"new": ACT_LEVEL_NEW, "change": ACT_LEVEL_CHANGE, "delete": ACT_LEVEL_DELETE}

_BOOK = const("book.")
_TRADES = const("trades.")
_TICKER = const("ticker.")
_RAW, _100MS, _AGG2 = const("raw"), const("100ms"), const("agg2")
_SNAPSHOT, _CHANGE, _NEW, _DELETE = const("snapshot"), const("change"), const("new"), const("delete")


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
def _comma_number(b, p, e):
    """``, number`` inside a level: (next pos, mantissa, exponent) or (status, 0, 0); a missing comma or a value
    that is not a number is UNCERTAIN (the orjson path decides)."""
    p = ws(b, p, e)
    if p >= e or b[p] != COMMA:
        return UNCERTAIN, 0, 0
    p, m, x = number_value(b, ws(b, p + 1, e), e)
    if p == UNKNOWN:
        return UNCERTAIN, 0, 0
    return p, m, x


@njit(cache=True, _nrt=False)
def _levels(b, p, e, side, ev, n, cap):
    """A JSON array of [action, price, amount] at p: events with raw mantissas (price/amount) and exponents
    (change_id/prev_change_id) — converted once the instrument is known. Returns (next pos, n)."""
    p, ok = open_container(b, p, e, LBRACKET)
    if not ok:
        return p, n
    p = ws(b, p, e)
    if p < e and b[p] == RBRACKET:
        return p + 1, n
    while True:
        p = ws(b, p, e)
        p, ok = open_container(b, p, e, LBRACKET)
        if not ok:
            return (UNCERTAIN if p == UNKNOWN else p), n
        p = ws(b, p, e)
        p, s0, s1 = string_value(b, p, e)
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
        p, pm, px = _comma_number(b, p, e)
        if p < 0:
            return p, n
        p, am, ax = _comma_number(b, p, e)
        if p < 0:
            return p, n
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
def _book_data(b, p, e, insts, ci0, ci1, ev, n0, msg, recv_ts):
    """A book notification's data object at p. Returns (next pos or status, events end)."""
    p, ok = open_container(b, p, e, LBRACE)
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
        p, k, ks, ke = next_key(b, p, e, first)
        first = False
        if p < 0:
            return p, n0
        if k == KEY_END:
            break
        if k >= 0:
            if seen & (np.int64(1) << k):
                if k in (K_TYPE, K_TIMESTAMP, K_CHANGE_ID, K_PREV_CHANGE_ID, K_INSTRUMENT, K_BIDS, K_ASKS):
                    return UNCERTAIN, n0
            seen |= np.int64(1) << k
        if k == K_TYPE:
            p, s0, s1 = string_value(b, p, e)
            if p >= 0:
                if eq_const(b, s0, s1, _SNAPSHOT):
                    snapshot = 1
                elif eq_const(b, s0, s1, _CHANGE):
                    snapshot = 0
                else:
                    return UNCERTAIN, n0
        elif k == K_TIMESTAMP:
            p, ts = timestamp_value(b, p, e)
        elif k == K_CHANGE_ID:
            p, cid = int_value(b, p, e)
        elif k == K_PREV_CHANGE_ID:
            p, prev = int_value(b, p, e)
        elif k == K_INSTRUMENT:
            p, i0, i1 = string_value(b, p, e)
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
            t, ok = to_ticks(insts, inst, r.price, r.change_id)
            a, ok2 = to_lots(insts, inst, r.amount, r.prev_change_id)
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
    p, ok = open_container(b, p, e, LBRACE)
    if not ok:
        return (UNCERTAIN if p == UNKNOWN else p), n
    seen = np.int64(0)
    first = True
    seq = tid = ts = pm = px = am = ax = 0
    i0 = i1 = 0
    side = 0
    while True:
        p, k, ks, ke = next_key(b, p, e, first)
        first = False
        if p < 0:
            return p, n
        if k == KEY_END:
            break
        if k in (K_TRADE_SEQ, K_TRADE_ID, K_TIMESTAMP, K_PRICE, K_AMOUNT, K_DIRECTION, K_INSTRUMENT):
            if seen & (np.int64(1) << k):
                return UNCERTAIN, n
            seen |= np.int64(1) << k
        if k == K_TRADE_SEQ:
            p, seq = int_value(b, p, e)
        elif k == K_TRADE_ID:
            p, s0, s1 = string_value(b, p, e)
            if p >= 0:
                if s1 == s0 or s1 - s0 > 18:
                    return UNCERTAIN, n
                for i in range(s0, s1):
                    if b[i] < DIGIT_0 or b[i] > DIGIT_9:
                        return UNCERTAIN, n
                    tid = tid * 10 + (b[i] - 48)
        elif k == K_TIMESTAMP:
            p, ts = timestamp_value(b, p, e)
        elif k == K_PRICE:
            p, pm, px = number_value(b, p, e)
        elif k == K_AMOUNT:
            p, am, ax = number_value(b, p, e)
        elif k == K_DIRECTION:
            p, side = side_value(b, p, e)
        elif k == K_INSTRUMENT:
            p, i0, i1 = string_value(b, p, e)
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
    t, ok = to_ticks(insts, inst, pm, px)
    a, ok2 = to_lots(insts, inst, am, ax)
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
    p, ok = open_container(b, p, e, LBRACKET)
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
    p, ok = open_container(b, p, e, LBRACE)
    if not ok:
        return (UNCERTAIN if p == UNKNOWN else p), n0
    seen = np.int64(0)
    first = True
    ts = bpm = bpx = bam = bax = apm = apx = aam = aax = 0
    i0 = i1 = 0
    while True:
        p, k, ks, ke = next_key(b, p, e, first)
        first = False
        if p < 0:
            return p, n0
        if k == KEY_END:
            break
        if k in (K_TIMESTAMP, K_INSTRUMENT, K_BEST_BID_PRICE, K_BEST_BID_AMOUNT, K_BEST_ASK_PRICE,
                 K_BEST_ASK_AMOUNT):
            if seen & (np.int64(1) << k):
                return UNCERTAIN, n0
            seen |= np.int64(1) << k
        if k == K_TIMESTAMP:
            p, ts = timestamp_value(b, p, e)
        elif k == K_INSTRUMENT:
            p, i0, i1 = string_value(b, p, e)
        elif k == K_BEST_BID_PRICE:
            p, bpm, bpx = number_value(b, p, e)
        elif k == K_BEST_BID_AMOUNT:
            p, bam, bax = number_value(b, p, e)
        elif k == K_BEST_ASK_PRICE:
            p, apm, apx = number_value(b, p, e)
        elif k == K_BEST_ASK_AMOUNT:
            p, aam, aax = number_value(b, p, e)
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
            t, ok = to_ticks(insts, inst, bpm, bpx)
            a, ok2 = to_lots(insts, inst, bam, bax)
        else:
            t, ok = to_ticks(insts, inst, apm, apx)
            a, ok2 = to_lots(insts, inst, aam, aax)
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
def subscription_params(b, p, e, insts, ev, n0, msg, recv_ts):
    """The params object of a subscription notification. Returns (next pos or status, events end)."""
    p, ok = open_container(b, p, e, LBRACE)
    if not ok:
        return p, n0
    n = n0
    first = True
    kind = -1
    ci0 = ci1 = 0
    d0 = -1
    parsed = False
    while True:
        p, k, ks, ke = next_key(b, p, e, first)
        first = False
        if p < 0:
            return p, n0
        if k == KEY_END:
            break
        if k == K_CHANNEL:
            if kind != -1:
                return UNCERTAIN, n0
            p, s0, s1 = string_value(b, p, e)
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
