"""Memory Alloc row: getting one order record and giving it back, timed with the TSC, pool vs plain Python.

- ``pool``: :func:`tickwire.engine.pool.pool_acquire` + one field write + :func:`pool_release`, in @njit code;
- ``dict`` / ``object`` / ``np.zeros``: the ways a plain Python engine gets the same record.

Every operation is stamped on its own (rdtsc before, rdtscp after), so the distribution has a real tail. The
stamp pair itself costs time: it is measured the same way around nothing (``timer``) in the same run, and each
row is reported both raw and net of the timer's median (the ``net`` figures are what the table shows).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, types

from tickwire.clock import tsc_hz
from tickwire.engine import shims
from tickwire.engine.pool import Pool, pool_acquire, pool_release
from tickwire.native import lib
from tickwire.types import ORDER_DTYPE

rdtscp = types.ExternalFunction("tw_rdtscp", types.uint64())  # symbol loaded by shims: cacheable


@dataclass
class AllocResult:
    """Per-method samples in ns: ``raw`` (stamp pair included) and ``net`` (minus the timer median)."""

    raw_ns: dict[str, np.ndarray]
    net_ns: dict[str, np.ndarray]
    timer_median_ns: dict[str, float]
    pool_stats: dict[str, int]


@njit(cache=True)
def _time_pool(free, in_use, state, records, lat):
    for i in range(lat.shape[0]):
        t0 = shims.rdtsc()
        idx = pool_acquire(free, in_use, state)
        records[idx].cid = i
        pool_release(free, in_use, state, idx)
        lat[i] = rdtscp() - t0


@njit(cache=True)
def _time_nothing(lat):
    for i in range(lat.shape[0]):
        t0 = shims.rdtsc()
        lat[i] = rdtscp() - t0


class _Order:
    __slots__ = ("cid", "inst", "side", "price", "amount", "state")

    def __init__(self, cid: int, inst: int, side: int, price: int, amount: int, state: int) -> None:
        self.cid, self.inst, self.side, self.price, self.amount, self.state = cid, inst, side, price, amount, state


def _time_python(make, n: int) -> np.ndarray:
    tsc, tscp = lib.tw_rdtsc, lib.tw_rdtscp
    lat = np.zeros(n, np.int64)
    for i in range(n):
        t0 = tsc()
        rec = make(i)
        del rec
        lat[i] = tscp() - t0
    return lat


_PY_MAKERS = {
    "dict": lambda i: {"cid": i, "inst": 0, "side": 1, "price": 100, "amount": 1, "state": 1},
    "object": lambda i: _Order(i, 0, 1, 100, 1, 1),
    "np.zeros": lambda i: np.zeros(1, ORDER_DTYPE),
}


def run_alloc(n: int = 200_000, capacity: int = 1024) -> AllocResult:
    """Time ``n`` acquire+release pairs of each method (after a warm-up of n / 10)."""
    ns_per_tick = 1e9 / tsc_hz()
    pool = Pool(capacity, ORDER_DTYPE)
    raw: dict[str, np.ndarray] = {}
    timer: dict[str, float] = {}
    lat = np.zeros(n, np.uint64)
    _time_pool(pool.free, pool.in_use, pool.state, pool.records, lat[: n // 10])
    _time_pool(pool.free, pool.in_use, pool.state, pool.records, lat)
    raw["pool"] = lat.astype(np.float64) * ns_per_tick
    _time_nothing(lat)
    timer["pool"] = float(np.median(lat)) * ns_per_tick
    for name, make in _PY_MAKERS.items():
        _time_python(make, n // 10)
        raw[name] = _time_python(make, n).astype(np.float64) * ns_per_tick
    timer["python"] = float(np.median(_time_python(lambda i: None, n))) * ns_per_tick
    net = {k: np.maximum(v - timer["pool" if k == "pool" else "python"], 0.0) for k, v in raw.items()}
    return AllocResult(raw, net, timer, pool.stats())
