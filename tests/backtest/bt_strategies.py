"""Strategies the backtest tests run (loaded by name, as ``tickwire backtest --strategy`` does)."""
from __future__ import annotations

from numba import njit

from tickwire.engine.strategy import K_BOOK, K_TRADE, NumbaStrategy, Strategy, buy, market
from tickwire.md.book import book_top
from tickwire.engine.strategies.market_maker import MarketMaker, emit_action, mm_kernel
from tickwire.types import ACT_NEW, BOOK_NO_PRICE, SIDE_BUY

P_OFFSET, P_SIZE, P_POST_ONLY = range(3)


@njit(cache=True, _nrt=False)
def one_bid_kernel(kind, inst, ev, mkt, acct, params, out):
    """One buy of ``size`` lots at ``best bid + offset`` ticks, placed once, on the first valid book."""
    if kind != K_BOOK or mkt.st[inst].valid == 0:
        return 0
    for i in range(acct.orders.shape[0]):
        if acct.orders[i].cid != 0:
            return 0
    bp, bq, ap, aq = book_top(mkt.px, mkt.qty, mkt.st, inst)
    if bp == BOOK_NO_PRICE:
        return 0
    n = emit_action(out, 0, ACT_NEW, inst, SIDE_BUY, bp + int(params[P_OFFSET]), int(params[P_SIZE]), 0)
    out[0].post_only = int(params[P_POST_ONLY])
    return n


class OneBid(NumbaStrategy):
    kernel = one_bid_kernel
    defaults = {"offset": 0.0, "size": 2.0, "post_only": 1.0}


@njit(cache=True, _nrt=False)
def garbage_kernel(kind, inst, ev, mkt, acct, params, out):
    """Returns counts it never wrote and actions no venue would take."""
    if kind != K_BOOK:
        return 0
    out[0].kind = 77
    out[0].amount = -5
    return 1 if params[0] > 0 else 1000


class Garbage(NumbaStrategy):
    kernel = garbage_kernel
    defaults = {"valid_count": 1.0}


@njit(cache=True, _nrt=False)
def every_message_kernel(kind, inst, ev, mkt, acct, params, out):
    """The demo market maker's quoting on every market message, a trade included (the demo kernel acts on a
    trade only when it hit one of its quotes): what hftbacktest's quoter in hbt_peer does on each wake."""
    return mm_kernel(K_BOOK if kind == K_TRADE else kind, inst, ev, mkt, acct, params, out)


class EveryMessageQuoter(NumbaStrategy):
    kernel = every_message_kernel
    defaults = MarketMaker.defaults


class MarketOnce(Strategy):
    """Python tier: one market buy of ``size`` lots at the first valid book, then nothing."""

    def __init__(self, ctx, size: float = 3) -> None:
        super().__init__(ctx, size=size)
        self.done = False

    def on_book(self, inst, book):
        if self.done or not book.valid:
            return None
        self.done = True
        return [market(inst, SIDE_BUY, int(self.params["size"]))]


class Raises(Strategy):
    def on_book(self, inst, book):
        raise RuntimeError("strategy bug")

    def on_trade(self, inst, side, price, amount):
        return [buy(inst, price, 1)]
