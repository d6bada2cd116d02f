"""`tickwire doctor`: the facts a user needs when something does not work."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Fact:
    """One line of the doctor report: a name, a value, whether it is fine, and what to do if not."""

    name: str
    value: str
    ok: bool = True
    hint: str = ""


@dataclass
class Report:
    facts: list[Fact] = field(default_factory=list)

    def add(self, name: str, value: object, ok: bool = True, hint: str = "") -> None:
        self.facts.append(Fact(name, str(value), ok, hint))

    def as_dicts(self) -> list[dict[str, object]]:
        return [asdict(f) for f in self.facts]


def _dpdk_version() -> str | None:
    if shutil.which("pkg-config") is None:
        return None
    out = subprocess.run(["pkg-config", "--modversion", "libdpdk"], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _hugepages() -> tuple[str, bool]:
    meminfo = dict(
        line.split(":", 1) for line in _read("/proc/meminfo").splitlines() if line.startswith(("HugePages_", "Hugepagesize"))
    )
    total = int(meminfo.get("HugePages_Total", "0").strip() or 0)
    free = int(meminfo.get("HugePages_Free", "0").strip() or 0)
    size = meminfo.get("Hugepagesize", "?").strip()
    mounts = [line.split()[1] for line in _read("/proc/mounts").splitlines() if line.split()[2:3] == ["hugetlbfs"]]
    return f"{total} x {size} reserved, {free} free; hugetlbfs mounts: {', '.join(mounts) or 'none'}", total > 0


def collect() -> Report:
    """Gather every fact; never raises (a fact that cannot be read says so)."""
    import numba

    from tickwire import __version__, clock, native

    report = Report()
    report.add("tickwire", __version__)
    for module in ("_tw_native", "_tw_dpdk"):
        built = native.available(module)
        report.add(f"native {module}", "built" if built else "not built", built, "" if built else native._HOW_TO_BUILD[module])
    dpdk = _dpdk_version()
    report.add(
        "DPDK (libdpdk)", dpdk or "not found", dpdk is not None,
        "" if dpdk else "apt-get install dpdk libdpdk-dev dpdk-dev, then `make install`",
    )
    report.add("numba", numba.__version__)
    cache_dir = numba.config.CACHE_DIR or "next to each module (__pycache__); set NUMBA_CACHE_DIR to move it"
    report.add("numba cache dir", cache_dir)
    report.add("CPUs", os.cpu_count())
    from tickwire.engine.driver import choose_driver

    driver, why = choose_driver("auto")
    report.add("hot-path driver", f"{driver} by default ({why}; CPUs {sorted(os.sched_getaffinity(0))})", True,
               "" if driver == "spin" else "isolate a core for the engine (`tickwire tune`) for the spin driver")
    isolated = _read("/sys/devices/system/cpu/isolated")
    report.add("isolated cores", isolated or "none", True, "" if isolated else "see `tickwire tune` (isolcpus/nohz_full)")
    huge, have_huge = _hugepages()
    report.add("hugepages", huge, have_huge, "" if have_huge else "echo 512 > /proc/sys/vm/nr_hugepages, or run DPDK with --no-huge")
    invariant = clock.tsc_is_invariant()
    report.add("TSC frequency", f"{clock.tsc_hz() / 1e9:.4f} GHz (calibrated against CLOCK_MONOTONIC)")
    report.add("TSC invariant", "yes" if invariant else "no", invariant,
               "" if invariant else "stage latencies fall back to CLOCK_MONOTONIC accuracy")
    from tickwire.netstack._dpdk_doctor import add_facts as add_dpdk_facts

    add_dpdk_facts(report, have_huge)
    root = os.geteuid() == 0
    report.add("running as root", "yes" if root else "no", True,
               "" if root else "tune/hw apply, netns tests and DPDK need root")
    return report
