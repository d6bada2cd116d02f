"""Streaming latency histograms for long benchmark runs: every sample counts, memory stays constant.

:class:`StreamingLatency` feeds one HdrHistogram for the whole run (1 ns .. 100 s, 3 significant digits) and a
fresh one per time window, whose p50/p99 become the latency-over-time series; no sample list is kept, so an
hour at 1000 samples/s costs the same memory as a minute.
"""
from __future__ import annotations

import ctypes
from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

from tickwire.engine.probes import Summary, summarize_hist

LOWEST_NS, HIGHEST_NS, DIGITS = 1, 100 * 10**9, 3


def _hist() -> HdrHistogram:
    """A histogram whose counters are all in memory now (written once): its pages would otherwise fault in as
    ever larger latencies first reach their buckets, which reads as RSS growth in an hour's run."""
    hist = HdrHistogram(LOWEST_NS, HIGHEST_NS, DIGITS)
    ctypes.memset(hist.counts, 0, ctypes.sizeof(hist.counts))
    return hist


def _clear(hist: HdrHistogram) -> None:
    """``hist.reset()`` without its Python loop over the 28,672 counters (6.7 ms on this VM, on the engine's event
    loop in the seed bench): the counters are zeroed with one memset. Reusing the window histogram instead of
    allocating a new one keeps the process's heap flat (a fresh ~0.9 MB histogram per metric every 10 s, freed
    into glibc's heap once its mmap threshold has grown, made the RSS creep)."""
    ctypes.memset(hist.counts, 0, ctypes.sizeof(hist.counts))
    n, hist.counts_len = hist.counts_len, 0
    try:
        hist.reset()  # the scalar fields (total, min, max, time stamps)
    finally:
        hist.counts_len = n


class StreamingLatency:
    """One latency metric: the run histogram plus (window start s, count, p50 µs, p99 µs) per window."""

    def __init__(self, name: str, window_s: float = 10.0) -> None:
        self.name = name
        self.window_s = window_s
        self.total = _hist()
        self._window = _hist()
        self._window_start: float | None = None
        self.windows: list[tuple[float, int, float, float]] = []

    def add(self, samples_ns: Iterable[float], at_s: float) -> None:
        """Record samples measured at run time ``at_s`` (seconds since the run started)."""
        if self._window_start is None:
            self._window_start = at_s
        while at_s - self._window_start >= self.window_s:
            self._close_window()
        for v in samples_ns:
            ns = min(HIGHEST_NS, max(LOWEST_NS, round(v)))  # to the nearest ns; below 1 ns counts as 1 ns
            self.total.record_value(ns)
            self._window.record_value(ns)

    def _close_window(self) -> None:
        w = self._window
        n = w.get_total_count()
        self.windows.append((self._window_start, n, w.get_value_at_percentile(50) / 1e3 if n else 0.0,
                             w.get_value_at_percentile(99) / 1e3 if n else 0.0))
        _clear(w)
        self._window_start += self.window_s

    def finish(self) -> None:
        """Close the last (partial) window."""
        if self._window_start is not None and self._window.get_total_count():
            self._close_window()

    def summary(self) -> Summary:
        return summarize_hist(self.name, self.total)

    def cdf(self, points: int = 200) -> list[tuple[float, float]]:
        """(latency µs, fraction of samples at or below it) for a CDF plot, log-spaced in the tail."""
        n = self.total.get_total_count()
        if n == 0:
            return []
        out = []
        for k in range(points + 1):
            pct = 100.0 * (1.0 - 10 ** (-4.0 * k / points))  # 0 .. 99.99 %, denser towards the tail
            out.append((self.total.get_value_at_percentile(pct) / 1e3, pct / 100.0))
        out.append((self.total.get_max_value() / 1e3, 1.0))
        return out


def summarize_ns(name: str, samples_ns: Iterable[float]) -> Summary:
    """A Summary of a finite batch of samples (micro-benchmarks)."""
    s = StreamingLatency(name)
    s.add(samples_ns, 0.0)
    return s.summary()
