"""Thread Switch row: the latency of handing one record from one core to another, three ways, in one run.

- ``ring``: the shared-memory SPSC ring (tickwire.netstack.ring) between two processes pinned to two cores;
- ``queue.Queue``: between two threads of one Python process (the plain client's handoff);
- ``multiprocessing.Queue``: between two processes.

Each record carries the producer's TSC stamp; the consumer subtracts it from its own TSC read the moment the
record arrives (the TSC is synchronised across cores on invariant-TSC hosts: ``clock.tsc_is_invariant``).
The producer sends one record, then sleeps ``interval`` (open loop, far slower than the handoff itself), so a
sample is one handoff, not the time a record waited behind the previous ones; the ring's consumer spins while
records come (waking a sleeping process costs microseconds), the producer does not.

With ``rt_priority`` (SCHED_FIFO), the ring's records come in bursts of ``RING_BURST``, ``RING_PAUSE_S``
apart, and the consumer rests (``RING_REST_S``, sleeping) once no record came for ``RING_GAP_S``: it spins
about half of each second. The kernel's RT throttling (kernel.sched_rt_runtime_us = 950000: SCHED_FIFO tasks
get 950 ms of each second) stops a SCHED_FIFO task that spins for longer for the rest of the second, and those
50 ms stops were the row's p99 (40 ms) when the consumer spun without a break; this way the host knob stays as
it is. Without SCHED_FIFO the consumer spins throughout (a sleeping SCHED_OTHER consumer loses its core to
whatever else runs).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import threading
import time
from dataclasses import dataclass

import numpy as np
from numba import njit

from tickwire.clock import tsc_hz
from tickwire.engine import shims
from tickwire.native import lib
from tickwire.netstack.ring import ShmRing, ring_pop, ring_push

FORK = mp.get_context("fork")  # children inherit the compiled kernels (no recompile per process)
RING_BURST = 5000      # records per burst (~0.35 s at the producer's pace here)
RING_PAUSE_S = 0.6     # producer: between bursts
RING_GAP_S = 0.1       # consumer: no record for this long ends its burst
RING_REST_S = 0.4      # consumer: sleeps this long after a burst, waking before the next one
RT_PERIOD_S = 1.0      # kernel.sched_rt_period_us: the RT budget is given back once per period


@dataclass
class HandoffResult:
    """Latencies (ns) of each method, and what went wrong: records lost or out of order, ring overruns."""

    samples_ns: dict[str, np.ndarray]
    lost: dict[str, int]
    overruns: int
    cpus: tuple[int, int]


@njit(cache=True)
def _push_stamped(words, rec, i, deadline_tsc):
    """Push record ``i`` stamped with the TSC just before the push; False if the ring stayed full until the
    deadline (each full attempt is counted as an overrun by the ring)."""
    rec[1] = i
    rec[0] = shims.rdtsc()
    while not ring_push(words, rec):
        if shims.rdtsc() > deadline_tsc:
            return False
    return True


@njit(cache=True)
def _consume(words, lat, got, bad, gap_ticks, deadline_tsc):
    """Pop into ``lat[got:]`` until it is full, the deadline passes, or (once a record came) none came for
    ``gap_ticks``; returns (records received, records out of sequence) so far."""
    rec = np.zeros(2, np.uint64)
    last = 0
    spins = 0
    while got < lat.shape[0]:
        if ring_pop(words, rec):
            now = shims.rdtsc()
            lat[got] = now - rec[0] if now > rec[0] else 0
            if rec[1] != got:
                bad += 1
            got += 1
            last = now
        else:
            spins += 1
            if spins & 0xFFF == 0:
                now = shims.rdtsc()
                if now > deadline_tsc or (last and now - last > gap_ticks):
                    break
    return got, bad


def pin(cpu: int, rt_priority: int = 0) -> None:
    """Pin this process to ``cpu`` (-1: leave it) and, with ``rt_priority`` > 0, run it SCHED_FIFO."""
    if cpu >= 0:
        os.sched_setaffinity(0, {cpu})
    if rt_priority > 0:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(rt_priority))


def reap(*procs: mp.Process) -> None:
    """Wait for each child a little, then kill it: a benchmark never leaves a spinning process behind."""
    for p in procs:
        p.join(5)
        if p.is_alive():
            p.kill()
            p.join(5)


def check_rt_allowed() -> None:
    """SCHED_FIFO spinners are only safe with the kernel's RT throttling on (other tasks keep a share)."""
    try:
        runtime = int(open("/proc/sys/kernel/sched_rt_runtime_us").read())
    except OSError:
        runtime = -1
    if runtime < 0:
        raise ValueError("rt_priority needs RT throttling (kernel.sched_rt_runtime_us >= 0)")


