"""A bounded busy loop on every core, for running tests the way a busy machine runs them (``pytest --cpu-load``,
part of ``make bench``): a test that only passes on an idle machine is waiting for a fixed time somewhere."""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from collections.abc import Iterator

MAX_SECONDS = 4 * 3600.0  # a loop outlives no test run, even when its parent is killed without cleanup


def _spin(parent: int, max_seconds: float) -> None:
    end = time.monotonic() + max_seconds
    x = 0
    while time.monotonic() < end and os.getppid() == parent:  # a re-parented loop (parent died) stops
        for _ in range(100_000):
            x += 1


@contextlib.contextmanager
def busy_cores(n: int | None = None, max_seconds: float = MAX_SECONDS) -> Iterator[list[int]]:
    """Keep ``n`` processes (default: one per core) spinning until the block ends or ``max_seconds`` pass;
    yields their pids."""
    ctx = multiprocessing.get_context("spawn")  # no inherited test state in the loops
    procs = [ctx.Process(target=_spin, args=(os.getpid(), max_seconds), daemon=True)
             for _ in range(n or os.cpu_count() or 1)]
    for p in procs:
        p.start()
    try:
        yield [p.pid for p in procs if p.pid is not None]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(10)
