"""End to end against the real simulator: orders placed, filled and cancelled; positions and PnL agree."""
from __future__ import annotations

import pytest

from tickwire.engine.positions import Position
from tickwire.types import SIDE_BUY, SIDE_SELL

from engine_sys import engine_run, venue_call

# the first engine in a process compiles the compiled path (minutes on a cold numba cache)
pytestmark = pytest.mark.timeout(900)


MM_TIGHT = {"half_spread": 0.5, "requote": 1.0, "size": 1.0, "max_position": 5.0, "skew": 0.5}


def test_market_maker_trades_and_positions_equal_the_venue(sim):
    result = engine_run(sim, duration_s=6.0, strategy_params=MM_TIGHT)
    c = result.counters
    assert c["orders_sent"] >= 3 and c["cancels_sent"] >= 1 and c["fills"] >= 1, c
    assert c["rejects"] == 0 and c["reconnects"] == 0
    assert result.open_orders_left == 0
    assert venue_call(sim, "private/get_open_orders_by_instrument", instrument_name="BTC-PERPETUAL") == []
    ours = result.positions["BTC-PERPETUAL"]
    venue = {p["instrument_name"]: p for p in venue_call(sim, "private/get_positions", currency="BTC")}
    assert ours["size"] == venue["BTC-PERPETUAL"]["size"] == result.venue_positions["BTC-PERPETUAL"]
    assert abs(ours["size"]) <= 5 * 10
    # PnL: replay the venue's own trade list through the reference position and compare with ours
    trades = venue_call(sim, "private/get_user_trades_by_instrument", instrument_name="BTC-PERPETUAL",
                        count=1000, sorting="asc")["trades"]
    assert len(trades) == ours["fills"] >= 1
    ref = Position("BTC-PERPETUAL")
    for t in trades:
        ref.apply_fill(SIDE_BUY if t["direction"] == "buy" else SIDE_SELL, t["price"], t["amount"], t.get("fee", 0.0))
    assert ours["size"] == ref.size
    assert ours["realized_pnl"] == pytest.approx(ref.realized_pnl, abs=1e-12)
    assert ours["fees"] == pytest.approx(ref.fees, abs=1e-12)
    if ref.size:
        assert ours["average_price"] == pytest.approx(venue["BTC-PERPETUAL"]["average_price"], rel=1e-6)
    lat = {s.name: s for s in result.latency}
    assert lat["Order Placement"].count == c["orders_sent"]
    assert lat["Market Data"].count > 100 and lat["Position Query"].count > 10
    assert 0 < lat["Market Data"].p50 < lat["Market Data"].max


def test_python_tier_taker_sends_market_orders_that_fill(sim):
    result = engine_run(sim, duration_s=4.0, strategy="tickwire.engine.strategies.taker:Taker",
                        strategy_params={"threshold": 0.2, "cooldown_ms": 100, "size": 1, "max_position": 3})
    c = result.counters
    assert c["orders_sent"] >= 1 and c["fills"] >= 1 and c["rejects"] == 0, c
    assert result.positions["BTC-PERPETUAL"]["size"] == result.venue_positions["BTC-PERPETUAL"]
