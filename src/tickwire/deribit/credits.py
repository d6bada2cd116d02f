"""Client-side credit budget mirroring Deribit's rate limits, so we back off before the venue says 10028.

Deribit meters each sub-account with leaky buckets: non-matching-engine requests cost 500 credits from a
50,000 pool refilled at 10,000/s; matching-engine requests (buy, sell, edit, cancel...) have a per-tier rate and
burst. Both are modelled the same way: one CREDIT_BUCKET_DTYPE record per request class (``MATCHING``,
``NON_MATCHING``) in a small array, so the hot path can take credits in compiled code. :func:`take` is the
kernel; ``tickwire.engine._ref.ref_credit_take`` (next to the risk reference that uses it) its plain-Python
reference.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tickwire.config import CreditConfig
from tickwire.types import CREDIT_BUCKET_DTYPE, CREDIT_MATCHING, CREDIT_NON_MATCHING

MATCHING, NON_MATCHING = CREDIT_MATCHING, CREDIT_NON_MATCHING


def new_budget(cfg: CreditConfig, now_ns: int) -> np.ndarray:
    """Full buckets for both request classes, with their per-request cost (CREDIT_BUCKET_DTYPE[2])."""
    buckets = np.zeros(2, CREDIT_BUCKET_DTYPE)
    buckets[MATCHING] = (cfg.matching_burst, cfg.matching_burst, cfg.matching_rate_per_s, now_ns, 1.0)
    buckets[NON_MATCHING] = (cfg.non_matching_max, cfg.non_matching_max, cfg.non_matching_refill_per_s, now_ns,
                             float(cfg.non_matching_cost))
    return buckets


@njit(cache=True, _nrt=False)
def _refill(buckets: np.ndarray, cls: int, now_ns: int) -> None:
    b = buckets[cls]
    dt = (now_ns - b.last_ns) * 1e-9
    if dt > 0:
        b.level = min(b.capacity, b.level + dt * b.refill_per_s)
        b.last_ns = now_ns


@njit(cache=True, _nrt=False)
def take(buckets: np.ndarray, cls: int, now_ns: int) -> bool:
    """Spend one request's credits of class ``cls`` if available; False means wait (see :func:`wait_ns`)."""
    _refill(buckets, cls, now_ns)
    b = buckets[cls]
    if b.level >= b.cost:
        b.level -= b.cost
        return True
    return False


@njit(cache=True, _nrt=False)
def wait_ns(buckets: np.ndarray, cls: int, now_ns: int) -> int:
    """Nanoseconds until one request of class ``cls`` fits in the budget (0 when it fits now)."""
    _refill(buckets, cls, now_ns)
    b = buckets[cls]
    missing = b.cost - b.level
    if missing <= 0:
        return 0
    return int(missing / b.refill_per_s * 1e9) + 1


def drain(buckets: np.ndarray, cls: int, now_ns: int) -> None:
    """Empty a bucket: the venue said too_many_requests, so our mirror was optimistic."""
    buckets[cls]["level"] = 0.0
    buckets[cls]["last_ns"] = now_ns
