"""Latency percentiles for benchmarks: one HdrHistogram recipe shared by every ours-vs-baseline comparison."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from hdrh.histogram import HdrHistogram

from tickwire.engine.probes import record_samples

PERCENTILES = (50, 95, 99, 99.9)


def latency_percentiles_us(samples_ns: Iterable[float]) -> dict[str, float]:
    """p50/p95/p99/p99.9/max in µs and the sample count, from an HDR histogram (1 ns .. 10 s, 3 significant
    digits). Every sample counts: values below 1 ns (clock granularity) are recorded as 1 ns."""
    hist = HdrHistogram(1, 10_000_000_000, 3)
    record_samples(hist, np.fromiter(samples_ns, np.float64))
    out = {f"p{p:g}": hist.get_value_at_percentile(p) / 1e3 for p in PERCENTILES}
    out["max"] = hist.get_max_value() / 1e3
    out["count"] = hist.get_total_count()
    return out
