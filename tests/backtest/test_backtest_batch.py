"""The batched compiled loop of `tickwire backtest` against the one-message-per-call reference, on a synthetic
market of 20k messages (synth_market): the same orders, fills, PnL and curve, while almost every message stays in
compiled code."""
from __future__ import annotations

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


@pytest.mark.parametrize("queue, latency, params, limits", [
    ("riskaverse", "constant:1000", hbt_peer.QUOTE, hbt_peer.NO_LIMITS),  # an order on most messages
    # the demo defaults: skewed quotes, widening timers after trades against us; tier-2 rate limits refuse some
    ("prob", "constant:300", {}, {}),
])
def test_batched_loop_gives_the_reference_result(market, queue, latency, params, limits):
    batched, reference = (Backtest(BacktestConfig(market, MM, params=params, latency=latency, queue=queue,
                                                  batch=batch, **limits)).run() for batch in (True, False))
    assert batched.summary() == reference.summary()
    assert batched.fills == reference.fills and batched.curve == reference.curve
    s = batched.summary()
    assert s["messages"] == N_MSGS and s["fills"] > 500 and s["orders"] > 1000 and s["cancels"] > 500
    # the reference handles every message in Python; the batched loop only those where the venue model acts
    assert reference.python_messages == N_MSGS
    assert batched.python_messages < N_MSGS


def test_a_quiet_strategy_stays_in_compiled_code(market):
    r = Backtest(BacktestConfig(market, "bt_strategies:OneBid")).run()
    assert r.summary()["orders"] == 1 and r.summary()["fills"] >= 1
    assert r.python_messages <= 10  # its order's request, answers and fill


def test_a_python_tier_strategy_runs_one_message_at_a_time(market):
    r = Backtest(BacktestConfig(market, "bt_strategies:MarketOnce", params={"size": 1})).run()
    assert r.summary()["orders"] == 1 and r.python_messages == N_MSGS
