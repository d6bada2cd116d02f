"""The plain-Python reference decoder of Deribit JSON (orjson): the definition the compiled decoder
(:mod:`tickwire.deribit.json_decode`) must agree with on every message both accept, and the slow path that handles
every message the compiled decoder hands over.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np

from tickwire.types import (
    ACT_LEVEL_NONE, BOOK_ASK, BOOK_BID, EV_BOOK, EV_TICKER, EV_TRADE, EVF_FIRST, EVF_LAST,
    EVF_SNAPSHOT, OST_NAMES, RESP_ERROR, RESP_ORDER,
)
from tickwire.deribit.instruments import InstrumentTable
from tickwire.deribit.json_md import ACTION_NAMES, CH_BOOK, CH_TICKER, CH_TRADES
from tickwire.deribit.json_scan import MAX_MS, MS_TO_NS

RefEvent = tuple[int, int, int, int, int, int, int, int, int, int]  # kind side action flags inst ts cid prev px amt


def _is_int(v: Any) -> bool:
    return type(v) is int and -(2**63) <= v < 2**63


def _is_ts(v: Any) -> bool:
    return type(v) is int and abs(v) <= MAX_MS


def _is_num(v: Any) -> bool:
    return type(v) in (int, float)


def _exact(v: int | float, unit: Decimal) -> int | None:
    """v / unit when it is an exact integer (floats taken at their shortest repr, like the text they came from)."""
    q = (Decimal(v) if type(v) is int else Decimal(repr(v))) / unit
    if q != q.to_integral_value() or not -(2**63) <= q < 2**63:
        return None
    return int(q)


def _ref_channel(channel: str) -> tuple[int, str]:
    if channel.startswith("trades.") and len(channel) > 7:
        return CH_TRADES, ""
    for prefix, kind in (("book.", CH_BOOK), ("ticker.", CH_TICKER)):
        if channel.startswith(prefix) and len(channel) > len(prefix):
            parts = channel[len(prefix):].split(".")
            if len(parts) != 2 or not parts[0]:
                return 0, ""
            if kind == CH_BOOK and parts[1] not in ("raw", "100ms", "agg2"):
                return 0, ""
            return kind, parts[0]
    return 0, ""


def _flags(events: list[list[int]], snapshot: bool = False) -> list[RefEvent]:
    for j, ev in enumerate(events):
        ev[3] = (EVF_SNAPSHOT if snapshot else 0) | (EVF_FIRST if j == 0 else 0)
        ev[3] |= EVF_LAST if j == len(events) - 1 else 0
    return [tuple(ev) for ev in events]  # type: ignore[misc]


def _ref_book(data: Any, inst_name: str, table: InstrumentTable) -> list[RefEvent] | str:
    if not isinstance(data, dict) or data.get("type") not in ("snapshot", "change"):
        return "uncertain"
    snapshot = data["type"] == "snapshot"
    for key in ("change_id",) + (() if snapshot else ("prev_change_id",)):
        if not _is_int(data.get(key)):
            return "uncertain"
    if not _is_ts(data.get("timestamp")):
        return "uncertain"
    if "prev_change_id" in data and not _is_int(data["prev_change_id"]):
        return "uncertain"
    if data.get("instrument_name") != inst_name or "bids" not in data or "asks" not in data:
        return "uncertain"
    slot = table.slot(inst_name)
    if slot < 0:
        return "unknown_instrument"
    tick, lot = table.tick_size(slot), table.lot_size(slot)
    prev = -1 if snapshot else data["prev_change_id"]
    events: list[list[int]] = []
    for key, side in ((k, BOOK_BID if k == "bids" else BOOK_ASK) for k in data if k in ("bids", "asks")):
        if not isinstance(data[key], list):
            return "uncertain"
        for level in data[key]:
            if not (isinstance(level, list) and len(level) == 3 and level[0] in ACTION_NAMES
                    and _is_num(level[1]) and _is_num(level[2])):
                return "uncertain"
            price, amount = _exact(level[1], tick), _exact(level[2], lot)
            if price is None or amount is None:
                return "uncertain"
            events.append([EV_BOOK, side, ACTION_NAMES[level[0]], 0, slot, data["timestamp"] * MS_TO_NS,
                           data["change_id"], prev, price, amount])
    if not events:
        events.append([EV_BOOK, BOOK_BID, ACT_LEVEL_NONE, 0, slot, data["timestamp"] * MS_TO_NS, data["change_id"],
                       prev, 0, 0])
    return _flags(events, snapshot)


def _ref_trades(data: Any, table: InstrumentTable) -> list[RefEvent] | str:
    if not isinstance(data, list):
        return "uncertain"
    events: list[list[int]] = []
    for t in data:
        if not isinstance(t, dict):
            return "uncertain"
        tid = t.get("trade_id")
        if not (_is_int(t.get("trade_seq")) and _is_ts(t.get("timestamp")) and isinstance(tid, str)
                and 0 < len(tid) <= 18 and tid.isascii() and tid.isdigit() and _is_num(t.get("price"))
                and _is_num(t.get("amount")) and t.get("direction") in ("buy", "sell")
                and isinstance(t.get("instrument_name"), str)):
            return "uncertain"
        slot = table.slot(t["instrument_name"])
        if slot < 0:
            return "unknown_instrument"
        price, amount = _exact(t["price"], table.tick_size(slot)), _exact(t["amount"], table.lot_size(slot))
        if price is None or amount is None:
            return "uncertain"
        events.append([EV_TRADE, BOOK_BID if t["direction"] == "buy" else BOOK_ASK, 0, 0, slot,
                       t["timestamp"] * MS_TO_NS, int(tid), t["trade_seq"], price, amount])
    return _flags(events)


def _ref_ticker(data: Any, inst_name: str, table: InstrumentTable) -> list[RefEvent] | str:
    keys = ("best_bid_price", "best_bid_amount", "best_ask_price", "best_ask_amount")
    if not (isinstance(data, dict) and _is_ts(data.get("timestamp")) and data.get("instrument_name") == inst_name
            and all(_is_num(data.get(k)) for k in keys)):
        return "uncertain"
    slot = table.slot(inst_name)
    if slot < 0:
        return "unknown_instrument"
    tick, lot = table.tick_size(slot), table.lot_size(slot)
    vals = [_exact(data[k], tick if "price" in k else lot) for k in keys]
    if any(v is None for v in vals):
        return "uncertain"
    ts = data["timestamp"] * MS_TO_NS
    return [(EV_TICKER, BOOK_BID, 0, EVF_FIRST, slot, ts, 0, 0, vals[0], vals[1]),  # type: ignore[list-item]
            (EV_TICKER, BOOK_ASK, 0, EVF_LAST, slot, ts, 0, 0, vals[2], vals[3])]


_ORDER_KEYS = ("order_id", "order_state", "direction", "instrument_name", "price", "amount", "filled_amount",
               "average_price")


def _ref_response(msg: dict[str, Any], table: InstrumentTable) -> tuple | str:
    if "usOut" in msg and not _is_int(msg["usOut"]):
        return "unknown"
    us_out = msg.get("usOut", 0)
    if "error" in msg:
        err = msg["error"]
        if not isinstance(err, dict) or not _is_int(err.get("code")):
            return "uncertain"
        return (RESP_ERROR, msg["id"], err["code"], 0, 0, -1, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, us_out, b"")
    result = msg["result"]
    if not isinstance(result, dict):
        return "unknown"
    order = result
    if "order" in result:
        if any(k in result for k in _ORDER_KEYS) or not isinstance(result["order"], dict):
            return "uncertain"
        order = result["order"]
    elif not any(k in result for k in _ORDER_KEYS):
        return "unknown"
    oid = order.get("order_id")
    if not (all(k in order for k in _ORDER_KEYS) and isinstance(oid, str) and 0 < len(oid) <= 32 and oid.isascii()
            and order["order_state"] in OST_NAMES[1:] and order["direction"] in ("buy", "sell")
            and isinstance(order["instrument_name"], str)
            and all(_is_num(order[k]) for k in ("price", "amount", "filled_amount", "average_price"))):
        return "uncertain"
    slot = table.slot(order["instrument_name"])
    ticks = [0, 0, 0]
    if slot >= 0:
        units = (table.tick_size(slot), table.lot_size(slot), table.lot_size(slot))
        exact = [_exact(order[k], u) for k, u in zip(("price", "amount", "filled_amount"), units)]
        if any(v is None for v in exact):
            return "uncertain"
        ticks = exact  # type: ignore[assignment]
    return (RESP_ORDER, msg["id"], 0, OST_NAMES.index(order["order_state"]),
            BOOK_BID if order["direction"] == "buy" else BOOK_ASK, slot, *ticks, float(order["price"]),
            float(order["amount"]), float(order["filled_amount"]), float(order["average_price"]), us_out,
            oid.encode())


def ref_decode(raw: bytes, table: InstrumentTable) -> tuple[str, Any]:
    """The reference decoding of one message: ("events", [RefEvent...]), ("response", tuple) or
    ("fallback", reason) where reason is "invalid_json", "not_recognised", "uncertain" or "unknown_instrument"."""
    import orjson

    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "fallback", "invalid_json"
    if not isinstance(msg, dict):
        return "fallback", "not_recognised"
    out: Any
    if "method" in msg:
        params = msg.get("params")
        if msg["method"] != "subscription" or any(k in msg for k in ("id", "result", "error")) \
                or not isinstance(params, dict) or not isinstance(params.get("channel"), str) or "data" not in params:
            return "fallback", "not_recognised"
        kind, inst_name = _ref_channel(params["channel"])
        if kind == 0:
            return "fallback", "not_recognised"
        if kind == CH_BOOK:
            out = _ref_book(params["data"], inst_name, table)
        elif kind == CH_TRADES:
            out = _ref_trades(params["data"], table)
        else:
            out = _ref_ticker(params["data"], inst_name, table)
        return ("fallback", out) if isinstance(out, str) else ("events", out)
    if _is_int(msg.get("id")) and ("result" in msg) != ("error" in msg) and "params" not in msg:
        out = _ref_response(msg, table)
        return ("fallback", "not_recognised" if out == "unknown" else out) if isinstance(out, str) \
            else ("response", out)
    return "fallback", "not_recognised"


def event_tuples(events: np.ndarray) -> list[RefEvent]:
    """Compiled event records in the reference tuple form (tests, the slow path's comparisons)."""
    return [(int(e["kind"]), int(e["side"]), int(e["action"]), int(e["flags"]), int(e["inst"]), int(e["exch_ts"]),
             int(e["change_id"]), int(e["prev_change_id"]), int(e["price"]), int(e["amount"])) for e in events]


def response_tuple(r: np.void) -> tuple:
    """A compiled ORDER_RESP_DTYPE record in the reference tuple form."""
    return (int(r["kind"]), int(r["req_id"]), int(r["err_code"]), int(r["order_state"]), int(r["side"]),
            int(r["inst"]), int(r["price"]), int(r["amount"]), int(r["filled"]), float(r["price_f"]),
            float(r["amount_f"]), float(r["filled_f"]), float(r["average_price"]), int(r["us_out"]),
            bytes(r["oid"][:int(r["oid_len"])]))
