"""The seed scenarios, ours vs the baseline, on one simulator in one run.

- ``orders``: order placement round trips (one far post-only bid placed / cancelled per book update, within the
  same request budget for both clients);
- ``marketdata``: simulator send -> book applied for every ``book.{instrument}.raw`` message;
- ``positions``: private/get_positions every 100 ms, request -> answer.

One run measures all three (the clients do all three things at once, as a trading client does); each client runs
alone for ``duration_s`` (ours first, then the baseline) so they do not compete for this machine's cores.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tickwire.config import EngineConfig, RiskConfig, SessionConfig
from tickwire.engine.probes import Summary, summarize
from tickwire.engine.run import LATENCY_ROWS, run_async
from tickwire.engine.venue import fetch_instruments, start_sim

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
                 instrument: str, socket_profile: str) -> BenchResult:
    from tickwire.bench.baseline import run_baseline

    venue = await asyncio.to_thread(start_sim, (instrument,), rate)
    try:
        cfg = EngineConfig(instruments=(instrument,), strategy="tickwire.bench.pingpong:PingPong",
                           duration_s=duration_s,
                           session=SessionConfig(book_interval="raw", socket_profile=socket_profile),
                           risk=RiskConfig(max_orders_per_s=orders_per_s))
        ours = await run_async(cfg, venue)
        info = (await asyncio.to_thread(fetch_instruments, venue.http, (instrument,)))[0]
        base = await run_baseline(venue.url, venue.creds, instrument, float(info["tick_size"]),
                                  float(info["min_trade_amount"]), duration_s, orders_per_s)
    finally:
        await asyncio.to_thread(venue.close)
    baseline_ns = {LATENCY_ROWS[0]: base.order_ns, LATENCY_ROWS[1]: base.md_ns, LATENCY_ROWS[2]: base.position_ns}
    ours_ns = {LATENCY_ROWS[0]: ours.samples["order_ns"], LATENCY_ROWS[1]: ours.samples["md_ns"],
               LATENCY_ROWS[2]: ours.samples["position_ns"]}
    comps = []
    for name in scenarios:
        row = SCENARIOS[name]
        o, b = np.asarray(ours_ns[row], float), np.asarray(baseline_ns[row], float)
        comps.append(Comparison(name, summarize(row, o), summarize(row, b), o, b))
    return BenchResult(comps, duration_s, rate, orders_per_s, ours.counters, socket_profile)


def run_bench(scenario: str = "all", duration_s: float = 20.0, rate: float = 100.0, orders_per_s: float = 20.0,
              instrument: str = "BTC-PERPETUAL", socket_profile: str = "latency") -> BenchResult:
    """Run the scenarios (``all`` or one of SCENARIOS) and compare ours with the baseline; ``socket_profile`` is
    the tuning-catalogue profile of our socket (the baseline keeps the websockets library's defaults)."""
    names = list(SCENARIOS) if scenario == "all" else [scenario]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario {unknown[0]!r}; known: {', '.join(SCENARIOS)}, all")
    return asyncio.run(_bench(names, duration_s, rate, orders_per_s, instrument, socket_profile))
