"""net_ring and net_null: frames through a loopback ring unchanged, and the throughput loops run."""
from __future__ import annotations

import pytest

from _harness import run_child

pytestmark = pytest.mark.dpdk


def test_ring_loopback_identical_and_null_ring_loops_run() -> None:
    r = run_child("ring_null", {"seed": 7, "frames": 3000, "seconds": 0.2}, timeout=60)
    assert r["sent"] == r["received"] == 3000
    assert r["identical"], "frames came back from net_ring changed"
    assert r["null_pps"] > 0 and r["ring_pps"] > 0 and r["null_cycles_per_packet"] > 0
    assert r["in_use_after_close"] == 0, "mbufs leaked"
