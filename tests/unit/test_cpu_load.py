"""The CPU-load helper behind `pytest --cpu-load` really loads every core, and stops."""
from __future__ import annotations

import time

import psutil

from cpu_load import busy_cores


def test_busy_cores_spin_until_the_block_ends() -> None:
    with busy_cores(2, max_seconds=120) as pids:
        procs = [psutil.Process(pid) for pid in pids]
        assert len(procs) == 2
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(sum(p.cpu_times()[:2]) > 0.2 for p in procs):
            time.sleep(0.1)
        assert all(sum(p.cpu_times()[:2]) > 0.2 for p in procs)  # each used CPU time: it spins
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)


def test_a_loop_stops_by_itself_after_its_bound() -> None:
    with busy_cores(1, max_seconds=0.5) as pids:
        proc = psutil.Process(pids[0])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.1)
        assert not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
