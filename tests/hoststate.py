"""Capture the host state the tuning tests and the Ansible tests may touch, to prove they restored it exactly:
every sysctl (`sysctl -a`, minus counters that move on their own) and every sysfs/procfs file of the catalogue."""
from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

# Counters and random values that change without anyone writing them.
VOLATILE = ("fs.dentry-state", "fs.file-nr", "fs.inode-nr", "fs.inode-state", "kernel.ns_last_pid", "kernel.random.",
            "fs.aio-nr", "kernel.pty.nr", "net.netfilter.nf_conntrack_count", "fs.quota.", "kernel.tainted")
FILES = ("/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/mm/transparent_hugepage/defrag",
         "/sys/kernel/mm/ksm/run", "/sys/devices/virtual/workqueue/cpumask",
         "/sys/bus/workqueue/devices/writeback/cpumask", "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
         "/proc/irq/default_smp_affinity", "/proc/irq/*/smp_affinity_list", "/sys/class/net/*/queues/rx-*/rps_cpus")


# Per-interface sysctls of interfaces other engineers' tests create and configure concurrently (tuning never
# touches per-interface keys); the all/default/lo entries are kept.
_PER_IFACE = re.compile(r"^net\.ipv[46]\.(conf|neigh)\.(?!all\.|default\.|lo\.)")


def sysctls() -> dict[str, str]:
    out = subprocess.run(["sysctl", "-a"], capture_output=True, text=True, timeout=30).stdout
    values = {}
    for line in out.splitlines():
        key, sep, value = line.partition(" = ")
        if sep and not key.startswith(VOLATILE) and not _PER_IFACE.match(key):
            values[key] = value
    return values


def files() -> dict[str, str]:
    values = {}
    for pattern in FILES:
        for path in sorted(glob.glob(pattern)):
            try:
                values[path] = Path(path).read_text().strip()
            except OSError:
                continue
    return values


def capture() -> dict[str, str]:
    """Sysctls and files, minus whatever changed between two reads 0.2 s apart (moving on its own)."""
    first = {**sysctls(), **files()}
    time.sleep(0.2)
    second = {**sysctls(), **files()}
    return {key: value for key, value in second.items() if first.get(key) == value}


def differences(before: dict[str, str], after: dict[str, str]) -> dict[str, tuple[str | None, str | None]]:
    """Keys whose value differs (only keys stable in `before`; a key that vanished with an interface or IRQ
    someone else removed is not a change of ours)."""
    return {key: (value, after[key]) for key, value in before.items() if key in after and after[key] != value}


LOCK = ("/run/lock" if os.path.isdir("/run/lock") else "/tmp") + "/tickwire-host-tuning-tests.lock"


@contextlib.contextmanager
def exclusive(timeout: float = 1800.0) -> Iterator[None]:
    """Hold a host-wide lock while a test changes and restores host tuning: two test runs at once (two engineers,
    or CI beside a developer) would otherwise each capture the other's changes as "before" and restore those."""
    fd = os.open(LOCK, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another test run holds {LOCK}") from None
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
