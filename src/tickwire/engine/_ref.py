"""Plain-Python references of the engine's compiled kernels, written from the rules (not from the kernels), so that
the property tests comparing them prove something: risk (:func:`ref_admit`, :func:`ref_recompute_exposure`), the
venue credit bucket (:func:`ref_credit_take`) and the order state machine's transitions.

They work on the same structured arrays as the kernels (tickwire.types) and make the same reservations.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from tickwire.engine.risk import RiskState
from tickwire.engine.orders import L_CANCEL_REFUSED, L_CANCEL_SENT, L_EDIT_DONE, L_EDIT_SENT, L_NEW_REFUSED
from tickwire.types import (
    ACT_CANCEL, ACT_CANCEL_ALL, ACT_EDIT, ACT_NEW, CREDIT_MATCHING, ORD_CANCELLED, ORD_FILLED, ORD_FREE, ORD_OPEN,
    ORD_PARTIALLY_FILLED, ORD_PENDING_CANCEL, ORD_PENDING_NEW, ORD_PENDING_REPLACE, ORD_REJECTED, OST_CANCELLED,
    OST_FILLED, OST_REJECTED, OT_MARKET, RISK_BAD_ACTION, RISK_BOOK_INVALID, RISK_CREDITS, RISK_KILLED,
    RISK_MAX_AMOUNT, RISK_MAX_OPEN, RISK_MAX_POSITION, RISK_OK, RISK_PRICE_BAND, RISK_RATE, SIDE_BUY, SIDE_SELL,
)

_FINISHED = (ORD_FILLED, ORD_CANCELLED, ORD_REJECTED)


def _bucket_level(level: float, capacity: float, per_s: float, last_ns: int, now_ns: int) -> float:
    """A leaky bucket's level at ``now_ns``: it refills continuously at ``per_s`` up to ``capacity``. The refill is
    written as the kernels evaluate it (elapsed ns * 1e-9 * rate): another float order (ns / 1e9 * rate) differs in
    the last bit and flips a verdict when a level lands exactly on a request's cost."""
    return min(capacity, level + max(0, now_ns - last_ns) * 1e-9 * per_s)


def ref_credit_take(buckets: np.ndarray, cls: int, now_ns: int) -> bool:
    """Deribit's credit rule: a request is allowed when its class's bucket holds its cost, and then costs it."""
    b = buckets[cls]
    if now_ns > int(b["last_ns"]):
        b["level"] = _bucket_level(float(b["level"]), float(b["capacity"]), float(b["refill_per_s"]),
                                   int(b["last_ns"]), now_ns)
        b["last_ns"] = now_ns
    if float(b["level"]) < float(b["cost"]):
        return False
    b["level"] = float(b["level"]) - float(b["cost"])
    return True


