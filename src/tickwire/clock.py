"""Time: the CPU timestamp counter (TSC) and its conversion to nanoseconds.

Stages stamp ``lib.tw_rdtsc()`` (a few ns); reports convert ticks to ns with the calibrated frequency.
The calibration spins for ``window_ns`` against CLOCK_MONOTONIC once per process and is cached.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from numba import njit

from tickwire.native import lib

CALIBRATION_WINDOW_NS = 50_000_000


@lru_cache(maxsize=1)
def tsc_hz() -> float:
    """TSC ticks per second on this host (calibrated once, cached)."""
    return float(lib.tw_tsc_calibrate_hz(CALIBRATION_WINDOW_NS))


def tsc_to_ns(ticks: int | float) -> float:
    """Convert a TSC tick count (a difference of two stamps) to nanoseconds."""
    return ticks * 1e9 / tsc_hz()


@njit(cache=True)
def realtime_to_tsc(rt_ns: int, tsc_now: int, rt_now_ns: int, hz: float) -> int:
    """The TSC value at CLOCK_REALTIME ``rt_ns``, a recent past time such as a kernel receive stamp, from a pair
    of stamps read together now (``tsc_now``, ``rt_now_ns``); 0 when ``rt_ns`` is 0 (no stamp), in the future
    (the clock stepped) or further back than the TSC counts. Callable from Python and from @njit code."""
    back = (rt_now_ns - rt_ns) * hz / 1e9
    if rt_ns <= 0 or back < 0 or back >= tsc_now:
        return 0
    return np.int64(tsc_now - np.int64(back))


def tsc_is_invariant(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU advertises constant_tsc and nonstop_tsc (TSC rate unaffected by P/C-states)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return {"constant_tsc", "nonstop_tsc"} <= flags
    return False


def monotonic_ns() -> int:
    """CLOCK_MONOTONIC in ns."""
    return int(lib.tw_monotonic_ns())


def realtime_ns() -> int:
    """CLOCK_REALTIME in ns (comparable across processes on one host)."""
    return int(lib.tw_realtime_ns())
