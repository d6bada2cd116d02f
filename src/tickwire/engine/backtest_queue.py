"""The venue model's queue step for one replayed message, compiled, for the backtest's batched loop.

:meth:`tickwire.engine.backtest_venue.VenueModel.on_market` is the model of record: it moves our resting orders up
their queues and fills them. The batched loop (``backtest_pass`` in tickwire.engine.passes) stays in compiled code
for every message on which none of our resting orders fills; for those, :func:`queue_step` does exactly what
``on_market`` would (same operations in the same order, so the same floats). When a message would fill an order it
changes nothing and returns False: the loop hands that message to Python, where ``on_market`` fills.

Resting orders travel as a RESTING_DTYPE array in the venue's order (see ``VenueModel.resting`` / ``restore``).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tickwire.md.book import book_side_count
from tickwire.types import BOOK_NO_PRICE, EV_TRADE, SIDE_BUY

RESTING_DTYPE = np.dtype([
    ("side", np.int64),  # SIDE_BUY / SIDE_SELL
    ("price", np.int64),  # ticks
    ("ahead", np.float64),  # lots queued before us at our price
    ("level", np.int64),  # the level's amount when last seen (prob model)
], align=True)


@njit(cache=True, _nrt=False)
def best_price(px, st, inst, side):
    """Best price of one side in ticks (BOOK_NO_PRICE: empty side or invalid book)."""
    n = book_side_count(st, inst, side)
    if n == 0 or st[inst].valid == 0:
        return BOOK_NO_PRICE
    return px[inst, side, n - 1]


@njit(cache=True, _nrt=False)
def level_amount(px, qty, st, inst, side, price):
    """The amount (lots) resting at ``price`` on one side (0: no such level)."""
    for k in range(book_side_count(st, inst, side)):
        if px[inst, side, k] == price:
            return qty[inst, side, k]
    return 0


@njit(cache=True, _nrt=False)
def _ahead_after_trades(o, events, lo, hi):
    """``o``'s queue ahead after the message's trades, or -1.0 when a trade fills it (at or through its price)."""
    ahead = o.ahead
    for k in range(lo, hi):
        ev = events[k]
        if ev.kind != EV_TRADE or 1 - ev.side != o.side:
            continue
        if ev.price < o.price if o.side == SIDE_BUY else ev.price > o.price:
            return -1.0
        if ev.price == o.price:
            ahead -= ev.amount
            if ahead < 0:
                return -1.0
    return ahead


@njit(cache=True, _nrt=False)
def queue_step(rest, n_rest, events, lo, hi, px, qty, st, inst, prob):
    """One replayed message (``events[lo:hi]``, already applied to the books) for the resting orders
    ``rest[:n_rest]``: their queues move as in ``VenueModel.on_market`` (``prob``: the probabilistic model).
    Returns False, having changed nothing, when the message fills one of them."""
    for j in range(n_rest):
        o = rest[j]
        if _ahead_after_trades(o, events, lo, hi) < 0:
            return False
        opp = best_price(px, st, inst, 1 - o.side)
        if opp != BOOK_NO_PRICE and (opp <= o.price if o.side == SIDE_BUY else opp >= o.price):
            return False  # the market moved through our price
    for j in range(n_rest):
        o = rest[j]
        o.ahead = _ahead_after_trades(o, events, lo, hi)
        level = level_amount(px, qty, st, inst, o.side, o.price)
        if prob and level < o.level and o.level > 0:
            traded = 0
            for k in range(lo, hi):
                ev = events[k]
                if ev.kind == EV_TRADE and 1 - ev.side == o.side and ev.price == o.price:
                    traded += ev.amount
            cancelled = max(0, o.level - level - traded)
            o.ahead -= cancelled * o.ahead / o.level
        o.ahead = max(0.0, min(o.ahead, level))
        o.level = level
    return True