def _ring_consumer(name: str, cpu: int, rt: int, n: int, deadline_tsc: int, out: mp.connection.Connection) -> None:
    pin(cpu, rt)
    ring = ShmRing.attach(name)
    ring.register(producer=False)
    lat = np.zeros(n, np.uint64)
    gap_ticks = int(RING_GAP_S * tsc_hz()) if rt > 0 else 1 << 62  # rests only under SCHED_FIFO
    _consume(ring.words, lat[:0], 0, 0, gap_ticks, deadline_tsc)  # compiled (a cold cache) before any record
    out.send("ready")
    got, bad = _consume(ring.words, lat, 0, 0, gap_ticks, deadline_tsc)
    while got < n and int(lib.tw_rdtsc()) < deadline_tsc:
        time.sleep(RING_REST_S)  # give the rest of the second back (see the module docstring)
        got, bad = _consume(ring.words, lat, got, bad, gap_ticks, deadline_tsc)
    out.send((lat[:got], int(bad)))


def _ring_producer(name: str, cpu: int, rt: int, n: int, interval_s: float, deadline_tsc: int) -> None:
    """Sleeps between records (only the consumer spins: on two cores shared with everything else, a spinning
    producer would take the second core too)."""
    pin(cpu, rt)
    ring = ShmRing.attach(name)
    ring.register(producer=True)
    rec = np.zeros(2, np.uint64)
    for i in range(n):
        if rt > 0 and i and i % RING_BURST == 0:
            time.sleep(RING_PAUSE_S)
        time.sleep(interval_s)
        if not _push_stamped(ring.words, rec, i, deadline_tsc):
            break
    ring.close_producer()


def ring_handoff(n: int, interval_ns: int, cpus: tuple[int, int], timeout_s: float,
                 rt_priority: int = 0) -> tuple[np.ndarray, int, int]:
    """(latencies ns, records lost or out of order, overruns) of ``n`` records through the ring."""
    hz = tsc_hz()
    deadline = int(lib.tw_rdtsc()) + int(timeout_s * hz)
    ring = ShmRing.create(1024, 2)
    rx, tx = FORK.Pipe(duplex=False)
    consumer = FORK.Process(target=_ring_consumer, args=(ring.name, cpus[1], rt_priority, n, deadline, tx), daemon=True)
    producer = FORK.Process(target=_ring_producer, args=(ring.name, cpus[0], rt_priority, n, interval_ns / 1e9,
                                                          deadline), daemon=True)
    try:
        consumer.start()
        if not rx.poll(timeout_s) or rx.recv() != "ready":
            raise RuntimeError("ring consumer did not start")
        producer.start()
        if not rx.poll(timeout_s + 5):
            raise RuntimeError("ring consumer did not report")
        ticks, bad = rx.recv()
        overruns = ring.overruns()
    finally:
        reap(producer, consumer)
        ring.close()
    return ticks.astype(np.float64) * (1e9 / hz), n - ticks.shape[0] + bad, overruns


def _python_producer(put, n: int, interval_s: float) -> None:
    for i in range(n):
        put((int(lib.tw_rdtsc()), i))
        time.sleep(interval_s)
    put(None)


