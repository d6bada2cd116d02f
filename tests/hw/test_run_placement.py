"""Where `tickwire run` puts its processes: the engine's CPU from the core plan or --cpu, the rest elsewhere;
pinning, mlockall and the GC safe points applied for real and undone."""
from __future__ import annotations

import gc
import os
import subprocess

import pytest

from tickwire.config import ConfigError
from tickwire.engine.placement import GcSafePoints, pin_process, place
from tickwire.hw.plan import CorePlan, run_cpus


def _plan(engine: list[int]) -> CorePlan:
    return CorePlan(housekeeping=[0], rx=[0], engine=engine, isolated=engine)


def test_two_cpus_give_the_engine_one_and_everything_else_the_other() -> None:
    cpus = run_cpus(_plan([1]), [0, 1])
    assert (cpus.engine, cpus.others, cpus.source) == (1, [0], "core plan")
    assert "2 CPUs" in cpus.notes[0]
    asked = run_cpus(_plan([1]), [0, 1], requested=0)
    assert (asked.engine, asked.others, asked.source) == (0, [1], "--cpu")


def test_a_plan_cpu_outside_the_allowed_set_is_not_used_and_a_bad_request_is_refused() -> None:
    assert run_cpus(_plan([1]), [2, 3, 5]).engine == 5  # e.g. a cgroup cpuset: the last allowed CPU
    with pytest.raises(ValueError, match="CPU 7 is not available"):
        run_cpus(_plan([1]), [0, 1], requested=7)


def test_one_cpu_shares_it_and_says_so() -> None:
    cpus = run_cpus(_plan([0]), [0])
    assert (cpus.engine, cpus.others) == (0, [0]) and "one CPU only" in cpus.notes[0]


def _locked_kb() -> int:
    from pathlib import Path

    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmLck:"):
            return int(line.split()[1])
    raise AssertionError("no VmLck in /proc/self/status")


def test_place_pins_the_thread_locks_memory_and_restore_undoes_both() -> None:
    before = os.sched_getaffinity(0)
    cpu = max(before)
    placement = place(requested_cpu=cpu)
    try:
        assert os.sched_getaffinity(0) == {cpu}
        if os.geteuid() == 0:  # root: mlockall must work; otherwise the header must say why not
            assert placement.memory_locked and _locked_kb() > 0
        else:
            assert not placement.memory_locked and "mlockall refused" in placement.header()
        assert f"engine on CPU {cpu} (--cpu)" in placement.header()
    finally:
        placement.restore()
    assert os.sched_getaffinity(0) == before and _locked_kb() == 0
    assert placement.as_dict()["memory_locked"] == (os.geteuid() == 0)  # the report still says what the run had
    with pytest.raises(ConfigError, match="not available"):
        place(requested_cpu=4096)
    assert os.sched_getaffinity(0) == before


def test_pin_process_moves_every_thread_of_a_child() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        target = [min(os.sched_getaffinity(0))]
        assert pin_process(child.pid, target) == target
        assert os.sched_getaffinity(child.pid) == set(target)
    finally:
        child.kill()
        child.wait()
    assert pin_process(child.pid, target) == []  # gone: nothing to pin, no error


def test_gc_safe_points_freeze_and_collect_only_when_asked() -> None:
    assert gc.isenabled()
    with GcSafePoints() as points:
        assert not gc.isenabled() and gc.get_freeze_count() > 0
        young = gc.get_stats()[0]["collections"]
        junk = [[] for _ in range(5 * gc.get_threshold()[0])]  # far past the automatic threshold
        assert gc.get_stats()[0]["collections"] == young  # no automatic collection while trading
        del junk
        points.collect()
        assert gc.get_stats()[0]["collections"] == young + 1 and points.collections == 1
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert points.as_dict()["max_pause_us"] > 0


def test_place_without_pinning_leaves_the_affinity_and_says_so() -> None:
    before = os.sched_getaffinity(0)
    placement = place(lock_memory=False, pin=False)
    try:
        assert os.sched_getaffinity(0) == before
        placement.pin_child(os.getpid())  # not pinning: children stay where the scheduler puts them
        assert os.sched_getaffinity(0) == before and placement.sim_cpus == []
        assert placement.header().startswith("engine and simulator not pinned")
        assert "memory NOT locked (not asked)" in placement.header()
    finally:
        placement.restore()
    assert os.sched_getaffinity(0) == before


def test_a_pinned_engine_still_gets_the_spin_driver_when_the_host_has_a_core_for_everything_else() -> None:
    """Pinning leaves the engine thread one CPU, but a core of its own: the driver choice counts the host's CPUs
    (before pinning), and unpinning counts the thread's mask again."""
    from tickwire.engine.driver import choose_driver

    before = os.sched_getaffinity(0)
    host = len(before)
    placement = place(None, lock_memory=False, pin=True)
    try:
        assert len(os.sched_getaffinity(0)) == 1
        assert choose_driver("spin")[0] == ("spin" if host >= 2 else "async")
        assert choose_driver("auto", isolated=[1])[0] == ("spin" if host >= 2 else "async")
    finally:
        placement.restore()
    os.sched_setaffinity(0, {min(before)})
    try:
        assert choose_driver("spin")[0] == "async"  # truly one CPU (not a placement): no core for the rest
        assert choose_driver("auto", isolated=[1])[0] == "async"
    finally:
        os.sched_setaffinity(0, before)
