"""Benchmark (opt-in): latency of the DPDK source vs the multicast kernel-socket source on the same veth traffic."""
from __future__ import annotations

import pytest

from _latency import compare

pytestmark = [pytest.mark.dpdk, pytest.mark.netns]


def _table(result: dict) -> str:
    lines = [f"{'source':<8}" + "".join(f"{k:>10}" for k in ("p50", "p95", "p99", "p99.9", "max")) + "   (us)"]
    for mode, s in result.items():
        lines.append(f"{mode:<8}" + "".join(f"{s[k]:>10.1f}" for k in ("p50", "p95", "p99", "p99.9", "max"))
                     + f"   n={s['count']}")
    k, d = result["kernel"], result["dpdk"]
    lines.append(f"dpdk/kernel ratio: p50 x{d['p50'] / k['p50']:.2f}, p99 x{d['p99'] / k['p99']:.2f}; "
                 f"median of per-round p50: kernel {k['p50_median_of_rounds']:.1f} us, dpdk "
                 f"{d['p50_median_of_rounds']:.1f} us (x{d['p50_median_of_rounds'] / k['p50_median_of_rounds']:.2f})")
    return "\n".join(lines)


@pytest.mark.bench
def test_bench_latency_dpdk_vs_kernel(capsys: pytest.CaptureFixture[str]) -> None:
    result = compare(count=4_000, rate=5_000, rounds=5)
    with capsys.disabled():
        print("\nUDP multicast over veth, 5000 datagrams/s open loop, receivers spinning on one core "
              "(send stamp -> packet in our buffer)")
        print(_table(result))
    assert result["dpdk"]["count"] == result["kernel"]["count"] == 20_000


def test_bench_latency_smoke() -> None:
    """A few hundred datagrams through both receivers: every one arrives and gets a latency."""
    result = compare(count=300, rate=3_000)
    assert result["dpdk"]["count"] == result["kernel"]["count"] == 300
    assert 0 < result["dpdk"]["p50"] < 1e6 and 0 < result["kernel"]["p50"] < 1e6
