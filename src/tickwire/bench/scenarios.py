"""The benchmark scenarios, ours vs the baseline, on one simulator in one run.

- ``orders``: order placement round trips (one far post-only bid placed / cancelled per book update, within the
  same request budget for both clients);
- ``marketdata``: simulator send -> book applied for every ``book.{instrument}.raw`` message;
- ``positions``: private/get_positions every 100 ms, request -> answer.

One run measures all three (the clients do all three things at once, as a trading client does). The clients take
turns in ``rounds`` slices of the duration (ours, baseline, ours, ...) so they never compete for this machine's
cores and both see the same background load. Our engine runs once per driver in ``drivers`` per round.

The clients run pinned to one CPU (the core plan's engine CPU), the simulator and the capture on the others.
The whole run is recorded on lo (when allowed): every client's turn then also gets the wire rows of
tickwire.md.wire (tick-to-trade on the wire; the venue's part and the client's part of every round trip),
measured the same way for every client.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tickwire.config import EngineConfig, RiskConfig, SessionConfig
from tickwire.engine.placement import place
from tickwire.engine.probes import Summary, summarize
from tickwire.engine.run import LATENCY_ROWS, run_async
from tickwire.deribit.venue import fetch_instruments, start_sim
from tickwire.md.record import RecordError
from tickwire.md.wire import WIRE_ROWS, WireCapture, WireRecording, wire_samples

SCENARIOS = {"orders": LATENCY_ROWS[0], "marketdata": LATENCY_ROWS[1], "positions": LATENCY_ROWS[2]}
DRIVERS = ("async", "spin")  # engine drivers (EngineConfig.driver)
BASELINE = "baseline"
BASELINE_LOGGED = "baseline (trigger by logged change_id)"


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
    # client ("ours (async)", ..., "baseline") -> row (LATENCY_ROWS + WIRE_ROWS) -> summary
    clients: dict[str, dict[str, Summary]] = field(default_factory=dict)
    wire_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # placement, capture

    def as_dict(self) -> dict[str, Any]:
        return {"duration_s": self.duration_s, "book_rate_per_s": self.rate, "orders_per_s": self.orders_per_s,
                "socket_profile": self.socket_profile,
                "comparisons": [c.as_dict() for c in self.comparisons], "engine_counters": self.counters,
                "clients": {c: {row: s.as_dict() for row, s in rows.items()} for c, rows in self.clients.items()},
                "wire_counts": self.wire_counts, "notes": self.notes}


def _engine_config(driver: str, **fields: Any) -> EngineConfig:
    """The engine's configuration for one driver; ValueError for an unknown driver."""
    if driver not in DRIVERS:
        raise ValueError(f"unknown driver {driver!r}; this build has: {', '.join(DRIVERS)}")
    return EngineConfig(driver=driver, **fields)


