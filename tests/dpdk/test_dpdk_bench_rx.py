"""Benchmark (opt-in): compiled receive loop vs dpdk-testpmd rxonly on net_null and net_pcap(infinite_rx), and
io forwarding vs testpmd's io mode on net_ring (rxonly cannot run there: the loopback ring is empty unless the port
transmits)."""
from __future__ import annotations

from pathlib import Path

import pytest

from _bench import TESTPMD, format_row, side_by_side

pytestmark = [pytest.mark.dpdk,
              pytest.mark.skipif(TESTPMD is None, reason="dpdk-testpmd missing (apt-get install dpdk-dev)")]

CAPTURE = Path(__file__).parents[1] / "data" / "deribit-multicast" / "sample_capture_v1_6.pcapng"
RUNS = [("net_null0", "rxonly"), ("net_ring0", "io"), (f"net_pcap0,rx_pcap={CAPTURE},infinite_rx=1", "rxonly")]


@pytest.mark.bench
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("fifo", [False, True], ids=["normal", "fifo"])
def test_bench_rx_loop_vs_testpmd(fifo: bool, capsys: pytest.CaptureFixture[str]) -> None:
    """At normal priority, then with both sides' measured loops at SCHED_FIFO 1 (on a shared host the other jobs
    time-slice a normal-priority loop: its preemption count is printed)."""
    rows = [side_by_side(vdev, seconds=2.0, rounds=5, mode=mode, fifo=fifo) for vdev, mode in RUNS]
    with capsys.disabled():
        print("\nreceive loop, 1 core, burst 32, median of 5 interleaved rounds x 2 s "
              "(rx+free = testpmd rxonly's work; +length, +1st byte read each packet)")
        for row in rows:
            print(format_row(row))
    for row in rows:
        assert all(o["ratio"] > 0 for o in row["ours"])


@pytest.mark.parametrize("vdev,mode", RUNS[:2])
def test_bench_rx_smoke(vdev: str, mode: str) -> None:
    """Runs the benchmark machinery for a fraction of the time (proves it works; no timing asserted)."""
    row = side_by_side(vdev, seconds=0.3, rounds=1, mode=mode)
    assert row["testpmd_pps"] > 0
    assert all(o["pps"] > 0 and o["cycles_per_packet"] > 0 for o in row["ours"])
