"""The seed report, measured: "Before Optimization" (the plain client) and "After Optimization" (tickwire) under
the seed's load, in one run against one simulator, plus the Memory Alloc and Thread Switch rows.

The simulator runs on the market-maker rate tier ("mm": 2000 matching-engine requests/s) pinned to the first
CPU; the clients take turns in ``rounds`` (after, before, after, ...) of ``duration / rounds`` each, each in its
own process (tickwire.bench.seed_child; tickwire pinned to the second CPU, the plain client unpinned), while
every process's CPU% and RSS are sampled each second. Latencies stream into HDR histograms (no sample cap).
After every client process the figures so far go to ``checkpoint`` (the CLI writes them as a partial report,
so a long run that is stopped early still leaves its figures).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

import psutil
from hdrh.histogram import HdrHistogram

from tickwire.bench.alloc import run_alloc
from tickwire.bench.handoff import handoff_cpus, run_handoff
from tickwire.bench.hdr import StreamingLatency, summarize_ns
from tickwire.bench.load import INSTRUMENTS, METRICS, LoadSpec, decode_hist
from tickwire.deribit.venue import Venue, start_sim
from tickwire.engine.probes import Summary, summarize_hist

SIDES = ("before", "after")
ROWS = (*METRICS, "Memory Alloc", "Thread Switch")
SIM_TIER = "mm"


@dataclass
class SideResult:
    """One side (before or after): a summary per row, the latency windows, counters and refusals."""

    rows: dict[str, Summary] = field(default_factory=dict)
    hists: dict[str, HdrHistogram] = field(default_factory=dict, repr=False)
    windows: dict[str, list[tuple[float, int, float, float]]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    refusals: dict[str, int] = field(default_factory=dict)
    cdf: dict[str, list[tuple[float, float]]] = field(default_factory=dict, repr=False)


@dataclass
class SeedResult:
    before: SideResult
    after: SideResult
    settings: dict[str, Any]
    resources: list[dict[str, Any]]  # one row per process per second: t, who, cpu_percent, rss_bytes
    micro: dict[str, Any]

    def side(self, name: str) -> SideResult:
        return self.before if name == "before" else self.after

    def as_dict(self) -> dict[str, Any]:
        def side(s: SideResult) -> dict[str, Any]:
            return {"rows": {k: v.as_dict() for k, v in s.rows.items()}, "counters": s.counters,
                    "refusals": s.refusals, "windows": s.windows}
        return {"settings": self.settings, "before": side(self.before), "after": side(self.after),
                "micro": self.micro, "rss_growth": rss_growth(self.resources)}


class ResourceSampler:
    """psutil CPU% and RSS of named processes, sampled by :meth:`sample` (the caller calls it each second)."""

    def __init__(self) -> None:
        self.procs: dict[str, psutil.Process] = {}
        self.rows: list[dict[str, Any]] = []
        self.t0 = time.monotonic()

        self.loaded: set[str] = set()  # processes whose load has started (see :func:`rss_growth`)

    def watch(self, who: str, pid: int, loaded: bool = True) -> None:
        """Sample ``pid`` as ``who``; ``loaded`` False until :meth:`mark_loaded` (a client still starting up)."""
        proc = psutil.Process(pid)
        proc.cpu_percent(None)  # the first call only starts the measurement
        self.procs[who] = proc
        if loaded:
            self.loaded.add(who)

    def mark_loaded(self, who: str, loaded: bool = True) -> None:
        """``who``'s load has started (``loaded``), or is over (not ``loaded``: draining, shutting down)."""
        if loaded:
            self.loaded.add(who)
        else:
            self.loaded.discard(who)

    def forget(self, who: str) -> None:
        self.procs.pop(who, None)

    def sample(self) -> None:
        t = time.monotonic() - self.t0
        for who, proc in list(self.procs.items()):
            try:
                with proc.oneshot():
                    self.rows.append({"t": t, "who": who, "cpu_percent": proc.cpu_percent(None),
                                      "rss_bytes": proc.memory_info().rss, "loaded": who in self.loaded})
            except psutil.Error:
                self.procs.pop(who, None)


