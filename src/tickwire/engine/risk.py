"""Pre-trade risk on the hot path, and the kill switch.

:func:`admit` runs before every order leaves: max order amount, max position (worst case: the position plus
every live order on the same side filling), max open orders, price band around mid, a local order-rate bucket
and the venue credit budget. On success it reserves what the order uses (open-order slot, exposure, rate and
credits), so a burst of actions in one pass cannot overshoot together. Once the kill switch is set nothing new
passes; cancels always do (they reduce risk). :func:`admit_py` is the plain-Python reference twin.

State lives in small arrays so the compiled loop can use it:
- ``limits`` float64[n_inst, 5]: max order lots, max position lots, max open orders, band (bps), orders/s
  (lots differ per instrument; max open orders and the order rate are global and read from row 0);
- ``rstate`` float64[4]: killed flag, live orders, rate bucket level, rate bucket last ns;
- ``expo`` int64[n_inst, 3]: position lots, live buy lots, live sell lots.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tickwire.config import RiskConfig
from tickwire.deribit import credits
from tickwire.engine.orders import is_live
from tickwire.types import (
    ACT_CANCEL,
    ACT_CANCEL_ALL,
    ACT_EDIT,
    ACT_NEW,
    OT_MARKET,
    RISK_BAD_ACTION,
    RISK_BOOK_INVALID,
    RISK_CREDITS,
    RISK_KILLED,
    RISK_MAX_AMOUNT,
    RISK_MAX_OPEN,
    RISK_MAX_POSITION,
    RISK_OK,
    RISK_PRICE_BAND,
    RISK_RATE,
    SIDE_BUY,
    SIDE_SELL,
)

L_MAX_AMOUNT, L_MAX_POSITION, L_MAX_OPEN, L_BAND_BPS, L_RATE = range(5)
R_KILLED, R_OPEN, R_RATE_LEVEL, R_RATE_LAST = range(4)
E_POS, E_BUY, E_SELL = range(3)

RISK_NAMES = {RISK_OK: "ok", RISK_MAX_AMOUNT: "max_order_amount", RISK_MAX_POSITION: "max_position",
              RISK_MAX_OPEN: "max_open_orders", RISK_PRICE_BAND: "price_band", RISK_RATE: "order_rate",
              RISK_CREDITS: "credits", RISK_KILLED: "killed", RISK_BOOK_INVALID: "book_invalid",
              RISK_BAD_ACTION: "bad_action"}


def new_limits(cfg: RiskConfig, lot_sizes: list[float]) -> np.ndarray:
    """Limits in lots per instrument (lot size = min_trade_amount, e.g. 10 USD for BTC-PERPETUAL)."""
    return np.array([[cfg.max_order_amount / lot, cfg.max_position / lot, cfg.max_open_orders,
                      cfg.price_band_bps, cfg.max_orders_per_s] for lot in lot_sizes], dtype=np.float64)


def new_state(cfg: RiskConfig, now_ns: int) -> np.ndarray:
    return np.array([0.0, 0.0, max(1.0, cfg.max_orders_per_s), now_ns], dtype=np.float64)


@njit(cache=True)
def _rate_take(limits: np.ndarray, rstate: np.ndarray, now_ns: int) -> bool:
    """Local order-rate bucket (``limits`` is row 0 of the limits table)."""
    burst = max(1.0, limits[L_RATE])
    dt = (now_ns - rstate[R_RATE_LAST]) * 1e-9
    if dt > 0:
        rstate[R_RATE_LEVEL] = min(burst, rstate[R_RATE_LEVEL] + dt * limits[L_RATE])
        rstate[R_RATE_LAST] = now_ns
    if rstate[R_RATE_LEVEL] >= 1.0:
        rstate[R_RATE_LEVEL] -= 1.0
        return True
    return False


@njit(cache=True)
def admit(action, limits: np.ndarray, rstate: np.ndarray, expo: np.ndarray, bid: np.ndarray, ask: np.ndarray,
          cstate: np.ndarray, ccost: np.ndarray, now_ns: int) -> int:
    """Verdict for one action (RISK_OK or a RISK_* code); reserves its resources when it passes."""
    kind = action["kind"]
    if kind == ACT_CANCEL or kind == ACT_CANCEL_ALL:
        return RISK_OK if credits.take(cstate, ccost, credits.MATCHING, now_ns) else RISK_CREDITS
    if kind != ACT_NEW and kind != ACT_EDIT:
        return RISK_BAD_ACTION
    if rstate[R_KILLED] != 0.0:
        return RISK_KILLED
    inst = action["inst"]
    side = action["side"]
    amount = action["amount"]
    if inst < 0 or inst >= expo.shape[0] or (side != SIDE_BUY and side != SIDE_SELL) or amount <= 0:
        return RISK_BAD_ACTION
    lim = limits[inst]
    if amount > lim[L_MAX_AMOUNT]:
        return RISK_MAX_AMOUNT
    if kind == ACT_NEW:
        if rstate[R_OPEN] + 1 > lim[L_MAX_OPEN]:
            return RISK_MAX_OPEN
        live = expo[inst, E_BUY] if side == SIDE_BUY else expo[inst, E_SELL]
        worst = expo[inst, E_POS] + side * (live + amount)
        if abs(worst) > lim[L_MAX_POSITION]:
            return RISK_MAX_POSITION
    b = bid[inst]
    a = ask[inst]
    if b <= 0 or a <= 0 or a <= b:
        return RISK_BOOK_INVALID
    if action["otype"] != OT_MARKET:
        mid2 = a + b  # twice the mid, in ticks: compare without a division
        if abs(2 * action["price"] - mid2) * 10_000.0 > lim[L_BAND_BPS] * mid2:
            return RISK_PRICE_BAND
    if not _rate_take(limits[0], rstate, now_ns):
        return RISK_RATE
    if not credits.take(cstate, ccost, credits.MATCHING, now_ns):
        return RISK_CREDITS
    if kind == ACT_NEW:
        rstate[R_OPEN] += 1
        if side == SIDE_BUY:
            expo[inst, E_BUY] += amount
        else:
            expo[inst, E_SELL] += amount
    return RISK_OK


def admit_py(action, limits, rstate, expo, bid, ask, cstate, ccost, now_ns: int) -> int:
    """Reference twin of :func:`admit` (plain Python, same reservations)."""
    kind = int(action["kind"])
    if kind in (ACT_CANCEL, ACT_CANCEL_ALL):
        return RISK_OK if credits.take_py(cstate, ccost, credits.MATCHING, now_ns) else RISK_CREDITS
    if kind not in (ACT_NEW, ACT_EDIT):
        return RISK_BAD_ACTION
    if rstate[R_KILLED]:
        return RISK_KILLED
    inst, side, amount = int(action["inst"]), int(action["side"]), int(action["amount"])
    if not 0 <= inst < expo.shape[0] or side not in (SIDE_BUY, SIDE_SELL) or amount <= 0:
        return RISK_BAD_ACTION
    lim = limits[inst]
    if amount > lim[L_MAX_AMOUNT]:
        return RISK_MAX_AMOUNT
    if kind == ACT_NEW:
        if rstate[R_OPEN] + 1 > lim[L_MAX_OPEN]:
            return RISK_MAX_OPEN
        live = int(expo[inst, E_BUY if side == SIDE_BUY else E_SELL])
        if abs(int(expo[inst, E_POS]) + side * (live + amount)) > lim[L_MAX_POSITION]:
            return RISK_MAX_POSITION
    b, a = int(bid[inst]), int(ask[inst])
    if b <= 0 or a <= 0 or a <= b:
        return RISK_BOOK_INVALID
    mid = (a + b) / 2
    if int(action["otype"]) != OT_MARKET and abs(int(action["price"]) - mid) / mid * 10_000 > lim[L_BAND_BPS]:
        return RISK_PRICE_BAND
    rate = float(limits[0, L_RATE])
    if now_ns > rstate[R_RATE_LAST]:
        rstate[R_RATE_LEVEL] = min(max(1.0, rate), rstate[R_RATE_LEVEL] + (now_ns - rstate[R_RATE_LAST]) * 1e-9 * rate)
        rstate[R_RATE_LAST] = now_ns
    if rstate[R_RATE_LEVEL] < 1.0:
        return RISK_RATE
    rstate[R_RATE_LEVEL] -= 1.0
    if not credits.take_py(cstate, ccost, credits.MATCHING, now_ns):
        return RISK_CREDITS
    if kind == ACT_NEW:
        rstate[R_OPEN] += 1
        expo[inst, E_BUY if side == SIDE_BUY else E_SELL] += amount
    return RISK_OK


@njit(cache=True)
def recompute_exposure(orders: np.ndarray, rstate: np.ndarray, expo: np.ndarray) -> None:
    """Live orders and live buy/sell lots per instrument, from the order table (after venue updates)."""
    expo[:, E_BUY] = 0
    expo[:, E_SELL] = 0
    live = 0
    for i in range(orders.shape[0]):
        o = orders[i]
        if not is_live(o.state) or o.inst < 0 or o.inst >= expo.shape[0]:
            continue
        live += 1
        rest = max(0, o.amount - o.filled)
        if o.side == SIDE_BUY:
            expo[o.inst, E_BUY] += rest
        else:
            expo[o.inst, E_SELL] += rest
    rstate[R_OPEN] = live


def recompute_exposure_py(orders: np.ndarray, rstate: np.ndarray, expo: np.ndarray) -> None:
    """Reference twin of :func:`recompute_exposure`."""
    expo[:, E_BUY] = 0
    expo[:, E_SELL] = 0
    live = [o for o in orders if o["state"] not in (0, 4, 5, 6) and 0 <= o["inst"] < expo.shape[0]]
    for o in live:
        expo[o["inst"], E_BUY if o["side"] == SIDE_BUY else E_SELL] += max(0, int(o["amount"]) - int(o["filled"]))
    rstate[R_OPEN] = len(live)


def kill(rstate: np.ndarray) -> None:
    """Set the kill switch: nothing new passes :func:`admit` until :func:`rearm`."""
    rstate[R_KILLED] = 1.0


def rearm(rstate: np.ndarray) -> None:
    rstate[R_KILLED] = 0.0


def killed(rstate: np.ndarray) -> bool:
    return bool(rstate[R_KILLED])
