"""Hypothesis strategies: decoder-shaped dicts of every SBE template (encoded with _sbe_encode for the tests)."""
from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

from tickwire import types as T

u8 = st.integers(0, 254)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2**64 - 1)
f64 = st.floats(allow_nan=True, allow_infinity=True)
ascii8 = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=8)
yes_no = st.integers(0, 1)
level = st.tuples(st.integers(0, 1), st.integers(0, 2), f64, f64)
snap_level = st.tuples(st.integers(0, 1), st.just(0), f64, f64)


def _msg(tpl: int, **fields: Any) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"template": st.just(tpl), **fields})


trade = st.fixed_dictionaries({
    "direction": u8, "price": f64, "amount": f64, "timestamp_ms": u64, "mark_price": f64, "index_price": f64,
    "trade_seq": u64, "trade_id": u64, "tick_direction": u8, "liquidation": u8, "iv": f64,
    "block_trade_id": u64, "combo_trade_id": u64})
_instrument_fields = {
    "instrument_id": u32, "state": u8, "kind": u8, "future_type": u8, "option_type": u8, "settlement_period": u8,
    "settlement_period_count": u16, **{name: ascii8 for name in T.SBE_CURRENCY_FIELDS},
    "creation_timestamp_ms": u64, "expiration_timestamp_ms": u64, **{name: f64 for name in T.SBE_INSTRUMENT_DOUBLES},
    "name": st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=T.SBE_NAME_MAX)}

message = st.one_of(
    _msg(T.SBE_TPL_BOOK, instrument_id=u32, timestamp_ms=u64, prev_change_id=u64, change_id=u64, is_last=yes_no,
         levels=st.lists(level, max_size=6)),
    _msg(T.SBE_TPL_SNAPSHOT, instrument_id=u32, timestamp_ms=u64, change_id=u64, is_book_complete=yes_no,
         is_last_in_book=yes_no, levels=st.lists(snap_level, max_size=6)),
    _msg(T.SBE_TPL_TRADES, instrument_id=u32, trades=st.lists(trade, max_size=3)),
    _msg(T.SBE_TPL_TICKER, instrument_id=u32, state=u8, timestamp_ms=u64,
         **{name: f64 for name in T.SBE_TICKER_FIELDS}),
    _msg(T.SBE_TPL_INSTRUMENT, rfq=u8, **_instrument_fields),
    _msg(T.SBE_TPL_INSTRUMENT_V2, tick_steps=st.lists(st.tuples(f64, f64), max_size=3), **_instrument_fields),
    _msg(T.SBE_TPL_PRICE_INDEX, index_name=st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=16),
         price=f64, timestamp_ms=u64),
    _msg(T.SBE_TPL_SNAPSHOT_START, snapshot_delay=u32),
    _msg(T.SBE_TPL_SNAPSHOT_END),
    _msg(T.SBE_TPL_RFQ, instrument_id=u32, state=u8, side=u8, amount=f64, timestamp_ms=u64),
    _msg(T.SBE_TPL_COMBO_LEGS, instrument_id=u32,
         legs=st.lists(st.tuples(u32, st.integers(-2**31, 2**31 - 1)), max_size=4)),
)


def expected(d: dict[str, Any], channel: int) -> dict[str, Any]:
    """What a decoder must return for an encoded dict: header fields added, the schema's nulls normalised."""
    out = dict(d, channel=channel, version=3 if d["template"] == T.SBE_TPL_INSTRUMENT_V2 else 2)
    if d["template"] == T.SBE_TPL_INSTRUMENT_V2:
        out["rfq"] = T.SBE_NULL_U8
    if d["template"] == T.SBE_TPL_INSTRUMENT:
        out["tick_steps"] = []
    if d["template"] == T.SBE_TPL_TRADES:
        out["trades"] = [dict(t, instrument_id=d["instrument_id"],
                              iv=math.nan if t["iv"] == 0.0 else t["iv"],
                              block_trade_id=0 if t["block_trade_id"] == T.SBE_NULL_U64 else t["block_trade_id"],
                              combo_trade_id=0 if t["combo_trade_id"] == T.SBE_NULL_U64 else t["combo_trade_id"])
                         for t in d["trades"]]
    return out


def canon(x: Any) -> Any:
    """Comparable form: NaN -> "NaN", tuples -> lists (NaN != NaN would fail every comparison)."""
    if isinstance(x, float) and math.isnan(x):
        return "NaN"
    if isinstance(x, dict):
        return {k: canon(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [canon(v) for v in x]
    return x
