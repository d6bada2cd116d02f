"""Benchmark (opt-in): compiled receive loop vs dpdk-testpmd rxonly on net_null and net_pcap(infinite_rx)."""
from __future__ import annotations

from pathlib import Path

import pytest

from _bench import TESTPMD, format_row, side_by_side

pytestmark = [pytest.mark.dpdk,
              pytest.mark.skipif(TESTPMD is None, reason="dpdk-testpmd missing (apt-get install dpdk-dev)")]

CAPTURE = Path(__file__).parents[1] / "data" / "deribit-multicast" / "sample_capture_v1_6.pcapng"
VDEVS = ["net_null0", f"net_pcap0,rx_pcap={CAPTURE},infinite_rx=1"]


@pytest.mark.bench
def test_bench_rx_loop_vs_testpmd(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [side_by_side(vdev, seconds=3.0, rounds=3) for vdev in VDEVS]
    with capsys.disabled():
        print("\nreceive loop, 1 core, burst 32, median of 3 interleaved rounds x 3 s")
        for row in rows:
            print(format_row(row))
    for row in rows:
        assert row["ratio_len"] > 0


def test_bench_rx_smoke() -> None:
    """Runs the benchmark machinery for a fraction of the time (proves it works; no timing asserted)."""
    row = side_by_side(VDEVS[0], seconds=0.3, rounds=1)
    assert row["testpmd_pps"] > 0 and row["ours_len_pps"] > 0 and row["cycles_per_packet_data"] > 0