def rss_growth(resources: list[dict[str, Any]], warmup_s: float = 30.0) -> dict[str, float]:
    """Per process (round): RSS growth in % from its first sample ``warmup_s`` after its load started to its last
    sample under load (a client's compile and connect before its load, its drain and shutdown after, do not
    count)."""
    first: dict[str, tuple[float, int]] = {}
    last: dict[str, int] = {}
    start: dict[str, float] = {}
    for r in resources:
        who = r["who"]
        if r["rss_bytes"] <= 0 or not r.get("loaded", True):  # exited (psutil reads a zombie as 0), or starting
            continue
        start.setdefault(who, r["t"])
        if r["t"] - start[who] >= warmup_s:
            first.setdefault(who, (r["t"], r["rss_bytes"]))
            last[who] = r["rss_bytes"]
    return {who: 100.0 * (last[who] - rss) / rss for who, (_, rss) in first.items() if rss}


def _run_child(side: str, spec: LoadSpec, venue: Venue, sampler: ResourceSampler, label: str,
               progress: Any) -> dict[str, Any]:
    env = dict(os.environ, TICKWIRE_CLIENT_ID=venue.creds.client_id, TICKWIRE_CLIENT_SECRET=venue.creds.client_secret)
    with tempfile.TemporaryFile("w+") as spec_file, tempfile.TemporaryFile("w+") as out_file, \
            tempfile.TemporaryFile("w+") as err_file, tempfile.TemporaryDirectory(prefix="tickwire-seed-") as tmp:
        spec.ready_path = os.path.join(tmp, "ready")
        spec_file.write(json.dumps(spec.to_json()))
        spec_file.seek(0)
        proc = subprocess.Popen([sys.executable, "-m", "tickwire.bench.seed_child", side], stdin=spec_file,
                                stdout=out_file, stderr=err_file, env=env)
        sampler.watch(label, proc.pid, loaded=False)
        deadline = time.monotonic() + spec.duration_s + spec.drain_s + 900  # a cold numba cache compiles minutes
        try:
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {side} client did not finish in time")
                time.sleep(1.0)
                if os.path.exists(spec.ready_path):
                    sampler.mark_loaded(label, not os.path.exists(spec.ready_path + ".done"))
                sampler.sample()
                progress(1.0)
        finally:
            sampler.forget(label)
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    if proc.returncode != 0 or not out.strip():
        raise RuntimeError(f"the {side} client failed (exit {proc.returncode}): {err.strip()[-800:]}")
    return json.loads(out.strip().splitlines()[-1])


def _merge(side: SideResult, outcome: dict[str, Any], offset_s: float) -> None:
    for metric, data in outcome["latency"].items():
        hist = decode_hist(data["hist"])
        if metric in side.hists:
            side.hists[metric].add(hist)
        else:
            side.hists[metric] = hist
        side.windows.setdefault(metric, []).extend((t + offset_s, n, p50, p99) for t, n, p50, p99 in data["windows"])
    for k, v in outcome["counters"].items():
        if k.endswith(("_max_us", "_objects")):  # a peak over the rounds, not a sum
            side.counters[k] = max(side.counters.get(k, 0), int(v))
        else:
            side.counters[k] = side.counters.get(k, 0) + int(v)
    for k, v in outcome["refusals"].items():
        side.refusals[k] = side.refusals.get(k, 0) + int(v)


def _micro(side_rows: dict[str, SideResult], n_alloc: int, n_ring: int, n_python: int,
           rt_priority: int) -> dict[str, Any]:
    alloc = run_alloc(n_alloc, rt_priority=rt_priority)
    hand = run_handoff(n_ring=n_ring, n_python=n_python, rt_priority=rt_priority)
    picks = {"after": ("pool", "ring"), "before": ("dict", "queue.Queue")}
    for side, (a, h) in picks.items():
        side_rows[side].rows["Memory Alloc"] = summarize_ns("Memory Alloc", alloc.net_ns[a])
        side_rows[side].rows["Thread Switch"] = summarize_ns("Thread Switch", hand.samples_ns[h])
        side_rows[side].cdf["Memory Alloc"] = _cdf_of(alloc.net_ns[a])
        side_rows[side].cdf["Thread Switch"] = _cdf_of(hand.samples_ns[h])
    return {"alloc_net_us": {k: summarize_ns(k, v).as_dict() for k, v in alloc.net_ns.items()},
            "alloc_raw_us": {k: summarize_ns(k, v).as_dict() for k, v in alloc.raw_ns.items()},
            "alloc_net_mean_ns": {k: float(v.mean()) for k, v in alloc.net_ns.items()},
            "alloc_per_op_raw_us": summarize_ns("pool, one op per stamp pair", alloc.per_op_ns).as_dict(),
            "alloc_batch": alloc.batch, "alloc_timer_median_ns": alloc.timer_median_ns, "pool": alloc.pool_stats,
            "handoff_us": {k: summarize_ns(k, v).as_dict() for k, v in hand.samples_ns.items()},
            "handoff_lost": hand.lost, "ring_overruns": hand.overruns, "handoff_cpus": list(hand.cpus)}


