"""Compiled JSON primitives for the Deribit codec: whitespace, strings, numbers, generic value skipping.

Every scanner returns a position ``>= 0`` on success or a negative status: ``INVALID`` (not JSON: orjson would
reject it too), ``UNCERTAIN`` (valid JSON we do not decode with certainty: escapes, long numbers, deep nesting),
``UNKNOWN`` (a message shape the codec does not handle) or ``CAPACITY`` (output buffers full). Any negative status
sends the message to the orjson reference path: the compiled path never guesses.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tickwire.netstack.ascii import (
    BACKSLASH, COLON, COMMA, CR, DIGIT_0, DIGIT_8, DIGIT_9, DOT, LBRACE, LBRACKET, LF, LOWER_A, LOWER_B, LOWER_C,
    LOWER_D, LOWER_E, LOWER_F, LOWER_L, LOWER_N, LOWER_R, LOWER_S, LOWER_T, LOWER_U, MINUS, NON_ASCII, PLUS, QUOTE,
    RBRACE, RBRACKET, SPACE, TAB, UPPER_A, UPPER_E, UPPER_F,
)

INVALID, UNCERTAIN, UNKNOWN, CAPACITY = -1, -2, -3, -4
MAX_DIGITS = 15  # significant digits a decoded number may have: every such decimal survives a float round trip
MAX_DEPTH = 62

_PLAIN = np.zeros(256, dtype=np.uint8)
_PLAIN[32:128] = 1
_PLAIN[34] = _PLAIN[92] = 0  # quote, backslash
_POW10 = np.array([10 ** k for k in range(19)], dtype=np.int64)
_POW10F = np.array([10.0 ** k for k in range(23)], dtype=np.float64)


@njit(cache=True, inline="always", _nrt=False)
def ws(b, p, end):
    """Skip JSON whitespace."""
    while p < end:
        c = b[p]
        if c == SPACE or c == LF or c == CR or c == TAB:
            p += 1
        else:
            break
    return p


@njit(cache=True, inline="always", _nrt=False)
def _hex(c):
    return (DIGIT_0 <= c <= DIGIT_9) or (UPPER_A <= c <= UPPER_F) or (LOWER_A <= c <= LOWER_F)


@njit(cache=True, inline="always", _nrt=False)
def skip_string(b, p, end):
    """``b[p]`` is a quote: return (position after the closing quote, 1 if it held an escape else 0). Validates
    escapes, control characters and UTF-8 like orjson; surrogate escapes are UNCERTAIN."""
    p += 1
    esc = 0
    while p < end:
        while p < end and _PLAIN[b[p]]:  # the common case: printable ASCII, no quote, no backslash
            p += 1
        if p >= end:
            break
        c = b[p]
        if c == QUOTE:
            return p + 1, esc
        if c == BACKSLASH:
            esc = 1
            if p + 1 >= end:
                return INVALID, esc
            e = b[p + 1]
            if e == LOWER_U:  # \uXXXX
                if p + 6 > end:
                    return INVALID, esc
                for k in range(2, 6):
                    if not _hex(b[p + k]):
                        return INVALID, esc
                h0 = b[p + 2] | 0x20
                h1 = b[p + 3] | 0x20
                # high surrogate \uD800-\uDBFF
                if h0 == LOWER_D and (h1 == DIGIT_8 or h1 == DIGIT_9 or h1 == LOWER_A or h1 == LOWER_B):
                    # must be followed by a low surrogate escape \uDC00-\uDFFF (orjson rejects a lone one)
                    if p + 12 > end or b[p + 6] != BACKSLASH or b[p + 7] != LOWER_U or (b[p + 8] | 0x20) != LOWER_D:
                        return UNCERTAIN, esc
                    l1 = b[p + 9] | 0x20
                    if not (LOWER_C <= l1 <= LOWER_F) or not (_hex(b[p + 10]) and _hex(b[p + 11])):
                        return UNCERTAIN, esc
                    p += 12
                    continue
                if h0 == LOWER_D and LOWER_C <= h1 <= LOWER_F:  # lone low surrogate
                    return UNCERTAIN, esc
                p += 6
                continue
            if e in (34, 92, 47, 98, 102, 110, 114, 116):
                p += 2
                continue
            return INVALID, esc
        if c < SPACE:
            return INVALID, esc
        if c < NON_ASCII:
            p += 1
            continue
        # UTF-8 sequence
        if 0xC2 <= c <= 0xDF:
            need = 1
            lo, hi = 0x80, 0xBF
        elif c == 0xE0:
            need = 2
            lo, hi = 0xA0, 0xBF
        elif c == 0xED:
            need = 2
            lo, hi = 0x80, 0x9F
        elif 0xE1 <= c <= 0xEF:
            need = 2
            lo, hi = 0x80, 0xBF
        elif c == 0xF0:
            need = 3
            lo, hi = 0x90, 0xBF
        elif 0xF1 <= c <= 0xF3:
            need = 3
            lo, hi = 0x80, 0xBF
        elif c == 0xF4:
            need = 3
            lo, hi = 0x80, 0x8F
        else:
            return INVALID, esc
        if p + need >= end:
            return INVALID, esc
        if not (lo <= b[p + 1] <= hi):
            return INVALID, esc
        for k in range(2, need + 1):
            if not (0x80 <= b[p + k] <= 0xBF):
                return INVALID, esc
        p += need + 1
    return INVALID, esc


@njit(cache=True, inline="always", _nrt=False)
def parse_number(b, p, end, maxd):
    """Scan a JSON number at p. Returns (next position, mantissa, exponent, is_integer_literal, exact).
    ``exact`` is 0 when it has more than ``maxd`` (<= 18) significant digits (mantissa/exponent then approximate: skip
    it, do not decode it). Position INVALID for bad grammar, UNCERTAIN when it could overflow a double."""
    neg = 0
    if p < end and b[p] == MINUS:
        neg = 1
        p += 1
    if p >= end:
        return INVALID, 0, 0, 0, 0
    c = b[p]
    if c < DIGIT_0 or c > DIGIT_9:
        return INVALID, 0, 0, 0, 0
    mant = np.int64(0)
    sig = 0  # significant digits taken
    drop = 0  # integer digits beyond MAX_DIGITS (value magnitude)
    exp = 0
    too_long = False
    if c == DIGIT_0:
        p += 1
        if p < end and DIGIT_0 <= b[p] <= DIGIT_9:
            return INVALID, 0, 0, 0, 0  # leading zero
    else:
        while p < end and DIGIT_0 <= b[p] <= DIGIT_9:
            if sig < maxd:
                mant = mant * 10 + (b[p] - 48)
                sig += 1
            else:
                too_long = True
                drop += 1
            p += 1
    is_int = 1
    if p < end and b[p] == DOT:
        is_int = 0
        p += 1
        if p >= end or b[p] < DIGIT_0 or b[p] > DIGIT_9:
            return INVALID, 0, 0, 0, 0
        while p < end and DIGIT_0 <= b[p] <= DIGIT_9:
            d = b[p] - 48
            if sig == 0 and d == 0:
                exp -= 1  # leading zeros of a fraction are not significant
            elif sig < maxd:
                mant = mant * 10 + d
                sig += 1
                exp -= 1
            else:
                too_long = True
            p += 1
    if p < end and (b[p] == LOWER_E or b[p] == UPPER_E):
        is_int = 0
        p += 1
        eneg = False
        if p < end and (b[p] == PLUS or b[p] == MINUS):
            eneg = b[p] == MINUS
            p += 1
        if p >= end or b[p] < DIGIT_0 or b[p] > DIGIT_9:
            return INVALID, 0, 0, 0, 0
        e = 0
        while p < end and DIGIT_0 <= b[p] <= DIGIT_9:
            if e < 100000:
                e = e * 10 + (b[p] - 48)
            p += 1
        exp += -e if eneg else e
    exp += drop
    if (mant != 0 and (exp + sig > 300 or exp + sig < -300)) or (mant == 0 and exp > 300):
        return UNCERTAIN, 0, 0, is_int, 0
    if neg:
        mant = -mant
    return p, mant, exp, is_int, 0 if too_long else 1


@njit(cache=True, _nrt=False)
def skip_value(b, p, end):
    """Skip and validate any JSON value at p (after whitespace). Returns the position after it or a status."""
    stack = np.int64(0)  # bit per open container: 1 object, 0 array
    depth = 0
    p = ws(b, p, end)
    while True:
        if p >= end:
            return INVALID
        c = b[p]
        if c == LBRACE or c == LBRACKET:  # { [
            p = ws(b, p + 1, end)
            if p < end and b[p] == c + 2:  # empty {} / []
                p += 1
            else:
                depth += 1
                if depth > MAX_DEPTH:
                    return UNCERTAIN
                stack = (stack << 1) | (1 if c == LBRACE else 0)
                if c == LBRACE:
                    if p >= end or b[p] != QUOTE:
                        return INVALID
                    p, _esc = skip_string(b, p, end)
                    if p < 0:
                        return p
                    p = ws(b, p, end)
                    if p >= end or b[p] != COLON:
                        return INVALID
                    p = ws(b, p + 1, end)
                continue
        elif c == QUOTE:
            p, _esc = skip_string(b, p, end)
        elif c == MINUS or DIGIT_0 <= c <= DIGIT_9:
            p, _m, _e, _i, _n = parse_number(b, p, end, 18)
            if p == UNCERTAIN:
                return UNCERTAIN
        elif c == LOWER_T:
            if p + 4 <= end and b[p + 1] == LOWER_R and b[p + 2] == LOWER_U and b[p + 3] == LOWER_E:
                p += 4
            else:
                return INVALID
        elif c == LOWER_F:
            if (p + 5 <= end and b[p + 1] == LOWER_A and b[p + 2] == LOWER_L and b[p + 3] == LOWER_S
                    and b[p + 4] == LOWER_E):
                p += 5
            else:
                return INVALID
        elif c == LOWER_N:
            if p + 4 <= end and b[p + 1] == LOWER_U and b[p + 2] == LOWER_L and b[p + 3] == LOWER_L:
                p += 4
            else:
                return INVALID
        else:
            return INVALID
        if p < 0:
            return p
        while True:  # after a value: close containers or take the next element
            if depth == 0:
                return p
            p = ws(b, p, end)
            if p >= end:
                return INVALID
            c = b[p]
            if c == COMMA:
                p = ws(b, p + 1, end)
                if stack & 1:
                    if p >= end or b[p] != QUOTE:
                        return INVALID
                    p, _esc = skip_string(b, p, end)
                    if p < 0:
                        return p
                    p = ws(b, p, end)
                    if p >= end or b[p] != COLON:
                        return INVALID
                    p = ws(b, p + 1, end)
                break
            if (c == RBRACE and stack & 1) or (c == RBRACKET and not stack & 1):
                p += 1
                depth -= 1
                stack >>= 1
                continue
            return INVALID


@njit(cache=True, _nrt=False)
def scaled_int(mant, exp, num, scale):
    """Exact ``mant * 10**exp / (num * 10**-scale)`` as an int64: (value, 1), or (0, 0) when it is not an exact
    integer or does not fit."""
    if mant == 0:
        return 0, 1
    e = exp + scale
    v = mant
    if e >= 0:
        if e > 18:
            return 0, 0
        p10 = _POW10[e]
        if abs(v) > 9_000_000_000_000_000_000 // p10:
            return 0, 0
        v = v * p10
    else:
        if -e > 18:
            return 0, 0
        p10 = _POW10[-e]
        q = v // p10  # one division, checked by a multiplication (divisions dominate this function)
        if q * p10 != v:
            return 0, 0
        v = q
    if num == 1:
        return v, 1
    q = v // num
    if q * num != v:
        return 0, 0
    return q, 1


@njit(cache=True, _nrt=False)
def exact_float(mant, exp):
    """The double orjson gives for mant * 10**exp when it is exactly one IEEE operation (Clinger's fast path):
    (value, 1); otherwise (0.0, 0). (-0.0 comes out as 0.0, which compares equal.)"""
    if abs(mant) >= (1 << 53) or exp > 22 or exp < -22:
        return 0.0, 0
    f = float(mant)
    f = f * _POW10F[exp] if exp >= 0 else f / _POW10F[-exp]
    return f, 1


@njit(cache=True, inline="always", _nrt=False)
def eq_const(b, s, e, k):
    """b[s:e] == the constant byte array k."""
    if e - s != k.shape[0]:
        return False
    for i in range(k.shape[0]):
        if b[s + i] != k[i]:
            return False
    return True


def const(text: str) -> np.ndarray:
    """A constant byte string for eq_const (module-level globals are frozen into the compiled code)."""
    return np.frombuffer(text.encode(), dtype=np.uint8).copy()
