"""The benchmark scenarios, ours vs the baseline, on one simulator in one run.

- ``orders``: order placement round trips (one far post-only bid placed / cancelled per book update, within the
  same request budget for both clients);
- ``marketdata``: simulator send -> book applied for every ``book.{instrument}.raw`` message;
- ``positions``: private/get_positions every 100 ms, request -> answer.

One run measures all three (the clients do all three things at once, as a trading client does). The clients take
turns in ``rounds`` slices of the duration (ours, baseline, ours, ...) so they never compete for this machine's
cores and both see the same background load.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tickwire.config import EngineConfig, RiskConfig, SessionConfig
from tickwire.engine.probes import Summary, summarize
from tickwire.engine.run import LATENCY_ROWS, run_async
from tickwire.deribit.venue import fetch_instruments, start_sim

SCENARIOS = {"orders": LATENCY_ROWS[0], "marketdata": LATENCY_ROWS[1], "positions": LATENCY_ROWS[2]}


@dataclass
class Comparison:
    """One metric: our summary, the baseline's, and their ratios (ours / baseline; < 1 means faster)."""

    scenario: str
    ours: Summary
    baseline: Summary
    ours_ns: np.ndarray = field(repr=False)
    baseline_ns: np.ndarray = field(repr=False)

    @property
    def ratio_p50(self) -> float:
        return self.ours.p50 / self.baseline.p50 if self.baseline.p50 else float("nan")

    @property
    def ratio_p99(self) -> float:
        return self.ours.p99 / self.baseline.p99 if self.baseline.p99 else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "ours": self.ours.as_dict(), "baseline": self.baseline.as_dict(),
                "ratio_p50": self.ratio_p50, "ratio_p99": self.ratio_p99}


@dataclass
class BenchResult:
    comparisons: list[Comparison]
    duration_s: float
    rate: float
    orders_per_s: float
    counters: dict[str, int]
    socket_profile: str = "latency"

    def as_dict(self) -> dict[str, Any]:
        return {"duration_s": self.duration_s, "book_rate_per_s": self.rate, "orders_per_s": self.orders_per_s,
                "socket_profile": self.socket_profile,
                "comparisons": [c.as_dict() for c in self.comparisons], "engine_counters": self.counters}


async def _bench(scenarios: list[str], duration_s: float, rate: float, orders_per_s: float,
                 instrument: str, socket_profile: str, rounds: int) -> BenchResult:
    from tickwire.bench.baseline import run_baseline

    ours_ns: dict[str, list[np.ndarray]] = {row: [] for row in LATENCY_ROWS}
    base_ns: dict[str, list[np.ndarray]] = {row: [] for row in LATENCY_ROWS}
    counters: dict[str, int] = {}
    venue = await asyncio.to_thread(start_sim, (instrument,), rate)
    try:
        info = (await asyncio.to_thread(fetch_instruments, venue.http, (instrument,)))[0]
        cfg = EngineConfig(instruments=(instrument,), strategy="tickwire.bench.pingpong:PingPong",
                           duration_s=duration_s / rounds,
                           session=SessionConfig(book_interval="raw", socket_profile=socket_profile),
                           risk=RiskConfig(max_orders_per_s=orders_per_s))
        for _ in range(rounds):  # alternate the clients so both see the same background load on this host
            ours = await run_async(cfg, venue)
            for row, key in zip(LATENCY_ROWS, ("order_ns", "md_ns", "position_ns")):
                ours_ns[row].append(np.asarray(ours.samples[key], float))
            counters = {k: counters.get(k, 0) + v for k, v in ours.counters.items()}
            base = await run_baseline(venue.url, venue.creds, instrument, float(info["tick_size"]),
                                      float(info["min_trade_amount"]), duration_s / rounds, orders_per_s)
            for row, samples in zip(LATENCY_ROWS, (base.order_ns, base.md_ns, base.position_ns)):
                base_ns[row].append(np.asarray(samples, float))
    finally:
        await asyncio.to_thread(venue.close)
    comps = []
    for name in scenarios:
        row = SCENARIOS[name]
        o, b = np.concatenate(ours_ns[row]), np.concatenate(base_ns[row])
        comps.append(Comparison(name, summarize(row, o), summarize(row, b), o, b))
    return BenchResult(comps, duration_s, rate, orders_per_s, counters, socket_profile)


def run_bench(scenario: str = "all", duration_s: float = 20.0, rate: float = 100.0, orders_per_s: float = 20.0,
              instrument: str = "BTC-PERPETUAL", socket_profile: str = "latency", rounds: int = 0) -> BenchResult:
    """Run the scenarios (``all`` or one of SCENARIOS) and compare ours with the baseline; ``socket_profile`` is
    the tuning-catalogue profile of our socket (the baseline keeps the websockets library's defaults)."""
    names = list(SCENARIOS) if scenario == "all" else [scenario]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario {unknown[0]!r}; known: {', '.join(SCENARIOS)}, all")
    rounds = rounds or max(1, min(5, int(duration_s // 4)))
    return asyncio.run(_bench(names, duration_s, rate, orders_per_s, instrument, socket_profile, rounds))
