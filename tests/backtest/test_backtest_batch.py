"""The differential test of the two venue models: `tickwire backtest`'s compiled loop with the compiled venue model
(tickwire.engine.backtest_exchange) against the one-message-per-call reference with the Python venue model
(VenueModel), on a synthetic market of 20k messages (synth_market): the same orders, fills, PnL, positions and
curve, while no message of the compiled run goes back to Python. The crafted captures of test_backtest_fills and
the real multicast capture of test_backtest_sbe run through both models too."""
from __future__ import annotations

import json

import pytest

import hbt_peer
import synth_market
from tickwire.engine.backtest import Backtest, BacktestConfig

pytestmark = pytest.mark.timeout(900)  # the first run of a process compiles the pass

MM = "tickwire.engine.strategies.market_maker:MarketMaker"
N_MSGS = 20_000


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    return synth_market.write(tmp_path_factory.mktemp("bt") / "market.pcap",
                              synth_market.messages(N_MSGS, gap_us=20_000))


@pytest.mark.parametrize("strategy, queue, latency, params, limits, post_only", [
    # an order on most messages, as in the peer comparison
    (hbt_peer.QUOTER, "riskaverse", "constant:1000", hbt_peer.QUOTE, hbt_peer.NO_LIMITS, "reject"),
    # the demo defaults: skewed quotes, widening timers after trades against us; tier-2 rate limits refuse some
    (MM, "prob", "constant:300", {}, {}, "reprice"),
    # latencies drawn from measured round trips (both models take the same draws in the same order)
    (MM, "riskaverse", "measured:RTT", hbt_peer.QUOTE, hbt_peer.NO_LIMITS, "reprice"),
])
def test_compiled_venue_model_gives_the_reference_result(market, tmp_path, strategy, queue, latency, params,
                                                         limits, post_only):
    rtt = tmp_path / "rtt.json"
    rtt.write_text(json.dumps([400_000 + 37_000 * k for k in range(60)]))  # 0.4 .. 2.6 ms round trips
    latency = latency.replace("RTT", str(rtt))
    compiled, reference = (Backtest(BacktestConfig(market, strategy, params=params, latency=latency, queue=queue,
                                                   post_only=post_only, batch=batch, **limits)).run()
                           for batch in (True, False))
    assert compiled.summary() == reference.summary()
    assert compiled.fills == reference.fills and compiled.curve == reference.curve
    s = compiled.summary()
    assert s["messages"] == N_MSGS and s["fills"] > 500 and s["orders"] > 1000 and s["cancels"] > 500
    # the reference handles every message in Python, the compiled loop none
    assert reference.python_messages == N_MSGS and compiled.python_messages == 0


def test_a_quiet_strategy_stays_in_compiled_code(market):
    r = Backtest(BacktestConfig(market, "bt_strategies:OneBid")).run()
    assert r.summary()["orders"] == 1 and r.summary()["fills"] >= 1
    assert r.python_messages == 0


def test_a_python_tier_strategy_runs_one_message_at_a_time(market):
    r = Backtest(BacktestConfig(market, "bt_strategies:MarketOnce", params={"size": 1})).run()
    assert r.summary()["orders"] == 1 and r.python_messages == N_MSGS
