"""The order-load strategy of the benchmarks, in both tiers' spirit but numba: place one post-only bid far
from the touch (it rests, never fills), cancel it once acknowledged, repeat on every book update — so order
placement round trips happen at the rate the risk and credit budget allow, identically for every run."""
from __future__ import annotations

from numba import njit

from tickwire.md.book import book_top
from tickwire.engine.orders import is_live
from tickwire.engine.strategies.market_maker import emit_action
from tickwire.engine.strategy import K_BOOK, NumbaStrategy
from tickwire.types import (
    ACT_CANCEL, ACT_NEW, BOOK_NO_PRICE, ORD_OPEN, SIDE_BUY,
)


@njit(cache=True, _nrt=False)
def pingpong_kernel(kind, inst, ev, mkt, acct, params, out):
    """The strategy kernel (tickwire.engine.strategy): one far bid, cancelled once acknowledged."""
    if kind != K_BOOK:
        return 0
    bp, bq, ap, aq = book_top(mkt.px, mkt.qty, mkt.st, inst)
    if mkt.st[inst].valid == 0 or bp == BOOK_NO_PRICE or ap == BOOK_NO_PRICE or out.shape[0] == 0:
        return 0
    orders = acct.orders
    for i in range(orders.shape[0]):
        o = orders[i]
        if o.inst == inst and is_live(o.state):
            if o.state != ORD_OPEN:
                return 0  # still pending: wait for the answer
            a = out[0]
            a.kind = ACT_CANCEL
            a.cid = o.cid
            return 1
    return emit_action(out, 0, ACT_NEW, inst, SIDE_BUY, bp - int(params[0]), 1, 0)


class PingPong(NumbaStrategy):
    """Place / cancel one far bid per book update (``offset`` ticks below the best bid)."""

    kernel = pingpong_kernel
    defaults = {"offset": 40.0}