def _python_consume(get, n: int, timeout_s: float) -> tuple[list[int], int]:
    lat, bad, expect = [], 0, 0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            item = get(timeout=0.5)
        except queue.Empty:
            continue
        now = int(lib.tw_rdtsc())
        if item is None:
            break
        stamp, seq = item
        lat.append(now - stamp)
        bad += seq != expect
        expect = seq + 1
    return lat, bad + n - len(lat)


def queue_handoff(n: int, interval_s: float, timeout_s: float) -> tuple[np.ndarray, int]:
    """queue.Queue between a producer thread and this (consumer) thread: (latencies ns, lost/out of order)."""
    q: queue.Queue = queue.Queue()
    producer = threading.Thread(target=_python_producer, args=(q.put, n, interval_s), daemon=True)
    producer.start()
    lat, bad = _python_consume(q.get, n, timeout_s)
    producer.join(5)
    return np.asarray(lat, np.float64) * (1e9 / tsc_hz()), bad


def _mp_consumer(q: mp.Queue, n: int, timeout_s: float, cpu: int, out: mp.connection.Connection) -> None:
    pin(cpu)
    out.send(_python_consume(q.get, n, timeout_s))


def _mp_producer(q: mp.Queue, n: int, interval_s: float, cpu: int) -> None:
    pin(cpu)
    _python_producer(q.put, n, interval_s)


def mp_queue_handoff(n: int, interval_s: float, cpus: tuple[int, int], timeout_s: float) -> tuple[np.ndarray, int]:
    """multiprocessing.Queue between two processes on ``cpus``: (latencies ns, lost/out of order)."""
    q = FORK.Queue()
    rx, tx = FORK.Pipe(duplex=False)
    consumer = FORK.Process(target=_mp_consumer, args=(q, n, timeout_s, cpus[1], tx), daemon=True)
    producer = FORK.Process(target=_mp_producer, args=(q, n, interval_s, cpus[0]), daemon=True)
    consumer.start()
    producer.start()
    try:
        if not rx.poll(timeout_s + 5):
            raise RuntimeError("multiprocessing.Queue consumer did not report")
        lat, bad = rx.recv()
    finally:
        reap(producer, consumer)
        q.close()
    return np.asarray(lat, np.float64) * (1e9 / tsc_hz()), bad


def handoff_cpus() -> tuple[int, int]:
    """Two distinct CPUs this process may use (producer, consumer); (-1, -1) = no pinning on a 1-CPU host."""
    allowed = sorted(os.sched_getaffinity(0))
    return (allowed[0], allowed[1]) if len(allowed) >= 2 else (-1, -1)


def run_handoff(n_ring: int = 200_000, n_python: int = 20_000, ring_interval_ns: int = 20_000,
                python_interval_s: float = 200e-6, timeout_s: float = 120.0, rt_priority: int = 0) -> HandoffResult:
    """The three handoffs, one after the other in this run, on the same two cores. ``rt_priority`` > 0 runs
    the ring's producer and consumer SCHED_FIFO (what an isolated core gives them; RT throttling must be on)."""
    if rt_priority > 0:
        check_rt_allowed()
        time.sleep(RT_PERIOD_S)  # a fresh RT budget: SCHED_FIFO work just before (Memory Alloc) may have spent it
    cpus = handoff_cpus()
    tsc_hz()  # calibrate before children fork (they inherit the cached value)
    ring_ns, ring_lost, overruns = ring_handoff(n_ring, ring_interval_ns, cpus, timeout_s, rt_priority)
    q_ns, q_lost = queue_handoff(n_python, python_interval_s, timeout_s)
    mpq_ns, mpq_lost = mp_queue_handoff(n_python, python_interval_s, cpus, timeout_s)
    return HandoffResult({"ring": ring_ns, "queue.Queue": q_ns, "multiprocessing.Queue": mpq_ns},
                         {"ring": ring_lost, "queue.Queue": q_lost, "multiprocessing.Queue": mpq_lost},
                         overruns, cpus)
