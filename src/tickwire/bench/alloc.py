"""Memory Alloc row: getting one order record and giving it back, timed with the TSC, pool vs plain Python.

- ``pool``: :func:`tickwire.engine.pool.pool_acquire` + one field write + :func:`pool_release`, in @njit code;
- ``dict`` / ``object`` / ``np.zeros``: the ways a plain Python engine gets the same record.

Each sample is a batch of ``batch`` operations between one rdtsc and one rdtscp, net of the stamp pair's own
median (measured around nothing, in the same run), divided by ``batch``: the cost of one operation, averaged over
its batch. Stamping every operation on its own instead (``per_op_ns``, reported separately) adds the ~20 ns
stamp pair and its serialisation to a ~3 ns operation, and a single descheduling of the process (milliseconds
on a shared host) inside one of 200,000 stamped operations moves their average by tens of ns: that, not the
pool, was the 240 ns average of the first measurement. With ``rt_priority`` > 0 the measurement runs in a child
process pinned to one CPU and SCHED_FIFO (what an isolated core gives it; ordinary tasks cannot preempt it).
"""
from __future__ import annotations

from dataclasses import dataclass
from multiprocessing.connection import Connection

import numpy as np
from numba import njit, types

from tickwire.bench.handoff import FORK, check_rt_allowed, handoff_cpus, pin, reap
from tickwire.clock import tsc_hz
from tickwire.engine import shims
from tickwire.engine.pool import Pool, pool_acquire, pool_release
from tickwire.native import lib
from tickwire.types import ORDER_DTYPE

rdtscp = types.ExternalFunction("tw_rdtscp", types.uint64())  # symbol loaded by shims: cacheable
BATCH = 100


@dataclass
class AllocResult:
    """Per-method samples in ns per operation: ``raw`` (the stamp pair's share included) and ``net`` (minus the
    stamp pair's median); ``per_op_ns``: the pool timed one operation per stamp pair (raw)."""

    raw_ns: dict[str, np.ndarray]
    net_ns: dict[str, np.ndarray]
    timer_median_ns: dict[str, float]
    pool_stats: dict[str, int]
    per_op_ns: np.ndarray
    batch: int


@njit(cache=True, _nrt=False)
def _time_pool(free, in_use, state, records, lat, batch):
    """``lat[b]``: ticks of ``batch`` acquire + write + release, between one stamp pair."""
    for b in range(lat.shape[0]):
        t0 = shims.rdtsc()
        for i in range(batch):
            idx = pool_acquire(free, in_use, state)
            records[idx].cid = i
            pool_release(free, in_use, state, idx)
        lat[b] = rdtscp() - t0


@njit(cache=True, _nrt=False)
def _time_nothing(lat):
    for i in range(lat.shape[0]):
        t0 = shims.rdtsc()
        lat[i] = rdtscp() - t0


class _Order:
    __slots__ = ("cid", "inst", "side", "price", "amount", "state")

    def __init__(self, cid: int, inst: int, side: int, price: int, amount: int, state: int) -> None:
        self.cid, self.inst, self.side, self.price, self.amount, self.state = cid, inst, side, price, amount, state


def _time_python(make, n_batches: int, batch: int) -> np.ndarray:
    tsc, tscp = lib.tw_rdtsc, lib.tw_rdtscp
    lat = np.zeros(n_batches, np.int64)
    for b in range(n_batches):
        t0 = tsc()
        for i in range(batch):
            rec = make(i)
            del rec
        lat[b] = tscp() - t0
    return lat


_PY_MAKERS = {
    "dict": lambda i: {"cid": i, "inst": 0, "side": 1, "price": 100, "amount": 1, "state": 1},
    "object": lambda i: _Order(i, 0, 1, 100, 1, 1),
    "np.zeros": lambda i: np.zeros(1, ORDER_DTYPE),
}


def run_alloc(n: int = 200_000, capacity: int = 1024, batch: int = BATCH, rt_priority: int = 0,
              timeout_s: float = 300.0) -> AllocResult:
    """Time ``n`` operations of each method in batches of ``batch`` (after a warm-up of n / 10); with
    ``rt_priority`` > 0 in a child process pinned to one CPU and SCHED_FIFO (RT throttling must be on)."""
    if rt_priority <= 0:
        return _measure(n, capacity, batch)
    check_rt_allowed()
    tsc_hz()  # calibrate before the child forks (it inherits the cached value)
    rx, tx = FORK.Pipe(duplex=False)
    child = FORK.Process(target=_measure_in_child, args=(handoff_cpus()[1], rt_priority, n, capacity, batch, tx),
                         daemon=True)
    child.start()
    try:
        if not rx.poll(timeout_s):
            raise RuntimeError("the Memory Alloc child did not report")
        return rx.recv()
    finally:
        reap(child)


def _measure_in_child(cpu: int, rt_priority: int, n: int, capacity: int, batch: int, out: Connection) -> None:
    pin(cpu, rt_priority)
    out.send(_measure(n, capacity, batch))


def _measure(n: int, capacity: int, batch: int) -> AllocResult:
    ns_per_tick = 1e9 / tsc_hz()
    n_batches = max(1, n // batch)
    pool = Pool(capacity, ORDER_DTYPE)
    lat = np.zeros(n_batches, np.uint64)
    _time_pool(pool.free, pool.in_use, pool.state, pool.records, lat[: max(1, n_batches // 10)], batch)
    _time_pool(pool.free, pool.in_use, pool.state, pool.records, lat, batch)
    batches = {"pool": lat.astype(np.float64) * ns_per_tick}
    stamps = np.zeros(n_batches, np.uint64)
    _time_nothing(stamps)
    timer = {"pool": float(np.median(stamps)) * ns_per_tick}
    per_op = np.zeros(n, np.uint64)
    _time_pool(pool.free, pool.in_use, pool.state, pool.records, per_op, 1)
    for name, make in _PY_MAKERS.items():
        _time_python(make, max(1, n_batches // 10), batch)
        batches[name] = _time_python(make, n_batches, batch).astype(np.float64) * ns_per_tick
    timer["python"] = float(np.median(_time_python(lambda i: None, n_batches, batch))) * ns_per_tick
    raw = {k: v / batch for k, v in batches.items()}
    net = {k: np.maximum(v - timer["pool" if k == "pool" else "python"], 0.0) / batch for k, v in batches.items()}
    return AllocResult(raw, net, timer, pool.stats(), per_op.astype(np.float64) * ns_per_tick, batch)
