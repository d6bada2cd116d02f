"""Plain-Python reference twin of the compiled SBE decoder (:mod:`tickwire.deribit.sbe`), built on ``struct``.

It applies the same rules in the same order (frame length, schemaId, bounds, minimum block lengths, enum checks) and
returns each message as a dict shaped like :func:`tickwire.deribit._sbe_dicts.message_dicts`, so tests compare the
two on every message. It is also the baseline of the decode-rate benchmark.
"""
from __future__ import annotations

import struct
from typing import Any, NamedTuple

from tickwire import types as T

_FRAME = struct.Struct("<HHI")
_HEADER = struct.Struct("<6H")
_GROUP = struct.Struct("<HH")
_BOOK = struct.Struct("<IQQQB")
_LEVEL = struct.Struct("<BBdd")
_SNAP_LEVEL = struct.Struct("<Bdd")
_TRADE = struct.Struct("<BddQddQQBBdQQ")
_TICKER = struct.Struct("<IBQ15d")
_SNAPSHOT = struct.Struct("<IQQBB")
_INSTRUMENT = struct.Struct("<IBBBBBBH8s8s8s8s8sQQ9d")
_INSTRUMENT_V2 = struct.Struct("<IBBBBBH8s8s8s8s8sQQ9d")
_TICK_STEP = struct.Struct("<dd")
_PRICE_INDEX = struct.Struct("<16sdQ")
_RFQ = struct.Struct("<IBBdQ")
_LEG = struct.Struct("<Ii")
_U32 = struct.Struct("<I")
_NAN = float("nan")


class SbeDecodeError(ValueError):
    """A packet the decoder rejects; ``status`` is the SBE_ERR_* code."""

    def __init__(self, status: int) -> None:
        super().__init__(f"SBE packet rejected: {T.SBE_ERROR_NAMES[status]}")
        self.status = status


class RefPacket(NamedTuple):
    """A decoded packet: frame header fields and its messages (dicts) in wire order."""

    channel: int
    seq: int
    messages: list[dict[str, Any]]


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace")


def _levels(buf: bytes, p: int, gbl: int, gn: int, snapshot: bool) -> list[tuple[int, int, float, float]]:
    out = []
    for i in range(gn):
        if snapshot:
            side, price, amount = _SNAP_LEVEL.unpack_from(buf, p + i * gbl)
            change = T.SBE_CHANGE_CREATED
        else:
            side, change, price, amount = _LEVEL.unpack_from(buf, p + i * gbl)
        if side > 1 or change > 2:
            raise SbeDecodeError(T.SBE_ERR_ENUM)
        out.append((side, change, price, amount))
    return out


def _trade(buf: bytes, e: int, iid: int) -> dict[str, Any]:
    (direction, price, amount, ts, mark, index, trade_seq, trade_id, tick_dir, liq, iv, block_id,
     combo_id) = _TRADE.unpack_from(buf, e)
    return {"instrument_id": iid, "direction": direction, "price": price, "amount": amount, "timestamp_ms": ts,
            "mark_price": mark, "index_price": index, "trade_seq": trade_seq, "trade_id": trade_id,
            "tick_direction": tick_dir, "liquidation": liq, "iv": _NAN if iv == 0.0 else iv,
            "block_trade_id": 0 if block_id == T.SBE_NULL_U64 else block_id,
            "combo_trade_id": 0 if combo_id == T.SBE_NULL_U64 else combo_id}


def _instrument(buf: bytes, root: int, tpl: int, g0: int, gbl: int, gn: int, var0: int) -> dict[str, Any]:
    if tpl == T.SBE_TPL_INSTRUMENT:
        (iid, state, kind, ftype, otype, rfq, period, period_count, *rest) = _INSTRUMENT.unpack_from(buf, root)
    else:
        (iid, state, kind, ftype, otype, period, period_count, *rest) = _INSTRUMENT_V2.unpack_from(buf, root)
        rfq = T.SBE_NULL_U8
    currencies, (created, expires), doubles = rest[:5], rest[5:7], rest[7:]
    steps = []
    if tpl == T.SBE_TPL_INSTRUMENT_V2:
        steps = [_TICK_STEP.unpack_from(buf, g0 + i * gbl) for i in range(gn)]
    n = buf[var0]
    if n > T.SBE_NAME_MAX:
        raise SbeDecodeError(T.SBE_ERR_BLOCK)
    msg: dict[str, Any] = {"instrument_id": iid, "state": state, "kind": kind, "future_type": ftype,
                           "option_type": otype, "rfq": rfq, "settlement_period": period,
                           "settlement_period_count": period_count}
    msg.update({name: _text(raw) for name, raw in zip(T.SBE_CURRENCY_FIELDS, currencies)})
    msg.update({"creation_timestamp_ms": created, "expiration_timestamp_ms": expires})
    msg.update(zip(T.SBE_INSTRUMENT_DOUBLES, doubles))
    msg["tick_steps"] = steps
    msg["name"] = buf[var0 + 1:var0 + 1 + n].decode("ascii", "replace")
    return msg


