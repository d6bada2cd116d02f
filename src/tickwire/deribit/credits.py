"""Client-side credit budget mirroring Deribit's rate limits, so we back off before the venue says 10028.

Deribit meters each sub-account with leaky buckets: non-matching-engine requests cost 500 credits from a
50,000 pool refilled at 10,000/s; matching-engine requests (buy, sell, edit, cancel...) have a per-tier rate and
burst. Both are modelled the same way: a bucket row ``[level, max, refill_per_s, last_ns]`` in a float64 array,
so the hot path can take credits in compiled code. :func:`take` is the kernel, :func:`take_py` its twin.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tickwire.config import CreditConfig

MATCHING, NON_MATCHING = 0, 1
LEVEL, MAX, REFILL, LAST = 0, 1, 2, 3


def new_budget(cfg: CreditConfig, now_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Full buckets for both request classes and their per-request cost: (state[2, 4], cost[2])."""
    state = np.array([
        [cfg.matching_burst, cfg.matching_burst, cfg.matching_rate_per_s, now_ns],
        [cfg.non_matching_max, cfg.non_matching_max, cfg.non_matching_refill_per_s, now_ns],
    ], dtype=np.float64)
    cost = np.array([1.0, float(cfg.non_matching_cost)])
    return state, cost


@njit(cache=True)
def _refill(state: np.ndarray, cls: int, now_ns: int) -> None:
    dt = (now_ns - state[cls, LAST]) * 1e-9
    if dt > 0:
        state[cls, LEVEL] = min(state[cls, MAX], state[cls, LEVEL] + dt * state[cls, REFILL])
        state[cls, LAST] = now_ns


@njit(cache=True)
def take(state: np.ndarray, cost: np.ndarray, cls: int, now_ns: int) -> bool:
    """Spend one request's credits of class ``cls`` if available; False means wait (see :func:`wait_ns`)."""
    _refill(state, cls, now_ns)
    if state[cls, LEVEL] >= cost[cls]:
        state[cls, LEVEL] -= cost[cls]
        return True
    return False


@njit(cache=True)
def wait_ns(state: np.ndarray, cost: np.ndarray, cls: int, now_ns: int) -> int:
    """Nanoseconds until one request of class ``cls`` fits in the budget (0 when it fits now)."""
    _refill(state, cls, now_ns)
    missing = cost[cls] - state[cls, LEVEL]
    if missing <= 0:
        return 0
    return int(missing / state[cls, REFILL] * 1e9) + 1


def drain(state: np.ndarray, cls: int, now_ns: int) -> None:
    """Empty a bucket: the venue said too_many_requests, so our mirror was optimistic."""
    state[cls, LEVEL] = 0.0
    state[cls, LAST] = now_ns


def take_py(state: np.ndarray, cost: np.ndarray, cls: int, now_ns: int) -> bool:
    """Reference twin of :func:`take`."""
    level, cap, refill, last = (float(x) for x in state[cls])
    if now_ns > last:
        level = min(cap, level + (now_ns - last) * 1e-9 * refill)
        state[cls, LAST] = now_ns
    ok = level >= cost[cls]
    state[cls, LEVEL] = level - cost[cls] if ok else level
    return ok
