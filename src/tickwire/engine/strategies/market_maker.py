"""Demo market maker (numba tier): one post-only quote per side around mid, skewed against the position.

Target prices, in ticks: ``bid = floor(mid - half_spread - skew * position)``, ``ask = ceil(mid + half_spread -
skew * position)`` — a long position lowers both quotes (sell sooner, buy later). A resting quote more than
``requote`` ticks from its target is cancelled and re-placed on a later book update; no side quotes beyond
``max_position`` lots. On an invalid book every quote is cancelled and nothing new is placed.

After an aggressive trade against a quote (a taker sell at or through our bid, a taker buy at or through our ask)
the half spread widens by ``widen`` ticks for ``widen_ms``: the kernel's timer holds the end of that window, and
the K_TIMER call at its end puts the quotes back at the normal distance.
"""
from __future__ import annotations

import math

from numba import njit

from tickwire.md.book import book_top
from tickwire.engine.orders import is_live
from tickwire.engine.strategy import K_TICKER, K_TRADE, NumbaStrategy
from tickwire.types import (
    ACT_CANCEL, ACT_NEW, BOOK_NO_PRICE, ORD_OPEN, ORD_PARTIALLY_FILLED, OT_LIMIT, SIDE_BUY, SIDE_SELL, TIF_GTC,
)

P_HALF_SPREAD, P_SIZE, P_SKEW, P_REQUOTE, P_MAX_POSITION, P_WIDEN, P_WIDEN_MS = range(7)


@njit(cache=True, _nrt=False)
def emit_action(out, n, kind, inst, side, price, amount, cid):
    """Write a post-only GTC limit action at ``out[n]`` (when there is room); returns the new count."""
    if n >= out.shape[0]:
        return n
    a = out[n]
    a.kind = kind
    a.inst = inst
    a.side = side
    a.otype = OT_LIMIT
    a.tif = TIF_GTC
    a.post_only = 1
    a.price = price
    a.amount = amount
    a.cid = cid
    return n + 1


@njit(cache=True, _nrt=False)
def quote_targets(bid, ask, position, params, widen=0.0):
    """(bid, ask) target prices in ticks for a top of book and a position in lots (``widen``: extra half
    spread, ticks)."""
    mid = (bid + ask) * 0.5
    shift = params[P_SKEW] * position
    half = params[P_HALF_SPREAD] + widen
    b = int(math.floor(mid - half - shift))
    a = int(math.ceil(mid + half - shift))
    return min(b, ask - 1), max(a, bid + 1)


@njit(cache=True, _nrt=False)
def hit_against(ev, orders, inst):
    """Whether the public trade ``ev`` took liquidity at or through one of our live quotes on ``inst``."""
    for i in range(orders.shape[0]):
        o = orders[i]
        if o.inst != inst or not is_live(o.state) or o.side == ev.side:
            continue
        if (o.side == SIDE_BUY and ev.price <= o.price) or (o.side == SIDE_SELL and ev.price >= o.price):
            return True
    return False


@njit(cache=True, _nrt=False)
def mm_kernel(kind, inst, ev, mkt, acct, params, out):
    """The strategy kernel (tickwire.engine.strategy): cancel stale quotes, place missing ones; widen after
    an aggressive trade against a quote."""
    if kind == K_TICKER:
        return 0
    now = mkt.clock[0]
    if kind == K_TRADE:
        if not hit_against(ev, acct.orders, inst):
            return 0
        mkt.timer[inst] = now + int(params[P_WIDEN_MS] * 1e6)
    widen = params[P_WIDEN] if mkt.timer[inst] > now else 0.0
    n = 0
    bp, bq, ap, aq = book_top(mkt.px, mkt.qty, mkt.st, inst)
    usable = mkt.st[inst].valid != 0 and bp != BOOK_NO_PRICE and ap != BOOK_NO_PRICE and ap > bp
    pos = acct.expo[inst].position
    orders = acct.orders
    tb, ta = (quote_targets(bp, ap, pos, params, widen) if usable else (0, 0))
    have_bid = False
    have_ask = False
    for i in range(orders.shape[0]):
        o = orders[i]
        if o.inst != inst or not is_live(o.state):
            continue
        target = tb if o.side == SIDE_BUY else ta
        resting = o.state == ORD_OPEN or o.state == ORD_PARTIALLY_FILLED
        if resting and (not usable or abs(o.price - target) >= params[P_REQUOTE]):
            n = emit_action(out, n, ACT_CANCEL, inst, o.side, o.price, 0, o.cid)
        if o.side == SIDE_BUY:
            have_bid = True
        else:
            have_ask = True
    if not usable:
        return n
    size = int(params[P_SIZE])
    limit = params[P_MAX_POSITION]
    if not have_bid and pos + size <= limit:
        n = emit_action(out, n, ACT_NEW, inst, SIDE_BUY, tb, size, 0)
    if not have_ask and pos - size >= -limit:
        n = emit_action(out, n, ACT_NEW, inst, SIDE_SELL, ta, size, 0)
    return n


class MarketMaker(NumbaStrategy):
    """Quotes both sides around mid, skewed by position (see the module docstring). Params in ticks and lots."""

    kernel = mm_kernel
    defaults = {"half_spread": 2.0, "size": 1.0, "skew": 0.5, "requote": 3.0, "max_position": 20.0,
                "widen": 4.0, "widen_ms": 500.0}
