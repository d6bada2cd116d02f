"""Which driver runs the hot path: the compiled spin driver (tickwire.engine.spin) or the async driver (the event
loop hands each socket read to the compiled pass). Plain Python, so `tickwire doctor` can say it cheaply."""
from __future__ import annotations

import os

DRIVERS = ("auto", "spin", "async")


_pinned_host_cpus = 0  # while the engine is pinned (tickwire.engine.placement): the CPUs it could use before


def set_pinned(host_cpus: int) -> None:
    """The engine thread was pinned to one CPU of ``host_cpus`` (0: unpinned again). Its own affinity mask is then
    one CPU, but the core is its own: everything else was moved to the others, which is what spin needs."""
    global _pinned_host_cpus
    _pinned_host_cpus = host_cpus


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask; before pinning, when the engine pinned itself)."""
    return _pinned_host_cpus or len(os.sched_getaffinity(0))


def choose_driver(requested: str) -> tuple[str, str]:
    """(driver, why) for ``requested`` "spin", "async" or "auto": spin needs a core of its own, so with one
    usable CPU it falls back to async (spinning there would starve the slow path and everything else)."""
    if requested not in DRIVERS:
        raise ValueError(f"driver {requested!r}: expected one of {', '.join(DRIVERS)}")
    if requested == "async":
        return "async", "requested"
    cpus = usable_cpus()
    if cpus < 2:
        return "async", (f"the spin driver needs a core of its own and this process may use {cpus} CPU: running "
                         "the async driver instead")
    return "spin", "requested" if requested == "spin" else f"{cpus} usable CPUs"
