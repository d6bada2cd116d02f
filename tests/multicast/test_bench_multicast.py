"""Benchmarks (opt-in: pytest -m bench): decoder compiled vs Python twin; multicast vs WebSocket latency.
Each has a smoke test (not marked) that runs the machinery briefly; no timing is asserted anywhere."""
from __future__ import annotations

import pytest

from bench_multicast import decode_rates, format_latency, latency
from mcast_ports import loopback_channel_map


@pytest.mark.bench
def test_bench_decode_compiled_vs_reference(capture, capsys: pytest.CaptureFixture[str]) -> None:
    row = decode_rates(capture.data, seconds=3.0, repeat_ref=2)
    with capsys.disabled():
        print(f"\nSBE decode on the real capture ({row['messages_per_pass']} messages/pass), one core:"
              f"\n  compiled decode_batch : {row['compiled_msgs_s'] / 1e6:8.2f} M msgs/s ({row['ns_per_msg']:.0f} ns/msg)"
              f"\n  ... called from Python: {row['python_driven_msgs_s'] / 1e6:8.2f} M msgs/s (per call of ~1000 packets)"
              f"\n  Python twin (struct)  : {row['reference_msgs_s'] / 1e6:8.3f} M msgs/s"
              f"\n  ratio                 : {row['ratio']:8.1f}x (goal >= 50x)"
              f"\n  decode + feed (books) : {row['decode_feed_msgs_s'] / 1e6:8.2f} M msgs/s")
    assert row["ratio"] > 0


def test_bench_decode_smoke(capture) -> None:
    row = decode_rates(capture.data[:200], seconds=0.05)
    assert row["compiled_msgs_s"] > 0 and row["reference_msgs_s"] > 0 and row["messages_per_pass"] >= 200


@pytest.mark.bench
def test_bench_latency_multicast_vs_websocket(capsys: pytest.CaptureFixture[str]) -> None:
    row = latency(loopback_channel_map(), seconds=10.0, rate=100.0)
    with capsys.disabled():
        print("\nmarket-data latency vs the simulator (in-process clients, loopback, 5 instruments x 100 changes/s)")
        print(format_latency(row))
    assert row["changes"] > 0


def test_bench_latency_smoke() -> None:
    """Waits until both feeds delivered 50 of the same changes (a busy machine takes longer; no fixed window)."""
    row = latency(loopback_channel_map(), seconds=None, rate=100.0, min_changes=50)
    assert row["changes"] >= 50 and row["multicast_us"]["count"] == row["websocket_us"]["count"] == row["changes"], row
    assert "p50 ratio" in format_latency(row)