class _Samples:
    """Every client's samples per row, collected over the rounds."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, list[np.ndarray]]] = {}
        self.counts: dict[str, dict[str, int]] = {}

    def add(self, client: str, row: str, ns: Any) -> None:
        self.rows.setdefault(client, {}).setdefault(row, []).append(np.asarray(ns, float))

    def add_wire(self, client: str, wire: WireCapture, order_rtt: dict[int, float],
                 position_rtt: dict[int, float], triggers: dict[int, int] | None = None,
                 rows: tuple[str, ...] = WIRE_ROWS) -> None:
        samples, counts = wire_samples(wire, order_rtt, position_rtt, triggers)
        for row in rows:
            self.add(client, row, samples[row])
        mine = self.counts.setdefault(client, {})
        for k, v in counts.items():
            mine[k] = mine.get(k, 0) + v

    def joined(self, client: str, row: str) -> np.ndarray:
        parts = self.rows.get(client, {}).get(row, [])
        return np.concatenate(parts) if parts else np.zeros(0)

    def summaries(self) -> dict[str, dict[str, Summary]]:
        return {c: {row: summarize(row, self.joined(c, row)) for row in rows} for c, rows in self.rows.items()}


async def _bench(scenarios: list[str], duration_s: float, rate: float, orders_per_s: float,
                 instrument: str, socket_profile: str, rounds: int, drivers: tuple[str, ...],
                 capture: bool, pin: bool) -> BenchResult:
    from tickwire.bench.baseline import run_baseline

    cfgs = {d: _engine_config(d, instruments=(instrument,), strategy="tickwire.bench.pingpong:PingPong",
                              duration_s=duration_s / rounds,
                              session=SessionConfig(book_interval="raw", socket_profile=socket_profile),
                              risk=RiskConfig(max_orders_per_s=orders_per_s)) for d in drivers}
    ours = [f"ours ({d})" for d in drivers]
    got = _Samples()
    counters: dict[str, int] = {}
    placement = place(pin=pin)
    notes = [placement.header()]
    turns: list[tuple[str, int, int, Any]] = []  # (client, start, end, its result) for the wire analysis
    venue = await asyncio.to_thread(start_sim, (instrument,), rate)
    try:
        if venue.process is not None:
            placement.pin_child(venue.process.pid)
            notes[0] = placement.header()
        recording = _start_recording(venue.url, placement.cpus.others if pin else [], notes) if capture else None
        info = (await asyncio.to_thread(fetch_instruments, venue.http, (instrument,)))[0]
        for _ in range(rounds):  # alternate the clients so all see the same background load on this host
            for driver, client in zip(drivers, ours):
                t0 = time.time_ns()
                result = await run_async(cfgs[driver], venue)
                turns.append((client, t0, time.time_ns(), result))
                for row, key in zip(LATENCY_ROWS, ("order_ns", "md_ns", "position_ns")):
                    got.add(client, row, result.samples[key])
                counters = {k: counters.get(k, 0) + v for k, v in result.counters.items()}
            t0 = time.time_ns()
            base = await run_baseline(venue.url, venue.creds, instrument, float(info["tick_size"]),
                                      float(info["min_trade_amount"]), duration_s / rounds, orders_per_s)
            turns.append((BASELINE, t0, time.time_ns(), base))
            for row, samples in zip(LATENCY_ROWS, (base.order_ns, base.md_ns, base.position_ns)):
                got.add(BASELINE, row, samples)
        wire = await asyncio.to_thread(recording.stop) if recording is not None else None
    finally:
        await asyncio.to_thread(venue.close)
        placement.restore()
    if wire is not None:
        _add_wire(got, wire, turns)
    clients = got.summaries()
    comps = []
    for name in scenarios:
        row = SCENARIOS[name]
        o, b = got.joined(ours[0], row), got.joined(BASELINE, row)
        comps.append(Comparison(name, summarize(row, o), summarize(row, b), o, b))
    return BenchResult(comps, duration_s, rate, orders_per_s, counters, socket_profile, clients, got.counts, notes)


def _start_recording(url: str, cpus: list[int], notes: list[str]) -> WireRecording | None:
    from urllib.parse import urlsplit

    try:
        return WireRecording(urlsplit(url).port or 80, cpus)
    except RecordError as exc:
        notes.append(f"no wire rows: {exc}")
        return None


def _add_wire(got: _Samples, wire: WireCapture, turns: list[tuple[str, int, int, Any]]) -> None:
    """Each turn's connections, analysed alike for every client; the baseline also by its logged triggers."""
    for client, start, end, result in turns:
        mine = wire.between(start, end)
        if client == BASELINE:
            got.add_wire(BASELINE, mine, result.order_rtt, result.position_rtt)
            got.add_wire(BASELINE_LOGGED, mine, result.order_rtt, result.position_rtt, result.triggers,
                         rows=WIRE_ROWS[:1])  # only tick-to-trade depends on the trigger
        else:
            got.add_wire(client, mine, result.rtt_by_id["order"], result.rtt_by_id["position"])


def run_bench(scenario: str = "all", duration_s: float = 20.0, rate: float = 100.0, orders_per_s: float = 20.0,
              instrument: str = "BTC-PERPETUAL", socket_profile: str = "latency", rounds: int = 0,
              drivers: tuple[str, ...] = ("async",), capture: bool = True, pin: bool = True) -> BenchResult:
    """Run the scenarios (``all`` or one of SCENARIOS) and compare ours (each of ``drivers``) with the baseline;
    ``socket_profile`` is the tuning-catalogue profile of our socket (the baseline keeps the websockets library's
    defaults); ``capture`` records the run on lo for the wire rows; ``pin``: the clients on the engine CPU, the
    simulator and the capture on the others."""
    names = list(SCENARIOS) if scenario == "all" else [scenario]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario {unknown[0]!r}; known: {', '.join(SCENARIOS)}, all")
    rounds = rounds or max(1, min(5, int(duration_s // 4)))
    for d in drivers:
        _engine_config(d)  # an unknown driver fails before the simulator starts
    return asyncio.run(_bench(names, duration_s, rate, orders_per_s, instrument, socket_profile, rounds,
                              tuple(drivers), capture, pin))
