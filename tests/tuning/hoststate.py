"""Capture the host state the tuning tests and the Ansible tests may touch, to prove they restored it exactly:
every sysctl (`sysctl -a`, minus counters that move on their own) and every sysfs/procfs file of the catalogue."""
from __future__ import annotations

import glob
import subprocess
import time
from pathlib import Path

# Counters and random values that change without anyone writing them.
VOLATILE = ("fs.dentry-state", "fs.file-nr", "fs.inode-nr", "fs.inode-state", "kernel.ns_last_pid", "kernel.random.",
            "fs.aio-nr", "kernel.pty.nr", "net.netfilter.nf_conntrack_count", "fs.quota.", "kernel.tainted")
FILES = ("/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/mm/transparent_hugepage/defrag",
         "/sys/kernel/mm/ksm/run", "/sys/devices/virtual/workqueue/cpumask",
         "/sys/bus/workqueue/devices/writeback/cpumask", "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
         "/proc/irq/default_smp_affinity", "/proc/irq/*/smp_affinity_list", "/sys/class/net/*/queues/rx-*/rps_cpus")


def sysctls() -> dict[str, str]:
    out = subprocess.run(["sysctl", "-a"], capture_output=True, text=True, timeout=30).stdout
    values = {}
    for line in out.splitlines():
        key, sep, value = line.partition(" = ")
        if sep and not key.startswith(VOLATILE):
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
    """Keys whose value differs (only keys that were stable in `before`)."""
    return {key: (value, after.get(key)) for key, value in before.items() if after.get(key) != value}
