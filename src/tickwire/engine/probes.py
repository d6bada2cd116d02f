"""Latency probes: TSC stamps written into preallocated arrays by the hot loop; histograms built afterwards.

Three kinds of samples, each a ring (the newest ``capacity`` samples are kept, ``count`` says how many came):
- ``stages[i, ST_*]``: TSC at each stage of one hot pass (kernel receive stamp, received, decoded, book applied,
  strategy decided, risk passed, encoded, sent), 0 where a pass stopped early or the kernel gave no stamp;
- ``md[i]`` (MD_SAMPLE_DTYPE: inst, change_id, applied_ns in CLOCK_REALTIME): joined after the run with the venue's send time of that
  change_id (the simulator's ``sim/get_send_times``, same host clock) to give market-data latency;
- ``rtt[KIND][i] = (start_tsc, end_tsc)`` for order placement (send -> ack) and position query (request ->
  response), with the request's JSON-RPC id in ``rtt_id[KIND][i]`` (joined with a capture of the run: the
  venue's part of each round trip, tickwire.md.wire).

``count`` (one PROBE_COUNTS_DTYPE record) says how many samples each ring was given. The compiled pass takes
the rings as one :class:`ProbeRings` record.

Nothing here allocates on the hot path; :func:`summarize` (hdrhistogram) runs outside it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from hdrh.histogram import HdrHistogram
from numba import njit

from tickwire.clock import tsc_hz
from tickwire.engine import shims
from tickwire.engine.pool import prefault
from tickwire.types import MD_SAMPLE_DTYPE, N_STAGES, PROBE_COUNTS_DTYPE, RTT_ORDER, RTT_POSITION, ST_KERNEL_RX

__all__ = ["MD_SAMPLE_DTYPE", "ProbeRings", "Probes", "RTT_ORDER", "RTT_POSITION", "Summary", "md_applied",
           "stage_deltas_ns", "stamp_kernel_rx", "summarize"]


RX_STAMP, RX_TSC_HZ = 0, 1  # ProbeRings.rx


class ProbeRings(NamedTuple):
    """The rings the compiled pass writes (see the module docstring)."""

    stages: np.ndarray  # uint64[capacity, N_STAGES]
    md: np.ndarray  # MD_SAMPLE_DTYPE[capacity]
    count: np.ndarray  # PROBE_COUNTS_DTYPE[1]
    # int64[2]: [RX_STAMP] the kernel's receive stamp of a compiled read (CLOCK_REALTIME ns, written by recv_ts),
    # [RX_TSC_HZ] the TSC frequency, to turn that stamp into TSC (the spin driver, tickwire.engine.passes)
    rx: np.ndarray


class Probes:
    """Preallocated probe rings (see the module docstring)."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        self.capacity = capacity
        self.count = np.zeros(1, PROBE_COUNTS_DTYPE)
        # written slot by slot while trading: their pages are faulted in now, not as RSS growth over the first lap
        self.stages = prefault(np.zeros((capacity, N_STAGES), np.uint64))
        self.md = prefault(np.zeros(capacity, MD_SAMPLE_DTYPE))
        self.rtt = prefault(np.zeros((2, capacity, 2), np.uint64))
        self.rtt_id = prefault(np.zeros((2, capacity), np.int64))
        self.tsc_hz = tsc_hz()
        self.rx = np.array([0, round(self.tsc_hz)], np.int64)
        self.rings = ProbeRings(self.stages, self.md, self.count, self.rx)

    @property
    def passes(self) -> int:
        """Compiled passes that stamped a stage row."""
        return int(self.count[0]["passes"])

    def reset(self) -> None:
        """Forget every sample (after warm-up)."""
        self.count[0] = 0

    def add_rtt(self, kind: int, start_tsc: int, end_tsc: int, req_id: int = 0) -> None:
        """Record one round trip measured on the slow path (answers are handled there)."""
        rtt_count = self.count[0]["rtt"]
        i = int(rtt_count[kind]) % self.capacity
        self.rtt[kind, i, 0] = start_tsc
        self.rtt[kind, i, 1] = end_tsc
        self.rtt_id[kind, i] = req_id
        rtt_count[kind] += 1

    def _rtt_done(self, kind: int) -> np.ndarray:
        n = min(int(self.count[0]["rtt"][kind]), self.capacity)
        pairs = self.rtt[kind, :n]
        return (pairs[:, 1] > pairs[:, 0]) & (pairs[:, 0] > 0)

    def rtt_samples_ns(self, kind: int) -> np.ndarray:
        """Round trips of ``kind`` (RTT_ORDER / RTT_POSITION) in ns, oldest first among those kept."""
        ok = self._rtt_done(kind)
        done = self.rtt[kind, : ok.shape[0]][ok]
        return (done[:, 1] - done[:, 0]).astype(np.float64) * (1e9 / self.tsc_hz)

    def rtt_by_id_ns(self, kind: int) -> dict[int, float]:
        """Round trips of ``kind`` in ns by request id (those recorded with an id)."""
        ok = self._rtt_done(kind)
        ids = self.rtt_id[kind, : ok.shape[0]][ok]
        return {int(i): float(ns) for i, ns in zip(ids, self.rtt_samples_ns(kind)) if i > 0}

    def md_samples(self) -> np.ndarray:
        """The market-data samples kept (MD_SAMPLE_DTYPE)."""
        return self.md[: min(int(self.count[0]["md"]), self.capacity)]


