"""The seed report: both clients at a small load against one simulator, the five rows, the report files; the
venue answering 10028 during the order scenario; the micro rows."""
from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
import uvloop

from tickwire.bench.alloc import run_alloc
from tickwire.bench.client_after import run_after
from tickwire.bench.handoff import run_handoff
from tickwire.bench.hdr import StreamingLatency
from tickwire.bench.load import (
    INSTRUMENTS, MARKET_BUY, MARKET_SELL, MIX_CYCLE, LastTouch, LoadSpec, OpenLoopTicker, market_instrument, order_kind,
)
from tickwire.bench.seed import ROWS, rss_growth, run_seed
from tickwire.bench.seed_report import markdown, write
from tickwire.deribit.errors import TOO_MANY_REQUESTS
from tickwire.deribit.venue import start_sim

# the first engine in a process compiles the compiled path (minutes on a cold numba cache, on a loaded host)
pytestmark = [pytest.mark.timeout(1800), pytest.mark.slow]


def test_seed_run_fills_every_cell_of_both_tables_and_writes_the_report(tmp_path):
    result = run_seed(duration_s=6.0, order_rate=200.0, book_rate=60.0, rounds=1, n_alloc=20_000,
                      n_ring=20_000, n_python=2_000)
    for side in ("before", "after"):
        s = result.side(side)
        for row in ROWS:
            assert s.rows[row].count > 0, (side, row)
        assert s.counters["orders_sent"] > 200, side
        assert s.counters.get("orders_lost", 0) == 0, side
        assert s.counters["orders_answered"] == s.counters["orders_sent"], side
    assert result.after.counters.get("engine_duplicates", 0) == 0
    assert {r["who"] for r in result.resources} >= {"simulator", "after#1", "before#1"}
    files = write(result, tmp_path)
    text = (tmp_path / "seed.md").read_text()
    for title in ("## Before Optimization", "## After Optimization", "published"):
        assert title in text
    assert all(f"| {row} |" in text for row in ROWS)
    for png in ("cdf.png", "latency_over_time.png", "rss.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "seed.json").read_text())["settings"]["sim_tier"] == "mm"
    assert len(files) == 6 and markdown(result) == text


def test_the_venue_answering_10028_is_counted_reported_and_recovered_from():
    """Tier 1 (30 orders/s) against a scheduled 150/s: the venue refuses, the engine counts each refusal, backs
    off, keeps answering and loses no order."""
    venue = start_sim(INSTRUMENTS, 20.0, extra=("--tier", "1"))
    try:
        spec = LoadSpec(venue.url, venue.http, duration_s=5.0, order_rate=150.0)
        out = uvloop.run(run_after(spec, venue.creds))
    finally:
        venue.close()
    c = out.counters
    assert c["engine_rate_limited"] > 0 and c["engine_rejects"] > 0  # counted (and printed in the report)
    assert c["orders_answered"] == c["orders_sent"] and c.get("orders_lost", 0) == 0
    assert c["orders_answered"] > 100  # 30/s sustained + a burst of 100 over 5 s, answered (accepted or refused)
    assert c["kills"] == 0
    assert TOO_MANY_REQUESTS == 10028


def test_the_ticker_fires_every_scheduled_time_once_in_order():
    fired: list[tuple[int, int]] = []

    async def main() -> None:
        ticker = OpenLoopTicker(asyncio.get_running_loop(), 500.0, 0.4, lambda k, t: fired.append((k, t)))
        ticker.start()
        while ticker.running():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        ticker.stop()

    asyncio.run(main())
    assert [k for k, _ in fired] == list(range(200))
    assert all(b[1] - a[1] == 2_000_000 for a, b in zip(fired, fired[1:]))


def test_rss_growth_is_measured_after_the_warm_up_per_process():
    rows = [{"t": t, "who": "a", "rss_bytes": 100 + (50 if t >= 30 else 0) + (t - 30 if t >= 30 else 0)}
            for t in range(0, 41)]
    assert rss_growth(rows) == {"a": pytest.approx(100.0 * 10 / 150)}


def test_micro_rows_measure_each_method_and_lose_nothing():
    alloc = run_alloc(20_000)
    assert set(alloc.net_ns) == {"pool", "dict", "object", "np.zeros"}
    assert all(v.shape[0] == 20_000 // alloc.batch for v in alloc.raw_ns.values())
    assert alloc.per_op_ns.shape[0] == 20_000
    assert alloc.pool_stats["refused"] == 0 and alloc.pool_stats["bad_releases"] == 0
    assert alloc.pool_stats["acquired"] == 20_000 // 10 + 2 * 20_000  # warm-up, batches, one per stamp pair
    assert np.median(alloc.net_ns["pool"]) < np.median(alloc.net_ns["dict"])
    hand = run_handoff(n_ring=20_000, n_python=1_000, timeout_s=120)
    assert hand.lost == {"ring": 0, "queue.Queue": 0, "multiprocessing.Queue": 0}
    assert hand.samples_ns["ring"].shape[0] == 20_000


@pytest.mark.bench
def test_bench_seed_report_one_minute_per_side(tmp_path):
    """`make bench`: the seed report at the seed's load, a minute per side (the README shows longer runs)."""
    result = run_seed(duration_s=60.0)
    write(result, tmp_path)
    print("\n" + markdown(result))
    for side in ("before", "after"):
        assert result.side(side).counters.get("orders_lost", 0) == 0
        assert all(result.side(side).rows[row].count > 0 for row in ROWS)


def test_the_order_mix_is_flat_per_instrument_and_spreads_market_orders():
    n_inst, cycles = len(INSTRUMENTS), 30
    net = [0] * n_inst
    market = 0
    for k in range(cycles * MIX_CYCLE):
        kind = order_kind(k)
        if kind in (MARKET_BUY, MARKET_SELL):
            market += 1
            net[market_instrument(k, n_inst)] += 1 if kind == MARKET_BUY else -1
            assert net[market_instrument(k, n_inst)] in (0, 1)  # a buy, then its sell on the same instrument
    assert net == [0] * n_inst and market == 2 * cycles  # 5 % market orders, every instrument flat
    assert {market_instrument(c * MIX_CYCLE, n_inst) for c in range(n_inst)} == set(range(n_inst))


def test_last_touch_prices_from_the_last_two_sided_book():
    touch = LastTouch()
    assert touch.price_from(0, 101) is None  # never two-sided yet: nothing to price from
    assert touch.price_from(100, 101) == (100, 101)
    assert touch.price_from(100, 0) == (100, 101) and touch.price_from(0, 0) == (100, 101)
    assert touch.price_from(99, 102) == (99, 102) and touch.stale == 2


def test_rss_growth_starts_its_warm_up_when_the_load_starts():
    """A client compiling for 100 s first (its RSS climbing) counts from 30 s after its load started."""
    starting = [{"t": t, "who": "a", "rss_bytes": 50 + t, "loaded": False} for t in range(100)]
    loaded = [{"t": t, "who": "a", "rss_bytes": 200 + (4 if t >= 190 else 0), "loaded": True} for t in range(100, 200)]
    assert rss_growth(starting + loaded) == {"a": pytest.approx(2.0)}


def test_each_latency_window_counts_only_its_own_samples():
    """The window histogram is reused (cleared in place): nothing of one window leaks into the next."""
    lat = StreamingLatency("x", window_s=1.0)
    lat.add([1000] * 10, 0.0)
    lat.add([9000] * 4, 1.5)
    lat.add([], 3.2)  # an empty window in between is closed with no samples
    lat.add([2000] * 3, 3.4)
    lat.finish()
    assert [(t, n) for t, n, _, _ in lat.windows] == [(0.0, 10), (1.0, 4), (2.0, 0), (3.0, 3)]
    assert [p50 for _, _, p50, _ in lat.windows] == [1.0, pytest.approx(9.0, rel=1e-3), 0.0, 2.0]
    assert lat.total.get_total_count() == 17 and lat.total.get_max_value() >= 9000


@pytest.mark.parametrize("sides", [(), ("after", "after"), ("middle",)])
def test_unknown_or_repeated_sides_are_refused_before_anything_starts(sides):
    with pytest.raises(ValueError, match="sides"):
        run_seed(duration_s=1.0, sides=sides)