def ref_admit(action: np.void, rk: RiskState, expo: np.ndarray, bid: np.ndarray, ask: np.ndarray, now_ns: int) -> int:
    """The risk rules, checked in their order of precedence; the first that fails gives the verdict.

    1. Cancels (one or all) always pass risk; they only cost venue credits.
    2. Only new orders and edits are orders; anything else is a bad action.
    3. Once killed, no order passes.
    4. An order names an instrument we trade, a buy or a sell, and a positive amount.
    5. Its amount is at most the instrument's max order size.
    6. A new order needs a free open-order slot, and the position after every live order of its side and itself
       fill stays within the max position.
    7. The book has a bid below an ask (a price band needs a mid).
    8. A limit price is within the band (bps of the mid) around the mid.
    9. The local order-rate bucket (rate = burst = orders_per_s, at least 1) has one order in it.
    10. The venue's matching-engine credit bucket has the order's credits.
    Passing reserves: one rate token, the credits, and for a new order an open-order slot and its side's live lots.
    """
    limits, state, credit = rk
    kind, inst, side, amount = int(action["kind"]), int(action["inst"]), int(action["side"]), int(action["amount"])
    if kind in (ACT_CANCEL, ACT_CANCEL_ALL):
        return RISK_OK if ref_credit_take(credit, CREDIT_MATCHING, now_ns) else RISK_CREDITS
    if kind not in (ACT_NEW, ACT_EDIT):
        return RISK_BAD_ACTION
    s = state[0]
    if s["killed"]:
        return RISK_KILLED
    if inst not in range(expo.shape[0]) or side not in (SIDE_BUY, SIDE_SELL) or amount < 1:
        return RISK_BAD_ACTION
    lim, e = limits[inst], expo[inst]
    if amount > lim["max_order_lots"]:
        return RISK_MAX_AMOUNT
    if kind == ACT_NEW:
        if int(s["open_orders"]) >= lim["max_open_orders"]:
            return RISK_MAX_OPEN
        position = int(e["position"])
        if side == SIDE_BUY:
            worst = position + int(e["live_buy"]) + amount
        else:
            worst = position - int(e["live_sell"]) - amount
        if abs(worst) > lim["max_position_lots"]:
            return RISK_MAX_POSITION
    best_bid, best_ask = int(bid[inst]), int(ask[inst])
    if not 0 < best_bid < best_ask:
        return RISK_BOOK_INVALID
    if int(action["otype"]) != OT_MARKET:
        mid = Fraction(best_bid + best_ask, 2)
        if abs(int(action["price"]) - mid) / mid * 10_000 > Fraction(float(lim["band_bps"])):
            return RISK_PRICE_BAND
    rate = float(limits[0]["orders_per_s"])
    if now_ns > int(s["rate_last_ns"]):
        s["rate_level"] = _bucket_level(float(s["rate_level"]), max(1.0, rate), rate, int(s["rate_last_ns"]), now_ns)
        s["rate_last_ns"] = now_ns
    if s["rate_level"] < 1.0:
        return RISK_RATE
    s["rate_level"] -= 1.0
    if not ref_credit_take(credit, CREDIT_MATCHING, now_ns):
        return RISK_CREDITS
    if kind == ACT_NEW:
        s["open_orders"] += 1
        e["live_buy" if side == SIDE_BUY else "live_sell"] += amount
    return RISK_OK


def ref_recompute_exposure(orders: np.ndarray, state: np.ndarray, expo: np.ndarray) -> None:
    """Live orders (sent, not finished) and the unfilled lots of each side per instrument; positions untouched."""
    live = [o for o in orders if o["state"] != ORD_FREE and o["state"] not in _FINISHED
            and 0 <= o["inst"] < expo.shape[0]]
    for k in range(expo.shape[0]):
        mine = [o for o in live if o["inst"] == k]
        expo[k]["live_buy"] = sum(max(0, int(o["amount"] - o["filled"])) for o in mine if o["side"] == SIDE_BUY)
        expo[k]["live_sell"] = sum(max(0, int(o["amount"] - o["filled"])) for o in mine if o["side"] != SIDE_BUY)
    state[0]["open_orders"] = len(live)


def ref_next_state_venue(state: int, filled: int, last_ts: int, vstate: int, vfilled: int, vts: int) -> int:
    """A venue update moves an order forward only: finished orders stay finished, stale updates (less filled, or
    as filled but older) change nothing, a pending cancel or edit waits for its own answer."""
    if state == ORD_FREE or state in _FINISHED:
        return state
    if vfilled < filled or (vfilled == filled and vts < last_ts):
        return state
    terminal = {OST_FILLED: ORD_FILLED, OST_CANCELLED: ORD_CANCELLED, OST_REJECTED: ORD_REJECTED}
    if vstate in terminal:
        return terminal[vstate]
    if state in (ORD_PENDING_CANCEL, ORD_PENDING_REPLACE):
        return state
    return ORD_PARTIALLY_FILLED if vfilled > 0 else ORD_OPEN


def ref_next_state_local(state: int, filled: int, event: int) -> int:
    """What our own requests (or the venue refusing them) do to an order that is still live."""
    if state == ORD_FREE or state in _FINISHED:
        return state
    resting = ORD_PARTIALLY_FILLED if filled > 0 else ORD_OPEN
    table = {
        L_CANCEL_SENT: ORD_PENDING_CANCEL,
        L_EDIT_SENT: ORD_PENDING_CANCEL if state == ORD_PENDING_CANCEL else ORD_PENDING_REPLACE,
        L_NEW_REFUSED: ORD_REJECTED if state == ORD_PENDING_NEW else state,
        L_CANCEL_REFUSED: resting if state == ORD_PENDING_CANCEL else state,
        L_EDIT_DONE: resting if state == ORD_PENDING_REPLACE else state,
    }
    return table.get(event, state)