@njit(cache=True, _nrt=False)
def md_applied(md: np.ndarray, count: np.ndarray, inst: int, change_id: int) -> None:
    """Record that ``change_id`` of ``inst`` is in the book now (CLOCK_REALTIME ns, comparable across processes)."""
    c = count[0]
    m = md[c.md % md.shape[0]]
    m.inst = inst
    m.change_id = change_id
    m.applied_ns = shims.realtime_ns()
    c.md += 1


@njit(cache=True)
def stamp_kernel_rx(stages: np.ndarray, count: np.ndarray, first_pass: int, kernel_tsc: int) -> None:
    """The passes ``first_pass`` .. now all ran on one read: give them its kernel receive stamp (TSC; the
    transport converts the kernel's CLOCK_REALTIME stamp). Call after the passes of the read."""
    cap = stages.shape[0]
    passes = count[0].passes
    for p in range(max(first_pass, passes - cap), passes):
        stages[p % cap, ST_KERNEL_RX] = kernel_tsc


@dataclass(frozen=True)
class Summary:
    """Percentiles of one latency, in microseconds."""

    name: str
    count: int
    avg: float
    p50: float
    p95: float
    p99: float
    p999: float
    max: float

    def as_dict(self) -> dict[str, float | int | str]:
        return {"name": self.name, "count": self.count, "avg_us": self.avg, "p50_us": self.p50, "p95_us": self.p95,
                "p99_us": self.p99, "p99_9_us": self.p999, "max_us": self.max}


def summarize(name: str, samples_ns: np.ndarray) -> Summary:
    """hdrhistogram (1 ns .. 100 s, 3 significant digits) of ``samples_ns``; an empty input gives zeros."""
    hist = HdrHistogram(1, 100 * 10**9, 3)
    values = np.asarray(samples_ns, dtype=np.float64)
    record_samples(hist, values[values > 0])
    return summarize_hist(name, hist)


def record_samples(hist: HdrHistogram, samples_ns: np.ndarray) -> None:
    """Record every sample of ``samples_ns`` (ns; clipped to 1 ns .. the histogram's highest value) into ``hist``
    with one call per distinct bucket: each value is first rounded down to its bucket's lowest equivalent value
    (what the histogram keeps anyway), so the result is that of recording them one by one, without a Python
    call per sample (65k probe rows took seconds that way)."""
    values = np.clip(np.asarray(samples_ns, dtype=np.float64), 1, hist.highest_trackable_value).astype(np.int64)
    if values.size == 0:
        return
    bits = np.frexp(values.astype(np.float64))[1].astype(np.int64)  # bit length of each value
    shift = np.maximum(bits - (int(hist.sub_bucket_count).bit_length() - 1), 0)
    buckets, counts = np.unique((values >> shift) << shift, return_counts=True)
    for value, count in zip(buckets.tolist(), counts.tolist()):
        hist.record_value(value, count)


def summarize_hist(name: str, hist: HdrHistogram) -> Summary:
    """A Summary (µs) of an HdrHistogram of ns values; zeros when it is empty."""
    n = hist.get_total_count()
    if n == 0:
        return Summary(name, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    q = hist.get_percentile_to_value_dict([50, 95, 99, 99.9])  # one walk over the buckets for all four
    return Summary(name, n, hist_mean(hist) / 1e3, q[50] / 1e3, q[95] / 1e3, q[99] / 1e3, q[99.9] / 1e3,
                   hist.get_max_value() / 1e3)


def hist_mean(hist: HdrHistogram) -> float:
    """``hist.get_mean_value()`` (each count at its bucket's median equivalent value), computed over the counts
    array with numpy instead of a Python walk over every bucket (~0.1 s a histogram)."""
    counts = np.ctypeslib.as_array(hist.counts)[: hist.counts_len].astype(np.float64)
    index = np.arange(hist.counts_len, dtype=np.int64)
    half = hist.sub_bucket_half_count
    bucket = (index >> hist.sub_bucket_half_count_magnitude) - 1
    sub_bucket = (index & (half - 1)) + half
    sub_bucket = np.where(bucket < 0, sub_bucket - half, sub_bucket)
    bucket = np.maximum(bucket, 0) + hist.unit_magnitude
    lowest = sub_bucket << bucket
    total = counts.sum()
    return float((counts * (lowest + ((1 << bucket) >> 1))).sum() / total) if total else 0.0


def stage_deltas_ns(stages: np.ndarray, count: int, first: int, last: int) -> np.ndarray:
    """Per-pass time from stage ``first`` to ``last`` (ns) over the passes that reached both."""
    rows = stages[: min(count, stages.shape[0])]
    ok = (rows[:, first] > 0) & (rows[:, last] >= rows[:, first])
    return (rows[ok, last] - rows[ok, first]).astype(np.float64) * (1e9 / tsc_hz())
