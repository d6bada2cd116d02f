"""Order latency of the backtest venue model: constant, or drawn from measured round trips (seeded)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tickwire.engine.backtest_venue import Latency, load_round_trips


def test_constant_is_each_way_in_microseconds():
    lat = Latency.parse("constant:250")
    assert [lat.entry(), lat.response()] == [250_000, 250_000]


@pytest.mark.parametrize("spec, words", [("constant:x", "MICROSECONDS"), ("constant:-1", r"\[0, 60e6\]"),
                                         ("constant:nan", r"\[0, 60e6\]"), ("gauss:3", "constant:US"),
                                         ("measured:/nonexistent/x.json", "latency file")])
def test_bad_specs_are_refused_with_a_reason(spec, words):
    with pytest.raises(ValueError, match=words):
        Latency.parse(spec)


def test_measured_round_trips_split_half_each_way_and_draws_repeat(tmp_path):
    f = tmp_path / "rtt.json"
    f.write_text(json.dumps([100_000, 200_000, 300_001]))
    a, b = Latency.parse(f"measured:{f}"), Latency.parse(f"measured:{f}")
    draws = [(a.entry(), a.response()) for _ in range(50)]
    assert draws == [(b.entry(), b.response()) for _ in range(50)]  # seeded: the same run twice
    assert {d for d, _ in draws} <= {50_000, 100_000, 150_000} and {r for _, r in draws} <= {50_000, 100_000,
                                                                                          150_001}
    assert len({d for d, _ in draws}) > 1


def test_run_report_percentiles_and_histograms(tmp_path):
    report = {"latency_us": [{"name": "Order Placement", "count": 10, "avg_us": 60.0, "p50_us": 50.0,
                              "p95_us": 90.0, "p99_us": 120.0, "p99_9_us": 200.0, "max_us": 400.0}]}
    f = tmp_path / "run.json"
    f.write_text(json.dumps(report))
    rtt = load_round_trips(f)
    assert rtt.size == 1000 and rtt[0] == 50_000 and np.median(rtt) == pytest.approx(50_000, rel=0.01)
    assert np.percentile(rtt, 99) == pytest.approx(120_000, rel=0.05) and rtt[-1] <= 400_000
    f.write_text(json.dumps({"buckets": [[1000, 2], [5000, 1], [9000, 0]]}))
    assert list(load_round_trips(f)) == [1000, 1000, 5000]
    f.write_text(json.dumps({"latency_us": [{"name": "Market Data", "count": 3}]}))
    with pytest.raises(ValueError, match="no Order Placement"):
        load_round_trips(f)
    f.write_text("[-5]")
    with pytest.raises(ValueError, match="no usable"):
        load_round_trips(f)
