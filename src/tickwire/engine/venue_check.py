"""Validation of venue objects before they may change state: Order, UserTrade, public trade, Position.

Each checker returns a small typed record, or None when the object is not what Deribit's API documents (wrong
type, missing field, non-finite or out-of-range number, unknown enum). The callers count and log a None and
change nothing.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

from tickwire.engine import orders as om
from tickwire.types import SIDE_BUY, SIDE_SELL

MAX_AMOUNT = 1e12  # USD or coins: larger is no real order or fill
MAX_PRICE = 1e12


def is_int(x: Any) -> bool:
    """A JSON integer (bool is not one)."""
    return isinstance(x, int) and not isinstance(x, bool)


def finite(x: Any, low: float, high: float, low_open: bool = False) -> float | None:
    """``x`` as a float when it is a JSON number in [low, high] (or (low, high] with ``low_open``), else None."""
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        return None
    v = float(x)
    if not math.isfinite(v) or v > high or v < low or (low_open and v == low):
        return None
    return v


class Order(NamedTuple):
    state: int  # om.V_*
    filled_lots: int
    order_id: str
    ts_ms: int


class UserTrade(NamedTuple):
    trade_id: str
    instrument: str
    side: int  # SIDE_BUY / SIDE_SELL
    price: float
    amount: float
    label: str
    order_id: str


def order(o: Any, lot_size: float) -> Order | None:
    """A venue Order object (answer, notification or query result); ``filled_lots`` may come pre-converted."""
    if not isinstance(o, dict):
        return None
    state = om.VENUE_STATES.get(o.get("order_state", "open"), -1) if isinstance(o.get("order_state", ""), str) else -1
    if state < 0:
        return None
    if "filled_lots" in o:
        lots = o["filled_lots"] if is_int(o["filled_lots"]) and 0 <= o["filled_lots"] < 1 << 53 else -1
    else:
        filled = finite(o.get("filled_amount", 0) or 0, 0.0, MAX_AMOUNT)
        lots = -1 if filled is None else round(filled / lot_size)
    oid, ts = o.get("order_id", ""), o.get("last_update_timestamp", 0) or 0
    if lots < 0 or not isinstance(oid, str) or len(oid) > 64 or not is_int(ts) or not 0 <= ts < 1 << 53:
        return None
    return Order(state, lots, oid, ts)


def user_trade(t: Any) -> UserTrade | None:
    """A UserTrade of user.trades or private/get_user_trades_by_*: positive finite price and amount."""
    if not isinstance(t, dict):
        return None
    tid, name, direction = t.get("trade_id"), t.get("instrument_name"), t.get("direction")
    label, oid = t.get("label") or "", t.get("order_id") or ""
    price = finite(t.get("price"), 0.0, MAX_PRICE, low_open=True)
    amount = finite(t.get("amount"), 0.0, MAX_AMOUNT, low_open=True)
    if not (isinstance(tid, (str, int)) and str(tid) and isinstance(name, str) and direction in ("buy", "sell")
            and isinstance(label, str) and isinstance(oid, str) and price is not None and amount is not None):
        return None
    fee = t.get("fee", 0.0) or 0.0
    if finite(fee, -MAX_AMOUNT, MAX_AMOUNT) is None:
        return None
    return UserTrade(str(tid), name, SIDE_BUY if direction == "buy" else SIDE_SELL, price, amount, label, oid)


def public_trade(t: Any) -> tuple[int, float, float] | None:
    """(SIDE_BUY/SIDE_SELL, price, amount) of a trades.* entry."""
    if not isinstance(t, dict) or t.get("direction") not in ("buy", "sell"):
        return None
    price = finite(t.get("price"), 0.0, MAX_PRICE, low_open=True)
    amount = finite(t.get("amount"), 0.0, MAX_AMOUNT, low_open=True)
    if price is None or amount is None:
        return None
    return (SIDE_BUY if t["direction"] == "buy" else SIDE_SELL), price, amount


def position(p: Any) -> tuple[str, float, float] | None:
    """(instrument, size, average_price) of a private/get_positions entry."""
    if not isinstance(p, dict) or not isinstance(p.get("instrument_name"), str):
        return None
    size = finite(p.get("size", 0.0), -MAX_AMOUNT, MAX_AMOUNT)
    avg = finite(p.get("average_price", 0.0) or 0.0, 0.0, MAX_PRICE)
    if size is None or avg is None:
        return None
    return p["instrument_name"], size, avg
