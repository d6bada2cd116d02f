"""Strategy API: loading, Python-tier actions into the buffer, and the demo market maker's decisions."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickwire.engine import orders as om
from tickwire.md.book import Books, book_apply_level
from tickwire.engine.strategies.market_maker import MarketMaker, mm_kernel, quote_targets
from tickwire.engine.strategies.taker import NO_SIGNAL, Taker, signal
from tickwire.engine.strategy import (
    K_BOOK, NumbaStrategy, StrategyLoadError, buy, cancel, load_strategy, market, new_market, write_actions,
)
from tickwire.types import (
    ACT_CANCEL, ACT_NEW, ACTION_DTYPE, BOOK_ASK, BOOK_BID, EVENT_DTYPE, ORD_OPEN, OT_MARKET, SIDE_BUY, SIDE_SELL,
)

NO_EV = np.zeros(1, EVENT_DTYPE)[0]


def test_load_strategy_accepts_both_tiers_and_explains_failures():
    assert load_strategy("tickwire.engine.strategies.market_maker:MarketMaker") is MarketMaker
    assert load_strategy("tickwire.engine.strategies.taker:Taker") is Taker
    for spec, words in [("nocolon", "package.module:Name"), ("no.such.module:X", "cannot import"),
                        ("tickwire.engine.strategy:buy", "not a Strategy")]:
        with pytest.raises(StrategyLoadError, match=words):
            load_strategy(spec)
    with pytest.raises(ValueError, match="unknown parameter"):
        MarketMaker(None, spred=1)


def test_python_actions_fill_the_buffer_and_extra_ones_are_dropped():
    out = np.zeros(2, ACTION_DTYPE)
    assert write_actions([buy(0, 100, 2, post_only=True), market(0, SIDE_SELL, 1), cancel(9)], out) == 2
    assert out[0]["kind"] == ACT_NEW and out[0]["price"] == 100 and out[0]["post_only"] == 1
    assert out[1]["otype"] == OT_MARKET and out[1]["side"] == SIDE_SELL
    assert write_actions(None, out) == 0


@pytest.mark.parametrize("bid, ask, threshold, want", [(90, 10, 0.6, SIDE_BUY), (10, 90, 0.6, SIDE_SELL),
                                                       (50, 50, 0.6, NO_SIGNAL), (0, 0, 0.6, NO_SIGNAL)])
def test_taker_signal(bid, ask, threshold, want):
    assert signal(bid, ask, threshold) == want


def _quote_targets_py(bid, ask, position, params):
    import math

    mid = (bid + ask) / 2
    b = math.floor(mid - params[0] - params[2] * position)
    a = math.ceil(mid + params[0] - params[2] * position)
    return min(b, ask - 1), max(a, bid + 1)


@settings(max_examples=200, deadline=None)
@given(st.integers(1000, 2000), st.integers(1, 20), st.integers(-30, 30), st.floats(0, 10), st.floats(0, 2))
def test_quote_targets_kernel_equals_twin_and_skews_against_the_position(bid, spread, pos, half, skew):
    params = np.array([half, 1, skew, 3, 20, 4, 500], float)
    got = quote_targets(bid, bid + spread, pos, params)
    assert got == _quote_targets_py(bid, bid + spread, pos, params)
    assert got[0] < bid + spread and got[1] > bid
    flat = quote_targets(bid, bid + spread, 0, params)
    if pos > 0:
        assert got[1] <= flat[1]  # long: the ask comes down (sell sooner)


def _book(bid=1000, ask=1004):
    books = Books(1, 16)
    book_apply_level(books.px, books.qty, books.state, 0, BOOK_BID, 1, bid, 5)
    book_apply_level(books.px, books.qty, books.state, 0, BOOK_ASK, 1, ask, 5)
    books.state[0]["valid"] = 1
    return books


def test_market_maker_quotes_both_sides_then_requotes_and_stops_on_an_invalid_book():
    mkt, acct, out = new_market(_book()), om.new_account(1, 8), np.zeros(8, ACTION_DTYPE)
    orders = acct.orders
    params = MarketMaker(None, half_spread=1, requote=2).params_array()
    n = mm_kernel(K_BOOK, 0, NO_EV, mkt, acct, params, out)
    assert n == 2 and {int(out[i]["side"]) for i in range(2)} == {SIDE_BUY, SIDE_SELL}
    assert all(out[i]["kind"] == ACT_NEW and out[i]["post_only"] == 1 for i in range(2))
    # both quotes rest at the venue; the market moves 10 ticks: both are cancelled, none re-placed yet
    for i in range(2):
        orders[i]["cid"], orders[i]["state"], orders[i]["side"], orders[i]["price"] = i + 1, ORD_OPEN, \
            out[i]["side"], out[i]["price"]
    moved = new_market(_book(1010, 1014))
    n = mm_kernel(K_BOOK, 0, NO_EV, moved, acct, params, out)
    assert n == 2 and all(out[i]["kind"] == ACT_CANCEL for i in range(2))
    # an invalid book: cancel resting quotes, place nothing
    moved.st[0]["valid"] = 0
    n = mm_kernel(K_BOOK, 0, NO_EV, moved, acct, params, out)
    assert n == 2 and all(out[i]["kind"] == ACT_CANCEL for i in range(2))
    orders["state"] = om.ORD_CANCELLED
    assert mm_kernel(K_BOOK, 0, NO_EV, moved, acct, params, out) == 0


def test_market_maker_respects_its_position_limit():
    mkt, acct, out = new_market(_book()), om.new_account(1, 8), np.zeros(8, ACTION_DTYPE)
    acct.expo[0]["position"] = 20  # long at the limit: only the ask is quoted
    params = MarketMaker(None, max_position=20).params_array()
    n = mm_kernel(K_BOOK, 0, NO_EV, mkt, acct, params, out)
    assert n == 1 and out[0]["side"] == SIDE_SELL
    assert issubclass(MarketMaker, NumbaStrategy)
