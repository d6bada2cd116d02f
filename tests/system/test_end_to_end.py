"""End to end against the real simulator: orders placed, filled and cancelled; positions and PnL agree."""
from __future__ import annotations

import pytest

from engine_sys import counters, engine_run, position_answers, venue_call

# the first engine in a process compiles the compiled path (minutes on a cold numba cache)
pytestmark = pytest.mark.timeout(900)


MM_TIGHT = {"half_spread": 0.5, "requote": 1.0, "size": 1.0, "max_position": 5.0, "skew": 0.5}


def _traded_and_measured(engine, session) -> bool:
    c = counters(engine)
    return (c["orders_sent"] >= 3 and c["cancels_sent"] >= 1 and c["fills"] >= 1
            and len(engine.probes.md_samples()) > 100 and position_answers(engine) > 10)


def test_market_maker_trades_and_positions_equal_the_venue(sim):
    result = engine_run(sim, until=_traded_and_measured, strategy_params=MM_TIGHT)
    c = result.counters
    assert c["orders_sent"] >= 3 and c["cancels_sent"] >= 1 and c["fills"] >= 1, c
    assert c["rejects"] == 0 and c["reconnects"] == 0
    assert result.open_orders_left == 0
    assert venue_call(sim, "private/get_open_orders_by_instrument", instrument_name="BTC-PERPETUAL") == []
    ours = result.positions["BTC-PERPETUAL"]
    venue = {p["instrument_name"]: p for p in venue_call(sim, "private/get_positions", currency="BTC")}
    assert ours["size"] == venue["BTC-PERPETUAL"]["size"] == result.venue_positions["BTC-PERPETUAL"]
    assert abs(ours["size"]) <= 5 * 10
    # PnL from the venue's own trade list, computed here (not by the Position class under test). An inverse
    # perpetual's fill of q USD at p moves side * q / p BTC, so for every mark m:
    #   realized + size * (1/avg - 1/m) == sum(side * q * (1/p - 1/m)),  i.e.  realized + size/avg == sum(side*q/p)
    trades = venue_call(sim, "private/get_user_trades_by_instrument", instrument_name="BTC-PERPETUAL",
                        count=1000, sorting="asc")["trades"]
    assert len(trades) == ours["fills"] >= 1
    signed = [(1 if t["direction"] == "buy" else -1) * t["amount"] for t in trades]
    assert ours["size"] == sum(signed)
    coins = sum(q / t["price"] for q, t in zip(signed, trades))
    held = ours["size"] / ours["average_price"] if ours["size"] else 0.0
    assert ours["realized_pnl"] + held == pytest.approx(coins, abs=1e-12)
    assert ours["fees"] == pytest.approx(sum(t.get("fee", 0.0) for t in trades), abs=1e-12)
    if ours["size"]:
        assert ours["average_price"] == pytest.approx(venue["BTC-PERPETUAL"]["average_price"], rel=1e-6)
    lat = {s.name: s for s in result.latency}
    assert lat["Order Placement"].count == c["orders_sent"]
    assert lat["Market Data"].count > 100 and lat["Position Query"].count > 10
    assert 0 < lat["Market Data"].p50 < lat["Market Data"].max


def test_python_tier_taker_sends_market_orders_that_fill(sim):
    result = engine_run(sim, until=lambda engine, _: counters(engine)["fills"] >= 1,
                        strategy="tickwire.engine.strategies.taker:Taker",
                        strategy_params={"threshold": 0.2, "cooldown_ms": 100, "size": 1, "max_position": 3})
    c = result.counters
    assert c["orders_sent"] >= 1 and c["fills"] >= 1 and c["rejects"] == 0, c
    assert result.positions["BTC-PERPETUAL"]["size"] == result.venue_positions["BTC-PERPETUAL"]
