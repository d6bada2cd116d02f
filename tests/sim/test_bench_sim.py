"""Simulator benchmark (opt-in: ``pytest -m bench tests/sim -s``): order requests acked per second and ack latency,
book messages sent per second and one-way market-data latency, picows stack (ours) vs websockets (baseline)
side by side. The simulator runs as a subprocess; the load generator is a picows client in this process. The
simulator's CPU use during each run is measured too (psutil), so a rate can be read per core of simulator time.
``test_bench_smoke`` runs the same code for a fraction of a second so CI proves it works."""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psutil
import pytest
import uvloop
from sim_bench import book, orders, start_sim, stop_sim

SECONDS = float(os.environ.get("TW_SIM_BENCH_SECONDS", "5"))
STACKS = ("picows", "websockets")
T = TypeVar("T")


def _fmt(p: dict[str, float]) -> str:
    return " ".join(f"{k}={v:,.0f}us" for k, v in p.items())


def _measured(pid: int, run: Callable[[], T]) -> tuple[T, float]:
    """Run ``run`` and return its result and the share of one core the simulator process used meanwhile."""
    proc = psutil.Process(pid)
    c0, w0 = sum(proc.cpu_times()[:2]), time.perf_counter()
    result = run()
    c1, w1 = sum(proc.cpu_times()[:2]), time.perf_counter()
    return result, (c1 - c0) / (w1 - w0)


def _orders(stack: str, seconds: float) -> dict[str, Any]:
    proc, info = start_sim("--rate", "0", "--no-rate-limits", "--stack", stack, "--instruments", "BTC-PERPETUAL")
    try:
        closed = uvloop.run(orders(info["url"], seconds, window=1))
        piped, cpu = _measured(proc.pid, lambda: uvloop.run(orders(info["url"], seconds, window=64)))
    finally:
        stop_sim(proc)
    assert closed.count > 0 and piped.count > 0
    return {"w1": closed.rate, "p_w1": closed.percentiles_us(), "w64": piped.rate, "p_w64": piped.percentiles_us(),
            "cpu": cpu, "errors": closed.errors + piped.errors}


def _book(stack: str, seconds: float, rate: int, parse: bool = True) -> dict[str, Any]:
    proc, info = start_sim("--rate", str(rate), "--stack", stack, "--instruments", "BTC-PERPETUAL")
    try:
        run, cpu = _measured(proc.pid, lambda: uvloop.run(book(info["url"], seconds, parse=parse)))
    finally:
        stop_sim(proc)
    assert run.received.count > 0
    return {"flow": run.flow_per_s, "sent": run.sent_per_s, "got": run.received.rate,
            "lat": run.received.percentiles_us(), "breaks": run.breaks, "cpu": cpu}


@pytest.mark.bench
def test_bench_orders_and_book() -> None:
    rows = {stack: (_orders(stack, SECONDS), _book(stack, SECONDS, 150_000, parse=False),
                    _book(stack, SECONDS, 5_000))
            for stack in STACKS}
    print()
    for stack, (o, top, calm) in rows.items():
        print(f"[{stack:10s}] orders acked/s closed-loop {o['w1']:,.0f} (ack {_fmt(o['p_w1'])})")
        print(f"[{stack:10s}] orders acked/s window-64   {o['w64']:,.0f} at {o['cpu']:.0%} of a core "
              f"(= {o['w64'] / max(o['cpu'], 1e-9):,.0f} per simulator CPU-second; ack {_fmt(o['p_w64'])}); "
              f"errors {o['errors']}")
        print(f"[{stack:10s}] book at saturation: {top['sent']:,.0f} msgs/s sent at {top['cpu']:.0%} of a core "
              f"(= {top['sent'] / max(top['cpu'], 1e-9):,.0f} per simulator CPU-second), client got "
              f"{top['got']:,.0f}/s")
        print(f"[{stack:10s}] book at 5k/s: one-way {_fmt(calm['lat'])}, chain breaks {calm['breaks']}")
        assert o["errors"] == 0 and calm["breaks"] == 0
    ours, base = rows["picows"], rows["websockets"]
    print(f"ratio picows/websockets: orders closed-loop {ours[0]['w1'] / base[0]['w1']:.2f}x, window-64 "
          f"{ours[0]['w64'] / base[0]['w64']:.2f}x, book sent {ours[1]['sent'] / base[1]['sent']:.2f}x, "
          f"ack p50 {base[0]['p_w1']['p50'] / ours[0]['p_w1']['p50']:.2f}x lower, one-way p50 "
          f"{base[2]['lat']['p50'] / ours[2]['lat']['p50']:.2f}x lower")


def test_bench_smoke() -> None:
    o = _orders("picows", 0.3)
    assert o["errors"] == 0 and o["p_w1"]["p50"] > 0
    b = _book("picows", 0.3, 2000)
    assert b["breaks"] == 0 and b["sent"] > 0 and b["got"] > 0 and b["lat"]["p50"] > 0
    top = _book("picows", 0.3, 20_000, parse=False)
    assert top["sent"] > 0 and top["got"] > 0
