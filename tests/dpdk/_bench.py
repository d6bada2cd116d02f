"""Side-by-side throughput on one core: our compiled loops vs `dpdk-testpmd` (rxonly, or io on a loopback
net_ring), same vdev, same burst."""
from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import statistics
import subprocess
import time

from _harness import RUNTIME_DIR, new_prefix, run_child
from tickwire.clock import tsc_hz

TESTPMD = shutil.which("dpdk-testpmd")
_PPS = re.compile(r"Rx-pps:\s+(\d+)")


def testpmd_pps(vdev: str, seconds: float, mode: str = "rxonly", fifo: bool = False,
                cores: str = "0,1") -> float:
    """Median of testpmd's per-second Rx-pps readings (one forwarding core, burst 32), max(1, seconds) of them
    after the first (which includes start-up). mode ``rxonly`` (receive and free), or ``io`` with ``--tx-first``
    (one burst put in first, then every burst received is transmitted back: on net_ring it circulates). With
    ``fifo`` testpmd runs at SCHED_FIFO priority 1."""
    prefix = new_prefix()
    cmd = [TESTPMD, "-l", cores, "--no-huge", "-m", "512", "--no-pci", "--no-shconf", f"--file-prefix={prefix}",
           "--log-level=error", "--vdev", vdev, "--", f"--forward-mode={mode}", "--total-num-mbufs=16384",
           "--stats-period=1", "--nb-cores=1", "--burst=32"] + (["--tx-first"] if mode == "io" else [])
    if fifo:
        cmd = ["chrt", "-f", "1", *cmd]
    wanted = 1 + max(1, round(seconds))
    rates: list[int] = []
    tail: list[str] = []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            text=True, start_new_session=True)
    deadline = time.monotonic() + wanted + 30
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while len(rates) < wanted and time.monotonic() < deadline:
                if not sel.select(timeout=1.0):
                    continue
                line = proc.stdout.readline()
                if not line:
                    break
                tail = (tail + [line])[-30:]
                if m := _PPS.search(line):
                    rates.append(int(m.group(1)))
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(RUNTIME_DIR / prefix, ignore_errors=True)
    readings = [r for r in rates[1:] if r > 0]
    if not readings:
        raise AssertionError("testpmd gave no Rx-pps reading; output tail:\n" + "".join(tail))
    return float(statistics.median(readings))


def ours_pps(vdev: str, seconds: float, mode: str, touch: int = 0, fifo: bool = False, core: str = "1") -> dict:
    """Our compiled loop on the same vdev, pinned to the core testpmd forwards on: mode ``rx`` at a touch level
    (0 none, 1 length, 2 length + first byte) or ``io``; with ``fifo`` the measured loop runs at SCHED_FIFO 1."""
    return run_child("bench_rx", {"vdev": vdev, "seconds": seconds, "mode": mode, "touch": touch, "fifo": fifo,
                                  "core": core}, timeout=seconds + 120)


TOUCH_NAMES = ("rx+free", "+length", "+1st byte")


def side_by_side(vdev: str, seconds: float, rounds: int, mode: str = "rxonly", fifo: bool = False) -> dict:
    """Interleaved rounds of testpmd and our loop doing the same work: ``rxonly`` (ours at every touch level;
    level 0 is testpmd's work) or ``io`` (ours forwarding back); with ``fifo`` both measure at SCHED_FIFO (no
    time-slicing with the host's other work). Medians of Mpps and cycles/packet, ratios to testpmd, and the load
    average and preemptions of our runs."""
    variants = [("io", 0)] if mode == "io" else [("rx", t) for t in range(len(TOUCH_NAMES))]
    tp: list[float] = []
    runs: dict[int, list[dict]] = {t: [] for _, t in variants}
    loads = [os.getloadavg()[0]]
    for _ in range(rounds):
        tp.append(testpmd_pps(vdev, seconds, mode, fifo))
        for ours_mode, touch in variants:
            runs[touch].append(ours_pps(vdev, seconds, ours_mode, touch, fifo))
        loads.append(os.getloadavg()[0])
    med = statistics.median
    hz = tsc_hz()
    ours = [{"name": "io fwd" if mode == "io" else TOUCH_NAMES[t], "pps": med(r["pps"] for r in rs),
             "cycles_per_packet": med(r["cycles_per_packet"] for r in rs),
             "ratio": med(r["pps"] for r in rs) / med(tp), "preempted": sum(r["preempted"] for r in rs)}
            for t, rs in runs.items()]
    return {"vdev": vdev.split(",")[0], "mode": mode, "fifo": fifo, "testpmd_pps": med(tp), "testpmd_all": tp,
            "testpmd_cycles_per_packet": hz / med(tp),  # its forwarding core polls 100 % of the time
            "ours": ours, "load": (min(loads), max(loads))}


def format_row(r: dict) -> str:
    priority = "FIFO" if r["fifo"] else "normal"
    head = (f"{r['vdev']:<10} {r['mode']:<6} {priority} testpmd {r['testpmd_pps'] / 1e6:6.1f} Mpps "
            f"{r['testpmd_cycles_per_packet']:5.1f} cyc/pkt")
    cols = [f"{o['name']} {o['pps'] / 1e6:6.1f} Mpps {o['cycles_per_packet']:5.1f} cyc/pkt x{o['ratio']:.2f}"
            f" ({o['preempted']} preempt)" for o in r["ours"]]
    return " | ".join([head, *cols]) + f" | load {r['load'][0]:.1f}-{r['load'][1]:.1f}"
