"""Pre-trade risk on the hot path, and the kill switch.

:func:`admit` runs before every order leaves: max order amount, max position (worst case: the position plus
every live order on the same side filling), max open orders, price band around mid, a local order-rate bucket
and the venue credit budget. On success it reserves what the order uses (open-order slot, exposure, rate and
credits), so a burst of actions in one pass cannot overshoot together. Once the kill switch is set nothing new
passes; cancels always do (they reduce risk). ``tickwire.engine._ref.ref_admit`` is its plain-Python reference,
written from these rules.

The state is one :class:`RiskState` record of small structured arrays (tickwire.types): ``limits``
(RISK_LIMITS_DTYPE per instrument), ``state`` (one RISK_STATE_DTYPE record: kill switch, live orders, rate
bucket) and ``credit`` (the venue credit buckets, tickwire.deribit.credits). Exposure per instrument
(EXPOSURE_DTYPE: position, live buy and sell lots) belongs to the account view (tickwire.engine.strategy.Account).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from tickwire.config import CreditConfig, RiskConfig
from tickwire.deribit import credits
from tickwire.engine.orders import is_live, side_sign
from tickwire.types import (
    ACT_CANCEL, ACT_CANCEL_ALL, ACT_EDIT, ACT_NEW, OT_MARKET, RISK_BAD_ACTION, RISK_BOOK_INVALID, RISK_CREDITS,
    RISK_KILLED, RISK_LIMITS_DTYPE, RISK_MAX_AMOUNT, RISK_MAX_OPEN, RISK_MAX_POSITION, RISK_OK, RISK_PRICE_BAND,
    RISK_RATE, RISK_STATE_DTYPE, SIDE_BUY, SIDE_SELL,
)

RISK_NAMES = {RISK_OK: "ok", RISK_MAX_AMOUNT: "max_order_amount", RISK_MAX_POSITION: "max_position",
              RISK_MAX_OPEN: "max_open_orders", RISK_PRICE_BAND: "price_band", RISK_RATE: "order_rate",
              RISK_CREDITS: "credits", RISK_KILLED: "killed", RISK_BOOK_INVALID: "book_invalid",
              RISK_BAD_ACTION: "bad_action"}


class RiskState(NamedTuple):
    """Everything :func:`admit` checks against besides exposure and the book (see the module docstring)."""

    limits: np.ndarray  # RISK_LIMITS_DTYPE[n_inst]
    state: np.ndarray  # RISK_STATE_DTYPE[1]
    credit: np.ndarray  # CREDIT_BUCKET_DTYPE[2]


def new_limits(cfg: RiskConfig, lot_sizes: list[float]) -> np.ndarray:
    """Limits in lots per instrument (lot size = min_trade_amount, e.g. 10 USD for BTC-PERPETUAL)."""
    limits = np.zeros(len(lot_sizes), RISK_LIMITS_DTYPE)
    for k, lot in enumerate(lot_sizes):
        limits[k] = (cfg.max_order_amount / lot, cfg.max_position / lot, cfg.max_open_orders, cfg.price_band_bps,
                     cfg.max_orders_per_s)
    return limits


def new_state(cfg: RiskConfig, now_ns: int) -> np.ndarray:
    """Not killed, no live order, a full order-rate bucket."""
    state = np.zeros(1, RISK_STATE_DTYPE)
    state[0] = (0, 0, max(1.0, cfg.max_orders_per_s), now_ns)
    return state


def new_risk(cfg: RiskConfig, credit_cfg: CreditConfig, lot_sizes: list[float], now_ns: int) -> RiskState:
    """The risk record of an engine trading instruments of these lot sizes."""
    return RiskState(new_limits(cfg, lot_sizes), new_state(cfg, now_ns), credits.new_budget(credit_cfg, now_ns))


@njit(cache=True, _nrt=False)
def _rate_take(limits: np.ndarray, state: np.ndarray, now_ns: int) -> bool:
    """Local order-rate bucket (rate and burst: ``orders_per_s`` of instrument 0's limits)."""
    rate = limits[0].orders_per_s
    s = state[0]
    dt = (now_ns - s.rate_last_ns) * 1e-9
    if dt > 0:
        s.rate_level = min(max(1.0, rate), s.rate_level + dt * rate)
        s.rate_last_ns = now_ns
    if s.rate_level >= 1.0:
        s.rate_level -= 1.0
        return True
    return False


@njit(cache=True, _nrt=False)
def admit(action, rk: RiskState, expo: np.ndarray, bid: np.ndarray, ask: np.ndarray, now_ns: int) -> int:
    """Verdict for one action (RISK_OK or a RISK_* code); reserves its resources when it passes. ``bid``/``ask``
    are the best prices per instrument in ticks (0: no valid book)."""
    kind = action.kind
    if kind == ACT_CANCEL or kind == ACT_CANCEL_ALL:
        return RISK_OK if credits.take(rk.credit, credits.MATCHING, now_ns) else RISK_CREDITS
    if kind != ACT_NEW and kind != ACT_EDIT:
        return RISK_BAD_ACTION
    s = rk.state[0]
    if s.killed != 0:
        return RISK_KILLED
    inst = action.inst
    side = action.side
    amount = action.amount
    if inst < 0 or inst >= expo.shape[0] or (side != SIDE_BUY and side != SIDE_SELL) or amount <= 0:
        return RISK_BAD_ACTION
    lim = rk.limits[inst]
    e = expo[inst]
    if amount > lim.max_order_lots:
        return RISK_MAX_AMOUNT
    if kind == ACT_NEW:
        if s.open_orders + 1 > lim.max_open_orders:
            return RISK_MAX_OPEN
        live = e.live_buy if side == SIDE_BUY else e.live_sell
        worst = e.position + side_sign(side) * (live + amount)
        if abs(worst) > lim.max_position_lots:
            return RISK_MAX_POSITION
    b = bid[inst]
    a = ask[inst]
    if b <= 0 or a <= 0 or a <= b:
        return RISK_BOOK_INVALID
    if action.otype != OT_MARKET:
        mid2 = a + b  # twice the mid, in ticks: compare without a division
        if abs(2 * action.price - mid2) * 10_000.0 > lim.band_bps * mid2:
            return RISK_PRICE_BAND
    if not _rate_take(rk.limits, rk.state, now_ns):
        return RISK_RATE
    if not credits.take(rk.credit, credits.MATCHING, now_ns):
        return RISK_CREDITS
    if kind == ACT_NEW:
        s.open_orders += 1
        if side == SIDE_BUY:
            e.live_buy += amount
        else:
            e.live_sell += amount
    return RISK_OK


@njit(cache=True, _nrt=False)
def recompute_exposure(orders: np.ndarray, state: np.ndarray, expo: np.ndarray) -> None:
    """Live orders and live buy/sell lots per instrument, from the order table (after venue updates)."""
    for k in range(expo.shape[0]):
        expo[k].live_buy = 0
        expo[k].live_sell = 0
    live = 0
    for i in range(orders.shape[0]):
        o = orders[i]
        if not is_live(o.state) or o.inst < 0 or o.inst >= expo.shape[0]:
            continue
        live += 1
        rest = max(0, o.amount - o.filled)
        if o.side == SIDE_BUY:
            expo[o.inst].live_buy += rest
        else:
            expo[o.inst].live_sell += rest
    state[0].open_orders = live


def kill(state: np.ndarray) -> None:
    """Set the kill switch: nothing new passes :func:`admit` until :func:`rearm`."""
    state[0]["killed"] = 1


def rearm(state: np.ndarray) -> None:
    """Clear the kill switch."""
    state[0]["killed"] = 0


def killed(state: np.ndarray) -> bool:
    """Whether the kill switch is set."""
    return bool(state[0]["killed"])
