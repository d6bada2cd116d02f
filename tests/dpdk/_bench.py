"""Side-by-side receive throughput: our compiled loop vs `dpdk-testpmd --forward-mode=rxonly`, same vdev."""
from __future__ import annotations

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


def testpmd_rxonly_pps(vdev: str, seconds: float, cores: str = "0,1") -> float:
    """Median of testpmd's per-second Rx-pps readings (one forwarding core), max(1, seconds) of them after the
    first (which includes start-up)."""
    prefix = new_prefix()
    cmd = [TESTPMD, "-l", cores, "--no-huge", "-m", "512", "--no-pci", "--no-shconf", f"--file-prefix={prefix}",
           "--log-level=error", "--vdev", vdev, "--", "--forward-mode=rxonly", "--total-num-mbufs=16384",
           "--stats-period=1", "--nb-cores=1", "--burst=32"]
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


def ours_rx_pps(vdev: str, seconds: float, read_data: bool, core: str = "1", three_calls: bool = False) -> dict:
    """Our compiled loop on the same vdev, pinned to the core testpmd forwards on."""
    return run_child("bench_rx", {"vdev": vdev, "seconds": seconds, "read_data": read_data, "core": core,
                                  "three_calls": three_calls}, timeout=seconds + 60)


def side_by_side(vdev: str, seconds: float, rounds: int) -> dict:
    """Interleaved rounds (testpmd, the former 3-call loop, ours touching length only, ours reading the first
    byte); medians and ratios."""
    tp, ours_len, ours_data, cpp_len, cpp_data, three = [], [], [], [], [], []
    for _ in range(rounds):
        tp.append(testpmd_rxonly_pps(vdev, seconds))
        three.append(ours_rx_pps(vdev, seconds, read_data=False, three_calls=True)["pps"])
        r = ours_rx_pps(vdev, seconds, read_data=False)
        ours_len.append(r["pps"])
        cpp_len.append(r["cycles_per_packet"])
        r = ours_rx_pps(vdev, seconds, read_data=True)
        ours_data.append(r["pps"])
        cpp_data.append(r["cycles_per_packet"])
    med = statistics.median
    return {"vdev": vdev.split(",")[0], "testpmd_pps": med(tp),
            "testpmd_cycles_per_packet": tsc_hz() / med(tp),  # its forwarding core polls 100 % of the time
            "ours_len_pps": med(ours_len),
            "ours_data_pps": med(ours_data), "ratio_len": med(ours_len) / med(tp),
            "three_calls_pps": med(three), "ratio_three_calls": med(three) / med(tp),
            "ratio_data": med(ours_data) / med(tp), "cycles_per_packet_len": med(cpp_len),
            "cycles_per_packet_data": med(cpp_data)}


def format_row(r: dict) -> str:
    return (f"{r['vdev']:<10} testpmd {r['testpmd_pps'] / 1e6:5.1f} Mpps {r['testpmd_cycles_per_packet']:5.1f} cyc/pkt"
            f" | ours (len) {r['ours_len_pps'] / 1e6:5.1f} Mpps x{r['ratio_len']:.2f} "
            f"{r['cycles_per_packet_len']:5.1f} cyc/pkt | ours (len+1st byte) {r['ours_data_pps'] / 1e6:5.1f} Mpps "
            f"x{r['ratio_data']:.2f} {r['cycles_per_packet_data']:5.1f} cyc/pkt | before (3 calls/burst, len) "
            f"{r['three_calls_pps'] / 1e6:5.1f} Mpps x{r['ratio_three_calls']:.2f}")
