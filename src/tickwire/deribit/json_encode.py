"""Order requests as JSON-RPC bytes, written by compiled code into a preallocated buffer.

Prices are integer ticks and amounts integer lots; they become exact decimals (``ticks * tick_num``
scaled by ``10**-tick_scale``), never floats, so a tick-aligned price stays tick-aligned on the wire.
The fixed parts of each request are prebuilt byte fragments (:class:`Fragments`); the kernel copies them and
writes the numbers. ``encode_*_py`` are the plain-Python reference twins.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tickwire.netstack.ascii import DIGIT_0, DOT
from tickwire.types import OT_MARKET, SIDE_BUY, TIF_FOK, TIF_IOC

_FRAGMENTS = (
    b'{"jsonrpc":"2.0","id":',  # 0
    b',"method":"private/buy","params":{"instrument_name":"',  # 1
    b',"method":"private/sell","params":{"instrument_name":"',  # 2
    b'","amount":',  # 3
    b',"type":"limit","price":',  # 4
    b',"type":"market"',  # 5
    b',"label":"',  # 6
    b'","time_in_force":"good_til_cancelled"',  # 7
    b'","time_in_force":"immediate_or_cancel"',  # 8
    b'","time_in_force":"fill_or_kill"',  # 9
    b',"post_only":true',  # 10
    b'}}',  # 11
    b',"method":"private/cancel","params":{"order_id":"',  # 12
    b'"}}',  # 13
    b',"method":"private/cancel_all","params":{}}',  # 14
    b',"method":"private/edit","params":{"order_id":"',  # 15
    b'","amount":',  # 16 (= 3)
    b',"price":',  # 17
)
F_HEAD, F_BUY, F_SELL, F_AMOUNT, F_LIMIT, F_MARKET, F_LABEL, F_GTC, F_IOC, F_FOK, F_POST, F_END = range(12)
F_CANCEL, F_QEND, F_CANCEL_ALL, F_EDIT, F_EDIT_AMOUNT, F_EDIT_PRICE = 12, 13, 14, 15, 16, 17


def fragments() -> tuple[np.ndarray, np.ndarray]:
    """(bytes, offsets): fragment i is ``bytes[offsets[i]:offsets[i + 1]]``."""
    data = np.frombuffer(b"".join(_FRAGMENTS), dtype=np.uint8).copy()
    offsets = np.zeros(len(_FRAGMENTS) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(f) for f in _FRAGMENTS])
    return data, offsets


@njit(cache=True)
def _frag(buf, pos, data, offsets, i):
    for k in range(offsets[i], offsets[i + 1]):
        buf[pos] = data[k]
        pos += 1
    return pos


@njit(cache=True)
def _copy(buf, pos, src, n):
    for k in range(n):
        buf[pos] = src[k]
        pos += 1
    return pos


@njit(cache=True)
def write_uint(buf, pos, v):
    """Decimal digits of a non-negative integer."""
    if v == 0:
        buf[pos] = DIGIT_0
        return pos + 1
    n = 0
    t = v
    while t > 0:
        t //= 10
        n += 1
    for k in range(n - 1, -1, -1):
        buf[pos + k] = DIGIT_0 + v % 10
        v //= 10
    return pos + n


@njit(cache=True)
def write_decimal(buf, pos, units, scale):
    """``units * 10**-scale`` as a JSON number with no trailing zeros (units >= 0)."""
    while scale < 0:
        units *= 10
        scale += 1
    while scale > 0 and units % 10 == 0:
        units //= 10
        scale -= 1
    if scale <= 0:
        return write_uint(buf, pos, units)
    p = 1
    for _ in range(scale):
        p *= 10
    pos = write_uint(buf, pos, units // p)
    buf[pos] = DOT
    pos += 1
    frac = units % p
    for k in range(scale - 1, -1, -1):
        buf[pos + k] = DIGIT_0 + frac % 10
        frac //= 10
    return pos + scale


@njit(cache=True)
def encode_new(buf, data, offsets, req_id, name, name_len, side, otype, tif, post_only, price_ticks, tick_num,
               tick_scale, lots, lot_num, lot_scale, label, label_len, cid):
    """private/buy or private/sell; the label is ``label[:label_len]`` followed by the client id. Returns length."""
    pos = _frag(buf, 0, data, offsets, F_HEAD)
    pos = write_uint(buf, pos, req_id)
    pos = _frag(buf, pos, data, offsets, F_BUY if side == SIDE_BUY else F_SELL)
    pos = _copy(buf, pos, name, name_len)
    pos = _frag(buf, pos, data, offsets, F_AMOUNT)
    pos = write_decimal(buf, pos, lots * lot_num, lot_scale)
    if otype == OT_MARKET:
        pos = _frag(buf, pos, data, offsets, F_MARKET)
    else:
        pos = _frag(buf, pos, data, offsets, F_LIMIT)
        pos = write_decimal(buf, pos, price_ticks * tick_num, tick_scale)
    pos = _frag(buf, pos, data, offsets, F_LABEL)
    pos = _copy(buf, pos, label, label_len)
    pos = write_uint(buf, pos, cid)
    pos = _frag(buf, pos, data, offsets, F_IOC if tif == TIF_IOC else (F_FOK if tif == TIF_FOK else F_GTC))
    if post_only != 0 and otype != OT_MARKET:
        pos = _frag(buf, pos, data, offsets, F_POST)
    return _frag(buf, pos, data, offsets, F_END)


@njit(cache=True)
def encode_cancel(buf, data, offsets, req_id, oid, oid_len):
    """private/cancel of a venue order id. Returns length."""
    pos = _frag(buf, 0, data, offsets, F_HEAD)
    pos = write_uint(buf, pos, req_id)
    pos = _frag(buf, pos, data, offsets, F_CANCEL)
    pos = _copy(buf, pos, oid, oid_len)
    return _frag(buf, pos, data, offsets, F_QEND)


@njit(cache=True)
def encode_edit(buf, data, offsets, req_id, oid, oid_len, price_ticks, tick_num, tick_scale, lots, lot_num,
                lot_scale):
    """private/edit of a venue order id to a new price and amount. Returns length."""
    pos = _frag(buf, 0, data, offsets, F_HEAD)
    pos = write_uint(buf, pos, req_id)
    pos = _frag(buf, pos, data, offsets, F_EDIT)
    pos = _copy(buf, pos, oid, oid_len)
    pos = _frag(buf, pos, data, offsets, F_EDIT_AMOUNT)
    pos = write_decimal(buf, pos, lots * lot_num, lot_scale)
    pos = _frag(buf, pos, data, offsets, F_EDIT_PRICE)
    pos = write_decimal(buf, pos, price_ticks * tick_num, tick_scale)
    return _frag(buf, pos, data, offsets, F_END)


@njit(cache=True)
def encode_cancel_all(buf, data, offsets, req_id):
    pos = _frag(buf, 0, data, offsets, F_HEAD)
    pos = write_uint(buf, pos, req_id)
    return _frag(buf, pos, data, offsets, F_CANCEL_ALL)


# --- reference twins ---

def decimal_py(units: int, scale: int) -> str:
    """Reference twin of :func:`write_decimal`."""
    if scale <= 0:
        return str(units * 10**-scale)
    text = str(units).rjust(scale + 1, "0")
    return f"{text[:-scale]}.{text[-scale:]}".rstrip("0").rstrip(".")


def encode_new_py(req_id: int, name: str, side: int, otype: int, tif: int, post_only: bool, price_ticks: int,
                  tick_num: int, tick_scale: int, lots: int, lot_num: int, lot_scale: int, label: str,
                  cid: int) -> bytes:
    """Reference twin of :func:`encode_new`."""
    method = "private/buy" if side == SIDE_BUY else "private/sell"
    parts = [f'{{"jsonrpc":"2.0","id":{req_id},"method":"{method}","params":{{"instrument_name":"{name}"',
             f',"amount":{decimal_py(lots * lot_num, lot_scale)}']
    if otype == OT_MARKET:
        parts.append(',"type":"market"')
    else:
        parts.append(f',"type":"limit","price":{decimal_py(price_ticks * tick_num, tick_scale)}')
    tif_name = {TIF_IOC: "immediate_or_cancel", TIF_FOK: "fill_or_kill"}.get(tif, "good_til_cancelled")
    parts.append(f',"label":"{label}{cid}","time_in_force":"{tif_name}"')
    if post_only and otype != OT_MARKET:
        parts.append(',"post_only":true')
    parts.append("}}")
    return "".join(parts).encode()


def encode_cancel_py(req_id: int, order_id: str) -> bytes:
    return f'{{"jsonrpc":"2.0","id":{req_id},"method":"private/cancel","params":{{"order_id":"{order_id}"}}}}'.encode()


def encode_edit_py(req_id: int, order_id: str, price_ticks: int, tick_num: int, tick_scale: int, lots: int,
                   lot_num: int, lot_scale: int) -> bytes:
    """Reference twin of :func:`encode_edit`."""
    return (f'{{"jsonrpc":"2.0","id":{req_id},"method":"private/edit","params":{{"order_id":"{order_id}"'
            f',"amount":{decimal_py(lots * lot_num, lot_scale)},"price":{decimal_py(price_ticks * tick_num, tick_scale)}'
            f'}}}}').encode()
