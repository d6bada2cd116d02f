"""The batched compiled loop of `tickwire backtest` against the one-message-per-call reference, on a synthetic
market of 20k messages (synth_market): the same orders, fills, PnL and curve, while almost every message stays in
compiled code."""
from __future__ import annotations

import pytest

import synth_market
from tickwire.engine.backtest import Backtest, BacktestConfig

pytestmark = pytest.mark.timeout(900)  # the first run of a process compiles the pass

MM = "tickwire.engine.strategies.market_maker:MarketMaker"
N_MSGS = 20_000


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    return synth_market.write(tmp_path_factory.mktemp("bt") / "market.pcap", synth_market.messages(N_MSGS))


def _both(capture, **kw):
    runs = [Backtest(BacktestConfig(capture, MM, batch=batch, **kw)).run() for batch in (True, False)]
    return runs


@pytest.mark.parametrize("queue, latency, params", [
    ("riskaverse", "constant:1000", {"half_spread": 2.0, "skew": 0.0, "requote": 1.0, "widen": 0.0}),
    ("prob", "constant:300", {}),  # the demo defaults: skewed quotes, widening timers after trades against us
])
def test_batched_loop_gives_the_reference_result(market, queue, latency, params):
    batched, reference = _both(market, queue=queue, latency=latency, params=params)
    assert batched.summary() == reference.summary()
    assert batched.fills == reference.fills and batched.curve == reference.curve
    s = batched.summary()
    assert s["messages"] == N_MSGS and s["fills"] > 50 and s["orders"] > 100 and s["cancels"] > 50
    # the reference handles every message in Python; the batched loop only those where the venue model acts
    assert reference.python_messages == N_MSGS
    assert batched.python_messages < N_MSGS // 3


def test_a_python_tier_strategy_runs_one_message_at_a_time(market):
    r = Backtest(BacktestConfig(market, "bt_strategies:MarketOnce", params={"size": 1})).run()
    assert r.summary()["orders"] == 1 and r.python_messages == N_MSGS
