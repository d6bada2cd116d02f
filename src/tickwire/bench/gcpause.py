"""The Python garbage collector's pauses in a benchmark client, and freezing what lives as long as the process.

A full (generation 2) collection walks every tracked container. After start-up a client holds hundreds of
thousands of them that never die (modules, numba's type and dispatcher objects, the engine's records); measured
in the seed bench's after client: 40 full collections in 90 s over 230,000-460,000 objects, 200-600 ms each on a
loaded host, each one a stall of every order in flight. :func:`freeze_startup` moves them out of the collector's
reach once start-up is over (``gc.freeze``), so a full collection walks only what the load itself keeps.
:class:`GcPauses` times every collection (``gc.callbacks``), so the report says what the collector still costs.
"""
from __future__ import annotations

import gc
import time
from typing import Any


def freeze_startup() -> int:
    """Collect once, then freeze every object alive now (they are never scanned again); returns how many."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class GcPauses:
    """Counts and times the collector's pauses per generation while installed (:meth:`install` /
    :meth:`remove`); the longest and total pause per generation, and how many took 1 ms or more."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.over_1ms = [0, 0, 0]
        self.total_ns = [0, 0, 0]
        self.max_ns = [0, 0, 0]
        self._start = 0

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter_ns()
            return
        ns = time.perf_counter_ns() - self._start
        g = info["generation"]
        self.count[g] += 1
        self.total_ns[g] += ns
        self.max_ns[g] = max(self.max_ns[g], ns)
        self.over_1ms[g] += ns >= 1_000_000

    def install(self) -> None:
        gc.callbacks.append(self._on_gc)

    def remove(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def counters(self) -> dict[str, int]:
        """``gc{g}_collections``, ``gc{g}_over_1ms``, ``gc{g}_max_us``, ``gc{g}_total_us`` per generation g."""
        out: dict[str, int] = {}
        for g in range(3):
            out[f"gc{g}_collections"] = self.count[g]
            out[f"gc{g}_over_1ms"] = self.over_1ms[g]
            out[f"gc{g}_max_us"] = self.max_ns[g] // 1000
            out[f"gc{g}_total_us"] = self.total_ns[g] // 1000
        return out
