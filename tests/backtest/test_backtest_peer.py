"""The peer comparison with hftbacktest on a synthetic market of 20k messages (synth_market): the same fixed-offset
quoting on every message, constant latency, risk-averse queue and post-only rule (rejected, as its GTX) in both
(hbt_peer). The benchmark with wall times is test_bench_backtest.py."""
from __future__ import annotations

import pytest

import hbt_peer
import synth_market

pytestmark = pytest.mark.timeout(900)  # the first run of a process compiles both backtesters
N_MSGS = 20_000


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    return synth_market.write(tmp_path_factory.mktemp("peer") / "market.pcap",
                              synth_market.messages(N_MSGS, gap_us=20_000))


@pytest.fixture(scope="module")
def both(market):
    ours = hbt_peer.run_ours(market, 1000)
    peer = hbt_peer.run_hbt(hbt_peer.to_hbt(hbt_peer.capture_events(market)), hbt_peer.QUOTE["half_spread"], 1000)
    return ours, peer


def test_both_backtesters_quote_and_fill_alike(both):
    ours, peer = both
    assert ours["risk_refused"] == 0 and ours["orders"] > 1000
    assert ours["fills"] > 1000 and peer["fills"] > 1000
    assert abs(ours["fills"] - peer["fills"]) <= 0.10 * peer["fills"]
    assert ours["pnl"] == pytest.approx(ours["engine_pnl"], rel=1e-6, abs=1e-12)  # our engine's own PnL agrees


def test_fill_counts_within_5_percent_of_hftbacktest(both):
    ours, peer = both
    assert abs(ours["fills"] - peer["fills"]) <= 0.05 * peer["fills"]