def _message(buf: bytes, tpl: int, root: int, g0: int, gbl: int, gn: int, var0: int) -> dict[str, Any]:
    if tpl == T.SBE_TPL_BOOK:
        iid, ts, prev, change, is_last = _BOOK.unpack_from(buf, root)
        if is_last > 1:
            raise SbeDecodeError(T.SBE_ERR_ENUM)
        return {"instrument_id": iid, "timestamp_ms": ts, "prev_change_id": prev, "change_id": change,
                "is_last": is_last, "levels": _levels(buf, g0, gbl, gn, False)}
    if tpl == T.SBE_TPL_TICKER:
        iid, state, ts, *values = _TICKER.unpack_from(buf, root)
        return {"instrument_id": iid, "state": state, "timestamp_ms": ts, **dict(zip(T.SBE_TICKER_FIELDS, values))}
    if tpl == T.SBE_TPL_TRADES:
        (iid,) = _U32.unpack_from(buf, root)
        return {"instrument_id": iid, "trades": [_trade(buf, g0 + i * gbl, iid) for i in range(gn)]}
    if tpl == T.SBE_TPL_SNAPSHOT:
        iid, ts, change, complete, last = _SNAPSHOT.unpack_from(buf, root)
        if complete > 1 or last > 1:
            raise SbeDecodeError(T.SBE_ERR_ENUM)
        return {"instrument_id": iid, "timestamp_ms": ts, "change_id": change, "is_book_complete": complete,
                "is_last_in_book": last, "levels": _levels(buf, g0, gbl, gn, True)}
    if tpl in (T.SBE_TPL_INSTRUMENT, T.SBE_TPL_INSTRUMENT_V2):
        return _instrument(buf, root, tpl, g0, gbl, gn, var0)
    if tpl == T.SBE_TPL_PRICE_INDEX:
        name, price, ts = _PRICE_INDEX.unpack_from(buf, root)
        return {"index_name": _text(name), "price": price, "timestamp_ms": ts}
    if tpl == T.SBE_TPL_SNAPSHOT_START:
        return {"snapshot_delay": _U32.unpack_from(buf, root)[0]}
    if tpl == T.SBE_TPL_RFQ:
        iid, state, side, amount, ts = _RFQ.unpack_from(buf, root)
        return {"instrument_id": iid, "state": state, "side": side, "amount": amount, "timestamp_ms": ts}
    if tpl == T.SBE_TPL_COMBO_LEGS:
        (iid,) = _U32.unpack_from(buf, root)
        return {"instrument_id": iid, "legs": [_LEG.unpack_from(buf, g0 + i * gbl) for i in range(gn)]}
    return {}  # snapshot_end, or a template this schema does not know (skipped by its header)


def decode_packet_py(payload: bytes) -> RefPacket:
    """Decode one UDP payload; raises :class:`SbeDecodeError` when the compiled decoder would reject it."""
    end = len(payload)
    if end < T.SBE_FRAME_HEADER_LEN:
        raise SbeDecodeError(T.SBE_ERR_TRUNCATED)
    packet_length, channel, seq = _FRAME.unpack_from(payload, 0)
    if packet_length + T.SBE_FRAME_HEADER_LEN != end:
        raise SbeDecodeError(T.SBE_ERR_TRUNCATED)
    messages = []
    off = T.SBE_FRAME_HEADER_LEN
    while off < end:
        if off + T.SBE_MESSAGE_HEADER_LEN > end:
            raise SbeDecodeError(T.SBE_ERR_BOUNDS)
        bl, tpl, schema, version, n_groups, n_vars = _HEADER.unpack_from(payload, off)
        if schema != T.SBE_SCHEMA_ID:
            raise SbeDecodeError(T.SBE_ERR_SCHEMA)
        root = off + T.SBE_MESSAGE_HEADER_LEN
        p = g0 = root + bl
        gbl = gn = 0
        for g in range(n_groups):
            if p + T.SBE_GROUP_HEADER_LEN > end:
                raise SbeDecodeError(T.SBE_ERR_BOUNDS)
            entry, count = _GROUP.unpack_from(payload, p)
            if g == 0:
                gbl, gn, g0 = entry, count, p + T.SBE_GROUP_HEADER_LEN
            p += T.SBE_GROUP_HEADER_LEN + entry * count
        var0 = p
        for _ in range(n_vars):
            if p >= end:
                raise SbeDecodeError(T.SBE_ERR_BOUNDS)
            p += 1 + payload[p]
        if p > end:
            raise SbeDecodeError(T.SBE_ERR_BOUNDS)
        known = tpl in T.SBE_TEMPLATE_NAMES
        if known and (bl < T.SBE_MIN_BLOCK[tpl] or n_groups < (1 if tpl in T.SBE_MIN_ENTRY else 0)
                      or n_vars < (1 if tpl in (T.SBE_TPL_INSTRUMENT, T.SBE_TPL_INSTRUMENT_V2) else 0)
                      or (gn > 0 and gbl < T.SBE_MIN_ENTRY.get(tpl, 0))):
            raise SbeDecodeError(T.SBE_ERR_BLOCK)
        msg = {"template": tpl, "version": version, "channel": channel}
        if known:
            msg.update(_message(payload, tpl, root, g0, gbl, gn, var0))
        messages.append(msg)
        off = p
    return RefPacket(channel, seq, messages)
