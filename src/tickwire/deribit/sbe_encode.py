"""SBE encoder for Deribit multicast messages (the simulator's feed, and test packets).

:func:`encode_message` takes a dict shaped like the decoders' output (see :mod:`._sbe_ref`) and returns the
message bytes; :func:`encode_packet` frames messages into one UDP payload. ``pad`` appends bytes to the root block
and to each group entry, as a newer schema version would, to prove the decoder skips by the wire lengths.
"""
from __future__ import annotations

import math
import struct
from typing import Any, Sequence

from tickwire import types as T
from tickwire.deribit import _sbe_ref as R

_VERSION = {T.SBE_TPL_INSTRUMENT_V2: 3}  # the capture: header version 3 on instrumentV2, 2 on the others


def _group(struct_: struct.Struct, rows: Sequence[Sequence[Any]], pad: int) -> bytes:
    entries = b"".join(struct_.pack(*row) + bytes(pad) for row in rows)
    return struct.pack("<4H", struct_.size + pad, len(rows), 0, 0) + entries


def _ascii(text: str, size: int) -> bytes:
    raw = text.encode("ascii")
    if len(raw) > size:
        raise ValueError(f"{text!r} longer than {size} bytes")
    return raw.ljust(size, b"\0")


def _trade_row(t: dict[str, Any]) -> tuple[Any, ...]:
    iv = t.get("iv", math.nan)
    return (t["direction"], t["price"], t["amount"], t["timestamp_ms"], t["mark_price"], t["index_price"],
            t["trade_seq"], t["trade_id"], t["tick_direction"], t["liquidation"], iv,
            t.get("block_trade_id", 0), t.get("combo_trade_id", 0))


def _instrument(d: dict[str, Any], tpl: int) -> tuple[bytes, list[bytes]]:
    currencies = [_ascii(d[name], 8) for name in T.SBE_CURRENCY_FIELDS]
    times = (d["creation_timestamp_ms"], d["expiration_timestamp_ms"])
    doubles = [d[name] for name in T.SBE_INSTRUMENT_DOUBLES]
    head = (d["instrument_id"], d["state"], d["kind"], d["future_type"], d["option_type"])
    if tpl == T.SBE_TPL_INSTRUMENT:
        root = R._INSTRUMENT.pack(*head, d["rfq"], d["settlement_period"], d["settlement_period_count"],
                                  *currencies, *times, *doubles)
    else:
        root = R._INSTRUMENT_V2.pack(*head, d["settlement_period"], d["settlement_period_count"],
                                     *currencies, *times, *doubles)
    name = d["name"].encode("ascii")
    if len(name) > 255:
        raise ValueError("instrument name longer than 255 bytes")
    return root, [bytes([len(name)]) + name]


def encode_message(d: dict[str, Any], pad: int = 0) -> bytes:
    """One SBE message (12-byte header + root block + groups + var data) from a decoder-shaped dict."""
    tpl = d["template"]
    groups: list[bytes] = []
    var: list[bytes] = []
    if tpl == T.SBE_TPL_BOOK:
        root = R._BOOK.pack(d["instrument_id"], d["timestamp_ms"], d["prev_change_id"], d["change_id"],
                            d.get("is_last", T.SBE_YES))
        groups.append(_group(R._LEVEL, d["levels"], pad))
    elif tpl == T.SBE_TPL_SNAPSHOT:
        root = R._SNAPSHOT.pack(d["instrument_id"], d["timestamp_ms"], d["change_id"],
                                d.get("is_book_complete", T.SBE_YES), d.get("is_last_in_book", T.SBE_YES))
        groups.append(_group(R._SNAP_LEVEL, [(side, price, amount) for side, _, price, amount in d["levels"]], pad))
    elif tpl == T.SBE_TPL_TICKER:
        root = R._TICKER.pack(d["instrument_id"], d["state"], d["timestamp_ms"],
                              *[d.get(name, math.nan) for name in T.SBE_TICKER_FIELDS])
    elif tpl == T.SBE_TPL_TRADES:
        root = R._U32.pack(d["instrument_id"])
        groups.append(_group(R._TRADE, [_trade_row(t) for t in d["trades"]], pad))
    elif tpl in (T.SBE_TPL_INSTRUMENT, T.SBE_TPL_INSTRUMENT_V2):
        root, var = _instrument(d, tpl)
        if tpl == T.SBE_TPL_INSTRUMENT_V2:
            groups.append(_group(R._TICK_STEP, d.get("tick_steps", []), pad))
    elif tpl == T.SBE_TPL_PRICE_INDEX:
        root = R._PRICE_INDEX.pack(_ascii(d["index_name"], 16), d["price"], d["timestamp_ms"])
    elif tpl == T.SBE_TPL_SNAPSHOT_START:
        root = R._U32.pack(d.get("snapshot_delay", 0))
    elif tpl == T.SBE_TPL_SNAPSHOT_END:
        root = b""
    elif tpl == T.SBE_TPL_RFQ:
        root = R._RFQ.pack(d["instrument_id"], d["state"], d["side"], d["amount"], d["timestamp_ms"])
    elif tpl == T.SBE_TPL_COMBO_LEGS:
        root = R._U32.pack(d["instrument_id"])
        groups.append(_group(R._LEG, d["legs"], pad))
    else:
        raise ValueError(f"unknown SBE template {tpl}")
    root += bytes(pad)
    header = struct.pack("<6H", len(root), tpl, T.SBE_SCHEMA_ID, d.get("version", _VERSION.get(tpl, 2)),
                         len(groups), len(var))
    return header + root + b"".join(groups) + b"".join(var)


def encode_packet(channel: int, seq: int, messages: Sequence[bytes]) -> bytes:
    """Frame encoded messages into one UDP payload (8-byte frame header: length, channelId, sequenceNumber)."""
    body = b"".join(messages)
    if len(body) > 0xFFFF:
        raise ValueError("SBE packet body longer than 65535 bytes")
    return R._FRAME.pack(len(body), channel, seq & 0xFFFFFFFF) + body
