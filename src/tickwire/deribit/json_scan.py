"""Scanner primitives of the compiled Deribit JSON decoder (:mod:`tickwire.deribit.json_decode`).

The table of keys the decoder knows (an id each, below 64, so a bit mask catches a duplicate key), object members,
escape-free strings, exact decimal numbers, directions, and the exact scaling of a decimal mantissa to integer ticks
and lots of an instrument. Each returns the next position, or a negative status from ``netstack._fp_json``
(INVALID / UNCERTAIN / UNKNOWN / CAPACITY) that the caller passes up, so a message is never half-decoded.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tickwire.netstack._fp_json import (
    INVALID, MAX_DIGITS, UNCERTAIN, UNKNOWN, const, eq_const, parse_number, scaled_int, skip_string, ws,
)
from tickwire.netstack.ascii import COLON, COMMA, DIGIT_0, DIGIT_9, MINUS, QUOTE, RBRACE
from tickwire.types import SIDE_BUY, SIDE_SELL

NO_INSTRUMENT = -5  # decoder status: the instrument is not in the table
MS_TO_NS = 1_000_000  # exchange ms -> ns
MAX_MS = 9_223_372_036_854  # |timestamp| in ms whose ns value fits an int64

# Known keys: an id each (< 64, the duplicate-key check uses a bit mask).
_KEYS = ("jsonrpc method params id result error usOut channel data type timestamp prev_change_id instrument_name "
         "change_id bids asks trade_seq trade_id price amount direction best_bid_price best_bid_amount "
         "best_ask_price best_ask_amount order trades order_id order_state filled_amount average_price code").split()
(K_JSONRPC, K_METHOD, K_PARAMS, K_ID, K_RESULT, K_ERROR, K_USOUT, K_CHANNEL, K_DATA, K_TYPE, K_TIMESTAMP,
 K_PREV_CHANGE_ID, K_INSTRUMENT, K_CHANGE_ID, K_BIDS, K_ASKS, K_TRADE_SEQ, K_TRADE_ID, K_PRICE, K_AMOUNT,
 K_DIRECTION, K_BEST_BID_PRICE, K_BEST_BID_AMOUNT, K_BEST_ASK_PRICE, K_BEST_ASK_AMOUNT, K_ORDER, K_TRADES,
 K_ORDER_ID, K_ORDER_STATE, K_FILLED, K_AVG_PRICE, K_CODE) = range(len(_KEYS))
KEY_END = -2  # next_key's key id at the end of an object
_MAXK = max(len(k) for k in _KEYS)
_KEY_BYTES = np.zeros((len(_KEYS), _MAXK), dtype=np.uint8)
for _i, _k in enumerate(_KEYS):
    _KEY_BYTES[_i, :len(_k)] = np.frombuffer(_k.encode(), dtype=np.uint8)
_BY_LEN = sorted(range(len(_KEYS)), key=lambda i: len(_KEYS[i]))
_LEN_IDS = np.array(_BY_LEN, dtype=np.int64)
_LEN_START = np.searchsorted(np.array([len(_KEYS[i]) for i in _BY_LEN]), np.arange(_MAXK + 2)).astype(np.int64)

_BUY, _SELL = const("buy"), const("sell")


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
def next_key(b, p, e, first):
    """At an object member position (after '{' or after a value): returns (pos of value, key id, key start,
    key end) or (status, ...). Key id KEY_END marks the end of the object (pos after '}')."""
    p = ws(b, p, e)
    if p >= e:
        return INVALID, 0, 0, 0
    c = b[p]
    if c == RBRACE:
        return p + 1, KEY_END, 0, 0
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
def open_container(b, p, e, ch):
    """Expect the container opener ``ch`` at p: (position after it, 1) or (status, 0)."""
    if p >= e:
        return INVALID, 0
    if b[p] != ch:
        return UNKNOWN, 0
    return p + 1, 1


@njit(cache=True, _nrt=False)
def string_value(b, p, e):
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
def int_value(b, p, e):
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
def number_value(b, p, e):
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
def timestamp_value(b, p, e):
    """An exchange timestamp in ms: (next pos, ms) or (status, 0); one whose ns value would not fit an int64 is
    UNCERTAIN."""
    p, ms = int_value(b, p, e)
    if p >= 0 and abs(ms) > MAX_MS:
        return UNCERTAIN, 0
    return p, ms


@njit(cache=True, _nrt=False)
def side_value(b, p, e):
    """A direction, "buy" or "sell": (next pos, SIDE_BUY or SIDE_SELL) or (status, 0); any other word is UNCERTAIN."""
    p, s0, s1 = string_value(b, p, e)
    if p < 0:
        return p, 0
    if eq_const(b, s0, s1, _BUY):
        return p, SIDE_BUY
    if eq_const(b, s0, s1, _SELL):
        return p, SIDE_SELL
    return UNCERTAIN, 0


@njit(cache=True, _nrt=False)
def to_ticks(insts, inst, m, x):
    return scaled_int(m, x, insts[inst].tick_num, insts[inst].tick_scale)


@njit(cache=True, _nrt=False)
def to_lots(insts, inst, m, x):
    return scaled_int(m, x, insts[inst].lot_num, insts[inst].lot_scale)
