"""Benchmark (opt-in): 200-byte TCP round trips on one veth path, the userspace stack on DPDK (af_packet,
af_xdp) vs kernel TCP (busy-polling client, blocking client). Interleaved rounds; p50/p99 from HdrHistogram
over all rounds."""
from __future__ import annotations

import os
import statistics
from pathlib import Path

import pytest

from _rtt import CLIENT_CPU, ECHO_CPU, build, dpdk_pingpong, dpdk_rtts, kernel_rtts, start_echo
from _utcp_net import impair, stack_network, stop
from tickwire.bench.stats import latency_percentiles_us

pytestmark = [pytest.mark.dpdk, pytest.mark.netns]

SIZE = 200


def measure(tmp_path: Path, rounds: int, n: int, warmup: int,
            parts: dict[str, list[int]] | None = None) -> dict[str, list[int]]:
    """Interleaved rounds of every client; the af_packet runs' round-trip parts are added to ``parts``."""
    parts = {} if parts is None else parts
    echo, client = build(tmp_path)
    samples: dict[str, list[int]] = {"dpdk": [], "dpdk_af_xdp": [], "kernel_spin": [], "kernel_block": []}
    with stack_network() as net:
        server = start_echo(net, echo, seconds=3600)
        try:
            for _ in range(rounds):
                r = dpdk_pingpong(net, SIZE, n, warmup)
                samples["dpdk"] += r["rtt_ns"]
                for name, values in r["parts_ns"].items():
                    parts.setdefault(name, []).extend(values)
                samples["dpdk_af_xdp"] += dpdk_rtts(net, SIZE, n, warmup, driver="af_xdp")
                samples["kernel_spin"] += kernel_rtts(net, client, "spin", SIZE, n, warmup)
                samples["kernel_block"] += kernel_rtts(net, client, "block", SIZE, n, warmup)
        finally:
            stop(server)
    return samples


@pytest.mark.bench
@pytest.mark.timeout(1800)  # 4 variants x 3 rounds x 5000 round trips on a busy 2-core host
def test_bench_round_trip_dpdk_vs_kernel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parts: dict[str, list[int]] = {}
    load = os.getloadavg()[0]
    samples = measure(tmp_path, rounds=3, n=5000, warmup=500, parts=parts)
    stats = {k: latency_percentiles_us(v) for k, v in samples.items()}
    with capsys.disabled():
        print(f"\n{SIZE}-byte TCP round trip over veth + bridge, 3 interleaved rounds x 5000, clients on CPU "
              f"{CLIENT_CPU}, echo server on CPU {ECHO_CPU}; load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
        for k, s in stats.items():
            print(f"  {k:<13} p50 {s['p50']:7.1f} us  p99 {s['p99']:7.1f} us  p99.9 {s['p99.9']:7.1f} us  "
                  f"(n={s['count']})")
        spin, block = stats["kernel_spin"]["p50"], stats["kernel_block"]["p50"]
        for k in ("dpdk", "dpdk_af_xdp"):
            d = stats[k]["p50"]
            print(f"  p50 ratios: {k}/kernel_spin {d / spin:.2f}, {k}/kernel_block {d / block:.2f}")
        split = "  ".join(f"{name} {statistics.median(v) / 1e3:.1f}" for name, v in parts.items())
        print(f"  dpdk (af_packet) round trip, median parts in us: {split}")
    assert all(s["count"] == 15000 for s in stats.values())


def test_round_trip_smoke(tmp_path: Path) -> None:
    """The benchmark machinery end to end for a few round trips (every echo comes back; no timing asserted)."""
    samples = measure(tmp_path, rounds=1, n=50, warmup=5)
    assert {k: len(v) for k, v in samples.items()} == {"dpdk": 50, "dpdk_af_xdp": 50, "kernel_spin": 50,
                                                       "kernel_block": 50}
    assert all(v > 0 for vs in samples.values() for v in vs)


@pytest.mark.bench
@pytest.mark.timeout(900)
def test_bench_round_trips_keep_flowing_under_2pct_loss(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """2 % of frames dropped both ways: every round trip completes (no byte lost); the longest one against RTO."""
    echo, _ = build(tmp_path)
    with stack_network() as net:
        impair(net, loss_pct=2)
        server = start_echo(net, echo, seconds=3600)
        try:
            r = dpdk_pingpong(net, SIZE, 3000, 100, limits={"rto_min_ms": 20})
        finally:
            stop(server)
    s = latency_percentiles_us(r["rtt_ns"])
    with capsys.disabled():
        print(f"\n{SIZE}-byte round trips under 2 % loss both ways: p50 {s['p50']:.1f} us p99 {s['p99']:.1f} us "
              f"max {s['max'] / 1e3:.1f} ms; final RTO {r['rto_ms']:.1f} ms; retransmits "
              f"{r['counters']['retransmits']} (fast {r['counters']['fast_retransmits']}, "
              f"timeouts {r['counters']['rto_events']})")
    assert s["count"] == 3000