def _cdf_of(samples_ns: Any) -> list[tuple[float, float]]:
    s = StreamingLatency("cdf")
    s.add(samples_ns, 0.0)
    return s.cdf()


def _summarize(sides: dict[str, SideResult]) -> None:
    """Rows and CDFs of the network metrics from the histograms merged so far."""
    for s in sides.values():
        for metric, hist in s.hists.items():
            s.rows[metric] = summarize_hist(metric, hist)
            lat = StreamingLatency(metric)
            lat.total = hist
            s.cdf[metric] = lat.cdf()


def run_seed(duration_s: float = 60.0, order_rate: float = 1000.0, book_rate: float = 100.0, poll_ms: int = 100,
             rounds: int = 0, progress: Any = None, n_alloc: int = 200_000, n_ring: int = 200_000,
             n_python: int = 20_000, pin: bool = True, rt_priority: int = 0,
             checkpoint: Callable[[SeedResult], None] | None = None,
             sides: tuple[str, ...] = ("after", "before")) -> SeedResult:
    """``sides`` (after, before or both) at the seed's load for ``duration_s`` each (``book_rate`` book
    messages/s over the three instruments, ``order_rate`` orders/s, positions every ``poll_ms``), then the micro
    rows (both sides' methods, whatever ``sides``). ``pin`` places the simulator and tickwire on two CPUs;
    ``rt_priority`` > 0 runs the ring's two processes and the Memory Alloc measurement SCHED_FIFO;
    ``checkpoint`` gets the figures so far (no micro rows) after each client process."""
    if duration_s <= 0 or order_rate <= 0 or book_rate < 0 or poll_ms <= 0:
        raise ValueError("duration, order rate and poll period must be > 0 (book rate >= 0)")
    if not sides or any(s not in SIDES for s in sides) or len(set(sides)) != len(sides):
        raise ValueError(f"sides must be one or both of {', '.join(SIDES)}, each once (got {', '.join(sides)})")
    rounds = rounds or max(1, min(6, int(duration_s // 300) or 1))
    progress = progress or (lambda dt: None)
    sampler = ResourceSampler()
    results = {s: SideResult() for s in SIDES}
    sim_cpu, client_cpu = handoff_cpus() if pin else (-1, -1)
    settings = {"duration_s_per_side": duration_s, "rounds": rounds, "order_rate_per_s": order_rate,
                "book_rate_per_s": book_rate, "poll_ms": poll_ms, "instruments": list(INSTRUMENTS),
                "sim_tier": SIM_TIER, "cpus": {"simulator": sim_cpu, "after": client_cpu, "before": "any"},
                "host_cpus": os.cpu_count(), "rt_priority": rt_priority, "sides": list(sides)}
    venue = start_sim(INSTRUMENTS, book_rate / len(INSTRUMENTS), extra=("--tier", SIM_TIER))
    t_run = time.monotonic()
    try:
        assert venue.process is not None
        if sim_cpu >= 0:
            os.sched_setaffinity(venue.process.pid, {sim_cpu})
        sampler.watch("simulator", venue.process.pid)
        for r in range(rounds):
            for side in sides:
                spec = LoadSpec(venue.url, venue.http, duration_s / rounds, order_rate, poll_ms,
                                cpu=client_cpu if side == "after" else -1)
                offset = time.monotonic() - t_run
                _merge(results[side], _run_child(side, spec, venue, sampler, f"{side}#{r + 1}", progress), offset)
                if checkpoint is not None:
                    _summarize(results)
                    done = dict(settings, host_loadavg_end=os.getloadavg(), partial=f"{side} of round {r + 1}")
                    checkpoint(SeedResult(results["before"], results["after"], done, sampler.rows, {}))
    finally:
        venue.close()
    _summarize(results)
    micro = _micro(results, n_alloc, n_ring, n_python, rt_priority)
    settings["host_loadavg_end"] = os.getloadavg()
    return SeedResult(results["before"], results["after"], settings, sampler.rows, micro)
