"""Wire tick-to-trade over the userspace stack (`--stack dpdk`, af_packet on the veth) beside kernel TCP
(`--stack kernel`) on the same veth and bridge, both with the spin driver and the order-load strategy; captured on
the simulator's side of the veth. The benchmark is opt-in; the smoke test checks the measurement itself."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from _engine_run import start_sim
from _utcp_net import management_link, stack_network, stop
from _wire_t2t import WireRun, cpu_plan, wire_run
from tickwire.bench.stats import latency_percentiles_us

pytestmark = [pytest.mark.dpdk, pytest.mark.netns]

STACKS = ("dpdk", "kernel")


def measure(tmp_path: Path, rounds: int, duration_s: int, rate: int) -> dict[str, list[WireRun]]:
    runs: dict[str, list[WireRun]] = {s: [] for s in STACKS}
    with stack_network() as net, tempfile.TemporaryDirectory() as runtime_dir:
        management_link(net)
        sim_cpu, engine_cpu = cpu_plan()
        sim, info = start_sim(net, rate, cpu=sim_cpu)
        try:
            for r in range(rounds):
                for stack in STACKS:
                    runs[stack].append(wire_run(net, info, stack, duration_s, runtime_dir,
                                                tmp_path / f"{stack}-{r}.pcap", cpu=engine_cpu))
        finally:
            stop(sim)
    return runs


@pytest.mark.bench
@pytest.mark.timeout(3600)
def test_bench_wire_tick_to_trade_dpdk_vs_kernel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = measure(tmp_path, rounds=2, duration_s=30, rate=200)
    stats = {s: latency_percentiles_us([x for run in rs for x in run.t2t.samples_ns]) for s, rs in runs.items()}
    with capsys.disabled():
        print("\nwire tick-to-trade (book packet -> order packet on the simulator's side of the veth), spin driver, "
              "2 interleaved rounds x 30 s")
        for s, st in stats.items():
            print(f"  --stack {s:<6} p50 {st['p50']:8.1f} us  p99 {st['p99']:8.1f} us  p99.9 {st['p99.9']:8.1f} us  "
                  f"(n={st['count']})")
        print(f"  p50 ratio dpdk/kernel {stats['dpdk']['p50'] / stats['kernel']['p50']:.2f}, "
              f"p99 ratio {stats['dpdk']['p99'] / stats['kernel']['p99']:.2f}")
        for s, rs in runs.items():  # the engine's own stamps: how much of it is inside the process
            rows = {r["name"]: r for r in rs[-1].result["hot_path_stages_us"]}
            inside = rows["tick to trade (recv -> sent)"]
            print(f"  --stack {s:<6} in the engine (last round): recv -> sent p50 {inside['p50_us']:.1f} us, "
                  f"p99 {inside['p99_us']:.1f} us; driver {rs[-1].result['driver']}")
    assert all(st["count"] > 0 for st in stats.values())


def test_wire_tick_to_trade_finds_matched_pairs(tmp_path: Path) -> None:
    """A short run per stack: every order the engine says it sent is on the wire, and each is matched to the book
    packet before it (a positive delay, shorter than the run)."""
    runs = measure(tmp_path, rounds=1, duration_s=8, rate=50)
    for stack, (run,) in runs.items():
        c = run.result["counters"]
        assert run.result["driver"].startswith("spin"), (stack, run.result["driver"])
        sent = c["orders_sent"] + c["cancels_sent"]
        assert sent > 0 and run.orders_on_wire == sent, (stack, run.orders_on_wire, c)
        samples = run.t2t.samples_ns
        assert samples.size == run.t2t.by_latest + run.t2t.by_change_id > 0, stack
        assert run.t2t.no_trigger <= 1, stack  # only an order before the first book update may have none
        assert (samples > 0).all() and (samples < 8e9).all(), stack
