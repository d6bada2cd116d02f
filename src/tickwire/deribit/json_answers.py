"""Order answers in compiled code: a JSON-RPC ``result`` that is an order, or an ``error`` -> ORDER_RESP_DTYPE.

``private/cancel`` answers a bare order object; ``private/buy``, ``sell`` and ``edit`` answer ``{"order": ...,
"trades": [...]}``. Every order field the engine needs must be present exactly once, with an exact price and amount
in the instrument's ticks and lots; anything else is UNCERTAIN and goes to the orjson path.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tickwire.netstack._fp_json import UNCERTAIN, UNKNOWN, const, eq_const, exact_float, skip_value
from tickwire.netstack.ascii import LBRACE, NON_ASCII
from tickwire.types import OST_NAMES, RESP_ERROR, RESP_ORDER, RESP_ORDER_ID_BYTES
from tickwire.deribit.instruments import lookup_instrument
from tickwire.deribit.json_scan import (
    K_AMOUNT, K_AVG_PRICE, K_CODE, K_DIRECTION, K_FILLED, K_INSTRUMENT, K_ORDER, K_ORDER_ID, K_ORDER_STATE, K_PRICE,
    KEY_END, int_value, next_key, number_value, open_container, side_value, string_value, to_lots, to_ticks,
)

_OSTATES = [const(n) for n in OST_NAMES[1:]]
_OST_OPEN, _OST_FILLED, _OST_REJECTED, _OST_CANCELLED, _OST_UNTRIGGERED, _OST_TRIGGERED = _OSTATES


@njit(cache=True, _nrt=False)
def _order_fields(b, p, e, k, r, insts):
    """Store one order field (key id k) at p into the response record r. Returns next pos or status."""
    if k == K_ORDER_ID:
        p, s0, s1 = string_value(b, p, e)
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
        p, s0, s1 = string_value(b, p, e)
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
        p, side = side_value(b, p, e)
        if p >= 0:
            r.side = side
        return p
    if k == K_INSTRUMENT:
        p, s0, s1 = string_value(b, p, e)
        if p >= 0:
            r.inst = lookup_instrument(insts, b, s0, s1)
        return p
    # numbers: keep mantissa in the int field and exponent in... floats computed right away
    p, m, x = number_value(b, p, e)
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
def order_result(b, p, e, r, insts):
    """A result object that is an order, bare or as {"order": ..., "trades": [...]}. Returns next pos or status."""
    p, ok = open_container(b, p, e, LBRACE)
    if not ok:
        return p
    seen = np.int64(0)
    level = 0
    first = True
    nested = False
    while True:
        p, k, ks, ke = next_key(b, p, e, first)
        first = False
        if p < 0:
            return p
        if k == KEY_END:
            if level == 1:
                level = 0
                continue
            break
        if level == 0 and k == K_ORDER:
            if nested or seen:
                return UNCERTAIN
            p, ok = open_container(b, p, e, LBRACE)
            if not ok:
                return p
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
        t, ok = to_ticks(insts, r.inst, r.price, px)
        a, ok2 = to_lots(insts, r.inst, r.amount, ax)
        f, ok3 = to_lots(insts, r.inst, r.filled, fx)
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
def error_object(b, p, e, r):
    """An error object at p: its ``code`` into r (RESP_ERROR). Returns next pos or status."""
    p, ok = open_container(b, p, e, LBRACE)
    if not ok:
        return p
    first = True
    code_seen = False
    while True:
        p, k, ks, ke = next_key(b, p, e, first)
        first = False
        if p < 0:
            return p
        if k == KEY_END:
            break
        if k == K_CODE:
            if code_seen:
                return UNCERTAIN
            code_seen = True
            p, c = int_value(b, p, e)
            r.err_code = c
        else:
            p = skip_value(b, p, e)
        if p < 0:
            return UNCERTAIN if p == UNKNOWN else p
    if not code_seen:
        return UNCERTAIN
    r.kind = RESP_ERROR
    return p
