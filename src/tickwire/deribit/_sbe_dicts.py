"""Decoded SBE records -> plain dicts (slow path: tests, ``tickwire replay --json``, debugging).

The dicts have the shape the reference twin (:mod:`._sbe_ref`) produces, so the two decoders compare directly.
"""
from __future__ import annotations

from typing import Any

from tickwire import types as T
from tickwire.deribit._sbe_ref import RefPacket
from tickwire.deribit.sbe import F_PACKETS, SbeOut, text


def _levels(out: SbeOut, first: int, n: int) -> list[tuple[int, int, float, float]]:
    return [(int(lv["side"]), int(lv["change"]), float(lv["price"]), float(lv["amount"]))
            for lv in out.levels[first:first + n]]


def _fields(record: Any, names: tuple[str, ...] | list[str]) -> dict[str, Any]:
    return {name: record[name].item() for name in names}


def _message(out: SbeOut, msg: Any) -> dict[str, Any]:
    tpl, ref = int(msg["template"]), int(msg["ref"])
    d: dict[str, Any] = {"template": tpl, "version": int(msg["version"]), "channel": int(msg["channel"])}
    if tpl == T.SBE_TPL_BOOK:
        b = out.books[ref]
        d.update(_fields(b, ("instrument_id", "timestamp_ms", "prev_change_id", "change_id", "is_last")))
        d["levels"] = _levels(out, int(b["first_level"]), int(b["n_levels"]))
    elif tpl == T.SBE_TPL_SNAPSHOT:
        s = out.snapshots[ref]
        d.update(_fields(s, ("instrument_id", "timestamp_ms", "change_id", "is_book_complete", "is_last_in_book")))
        d["levels"] = _levels(out, int(s["first_level"]), int(s["n_levels"]))
    elif tpl == T.SBE_TPL_TICKER:
        d.update(_fields(out.tickers[ref], ("instrument_id", "state", "timestamp_ms") + T.SBE_TICKER_FIELDS))
    elif tpl == T.SBE_TPL_TRADES:
        d["instrument_id"] = int(msg["instrument_id"])
        names = [n for n in T.SBE_TRADE_DTYPE.names]
        d["trades"] = [_fields(t, names) for t in out.trades[ref:ref + int(msg["aux"])]]
    elif tpl in (T.SBE_TPL_INSTRUMENT, T.SBE_TPL_INSTRUMENT_V2):
        r = out.instruments[ref]
        d.update(_fields(r, ("instrument_id", "state", "kind", "future_type", "option_type", "rfq",
                             "settlement_period", "settlement_period_count")))
        d.update({name: text(r[name]) for name in T.SBE_CURRENCY_FIELDS})
        d.update(_fields(r, ("creation_timestamp_ms", "expiration_timestamp_ms") + T.SBE_INSTRUMENT_DOUBLES))
        first, n = int(r["first_tick_step"]), int(r["n_tick_steps"])
        d["tick_steps"] = [(float(s["above_price"]), float(s["tick_size"])) for s in out.tick_steps[first:first + n]]
        d["name"] = text(r["name"], int(r["name_len"]))
    elif tpl == T.SBE_TPL_PRICE_INDEX:
        p = out.price_indexes[ref]
        d.update({"index_name": text(p["index_name"]), "price": float(p["price"]),
                  "timestamp_ms": int(p["timestamp_ms"])})
    elif tpl == T.SBE_TPL_SNAPSHOT_START:
        d["snapshot_delay"] = int(msg["aux"])
    elif tpl == T.SBE_TPL_RFQ:
        d.update(_fields(out.rfqs[ref], ("instrument_id", "state", "side", "amount", "timestamp_ms")))
    elif tpl == T.SBE_TPL_COMBO_LEGS:
        d["instrument_id"] = int(msg["instrument_id"])
        d["legs"] = [(int(leg["leg_instrument_id"]), int(leg["leg_size"]))
                     for leg in out.combo_legs[ref:ref + int(msg["aux"])]]
    return d


def packet_dicts(out: SbeOut) -> list[RefPacket]:
    """The packets committed in ``out``, each with its messages as dicts."""
    packets = []
    for pk in out.packets[:out.fill[F_PACKETS]]:
        first, n = int(pk["first_msg"]), int(pk["n_msgs"])
        packets.append(RefPacket(int(pk["channel"]), int(pk["seq"]),
                                 [_message(out, m) for m in out.msgs[first:first + n]]))
    return packets
