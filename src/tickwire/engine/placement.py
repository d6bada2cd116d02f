"""Where and how the engine process runs: pinned to its own CPU, memory locked, no GC pause while trading.

- :func:`place`: the engine's CPU from the core plan (or ``--cpu``), the calling thread pinned there (threads
  it starts later inherit it), ``mlockall(MCL_CURRENT | MCL_FUTURE)`` when allowed (say why not otherwise);
- :func:`pin_process`: a child (the simulator, the capture) moved to the other CPUs, every thread of it;
- :class:`GcSafePoints`: after warm-up ``gc.freeze()`` and no automatic collection; the slow path collects the
  young generation at its own safe points and the pauses are counted.

:meth:`Placement.restore` undoes the pinning and the memory lock (a bench or a test runs engines in-process).
"""
from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass, field

from tickwire.config import ConfigError
from tickwire.hw.plan import RunCpus, plan_host, run_cpus
from tickwire.hw.topology import isolation
from tickwire.engine.driver import set_pinned
from tickwire.native import lib


@dataclass
class Placement:
    """The engine's CPU, the CPUs of everything else, whether memory is locked, and what to restore."""

    cpus: RunCpus
    memory_locked: bool
    lock_error: str = ""
    pinned: bool = True
    sim_cpus: list[int] = field(default_factory=list)  # set once the simulator was pinned
    _previous: set[int] = field(default_factory=set, repr=False)
    _unlocked: bool = field(default=False, repr=False)

    def pin_child(self, pid: int) -> None:
        """Move a process we started (the simulator) to the CPUs that are not the engine's (when pinning)."""
        if self.pinned:
            self.sim_cpus = pin_process(pid, self.cpus.others)

    def header(self) -> str:
        """One line for the top of the report."""
        if not self.pinned:
            where = "engine and simulator not pinned (pin = false)"
        else:
            sim = ",".join(map(str, self.sim_cpus)) if self.sim_cpus else "not started by us"
            where = f"engine on CPU {self.cpus.engine} ({self.cpus.source}); simulator on CPU {sim}"
        mem = "memory locked (mlockall)" if self.memory_locked else f"memory NOT locked ({self.lock_error})"
        return f"{where}; {mem}" + "".join(f"; {n}" for n in self.cpus.notes if self.pinned)

    def as_dict(self) -> dict[str, object]:
        return {"pinned": self.pinned, "engine_cpu": self.cpus.engine, "cpu_source": self.cpus.source,
                "sim_cpus": self.sim_cpus, "memory_locked": self.memory_locked, "lock_error": self.lock_error,
                "notes": self.cpus.notes}

    def restore(self) -> None:
        """Unpin the calling thread and unlock memory (what was done stays in the report: the header and
        ``as_dict`` describe the run)."""
        if self._previous:
            os.sched_setaffinity(0, self._previous)
            self._previous = set()
            set_pinned(0)
        if self.memory_locked and not self._unlocked:
            lib.tw_munlockall()
            self._unlocked = True


def place(requested_cpu: int | None = None, lock_memory: bool = True, pin: bool = True) -> Placement:
    """Pin the calling thread to the engine's CPU (unless not ``pin``) and lock memory (see the module
    docstring); ConfigError when ``requested_cpu`` is not available to this process."""
    previous = os.sched_getaffinity(0)
    try:
        cpus = run_cpus(plan_host(), sorted(previous), requested_cpu)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if cpus.engine not in isolation()["isolated"] and len(previous) > 1:
        cpus.notes.append(f"CPU {cpus.engine} is not isolated (isolcpus): other processes of the host may run "
                          "on it (`tickwire tune apply --isolated ...`)")
    if pin:
        os.sched_setaffinity(0, {cpus.engine})
        set_pinned(len(previous))  # the driver choice counts the host's CPUs, not the pinned thread's one
    locked, why = False, "not asked"
    if lock_memory:
        err = lib.tw_mlockall()
        locked = err == 0
        why = "" if locked else f"mlockall refused: {os.strerror(-err)}; needs CAP_IPC_LOCK or a larger " \
                                "RLIMIT_MEMLOCK (LimitMEMLOCK=infinity in a systemd unit)"
    return Placement(cpus, locked, why, pin, _previous=previous if pin else set())


def pin_process(pid: int, cpus: list[int]) -> list[int]:
    """Move every thread of process ``pid`` to ``cpus``; returns the CPUs (empty when the process is gone)."""
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:
        return []
    for tid in tids:
        try:
            os.sched_setaffinity(tid, set(cpus))
        except ProcessLookupError:  # a thread that just ended
            continue
    return list(cpus)


class GcSafePoints:
    """No automatic GC while trading: on enter, collect once and ``gc.freeze()`` what warm-up built (the old
    generations are never scanned again) and disable the collector; :meth:`collect` is called by the slow path
    at its safe points (young generation only); on exit the collector is as it was."""

    def __init__(self) -> None:
        self.collections = 0
        self.max_pause_ns = 0
        self._was_enabled = True

    def __enter__(self) -> GcSafePoints:
        self._was_enabled = gc.isenabled()
        gc.collect()
        gc.freeze()
        gc.disable()
        return self

    def collect(self) -> None:
        """Collect the young generation now (a safe point: nothing of the hot path is pending)."""
        t = time.perf_counter_ns()
        gc.collect(0)
        self.collections += 1
        self.max_pause_ns = max(self.max_pause_ns, time.perf_counter_ns() - t)

    def __exit__(self, *exc: object) -> None:
        gc.unfreeze()
        if self._was_enabled:
            gc.enable()

    def as_dict(self) -> dict[str, float]:
        return {"safe_point_collections": self.collections, "max_pause_us": self.max_pause_ns / 1e3}
