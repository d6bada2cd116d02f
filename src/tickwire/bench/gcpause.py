"""The Python garbage collector's pauses in a benchmark client, timed per generation (``gc.callbacks``).

A collection stops every coroutine of the process for as long as it walks its generation. The after client's
engine runs with automatic collection off and collects the young generation at its own safe points
(tickwire.engine.placement.GcSafePoints); the plain client leaves the collector as Python sets it. Both are
timed the same way, so the report says what the collector cost each of them under the load.
"""
from __future__ import annotations

import gc
import time
from typing import Any


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
        """``gc{g}_collections``, ``gc{g}_over_1ms``, ``gc{g}_max_us``, ``gc{g}_total_us`` per generation g, and
        ``gc{g}_objects`` tracked in it now (older generations that only grow, in a process that never collects
        them, are what a leak of cycles looks like)."""
        out: dict[str, int] = {}
        for g in range(3):
            out[f"gc{g}_objects"] = len(gc.get_objects(g))
            out[f"gc{g}_collections"] = self.count[g]
            out[f"gc{g}_over_1ms"] = self.over_1ms[g]
            out[f"gc{g}_max_us"] = self.max_ns[g] // 1000
            out[f"gc{g}_total_us"] = self.total_ns[g] // 1000
        return out
