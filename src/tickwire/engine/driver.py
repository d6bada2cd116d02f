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


SPARE_CPUS = 4  # without an isolated core, a host this wide has a core to give the spin driver


def choose_driver(requested: str, isolated: list[int] | None = None) -> tuple[str, str]:
    """(driver, why) for ``requested`` "spin", "async" or "auto" (the default).

    spin needs a core of its own, so with one usable CPU both fall back to async (spinning there would starve
    the slow path and everything else). ``auto`` spins only when the host has a core to give it: a core the
    kernel isolates (isolcpus; ``isolated``, read from sysfs when None), or at least SPARE_CPUS usable CPUs. On
    a small shared host (two CPUs, none isolated) a spinning engine would take half of it from the venue, the
    capture and the OS, so auto runs async there and says so; ``spin`` spins anyway."""
    if requested not in DRIVERS:
        raise ValueError(f"driver {requested!r}: expected one of {', '.join(DRIVERS)}")
    if requested == "async":
        return "async", "requested"
    cpus = usable_cpus()
    if cpus < 2:
        return "async", (f"the spin driver needs a core of its own and this process may use {cpus} CPU: running "
                         "the async driver instead")
    if requested == "spin":
        return "spin", "requested"
    if isolated is None:
        from tickwire.hw.topology import isolation

        isolated = isolation()["isolated"]
    if isolated:
        return "spin", f"isolated cores {','.join(map(str, isolated))}"
    if cpus >= SPARE_CPUS:
        return "spin", f"{cpus} usable CPUs"
    return "async", (f"auto: no core to give a spinning loop ({cpus} CPUs, none isolated: `tickwire tune` "
                     "isolates one); --driver spin spins anyway")
