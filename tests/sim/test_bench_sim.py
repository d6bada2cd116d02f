"""Simulator benchmark (opt-in: ``pytest -m bench tests/sim``): order requests acked per second and ack latency,
book messages sent per second and one-way market-data latency, picows stack (ours) vs websockets (baseline)
side by side. The simulator runs as a subprocess; the load generator is a picows client in this process.
``test_bench_smoke`` runs the same code for a fraction of a second so CI proves it works."""
from __future__ import annotations

import os

import pytest
import uvloop
from sim_bench import book, orders, start_sim, stop_sim

SECONDS = float(os.environ.get("TW_SIM_BENCH_SECONDS", "5"))
STACKS = ("picows", "websockets")


def _fmt(p: dict[str, float]) -> str:
    return " ".join(f"{k}={v:,.0f}us" for k, v in p.items())


def _orders(stack: str, seconds: float) -> tuple[float, dict[str, float], float, dict[str, float], int]:
    proc, info = start_sim("--rate", "0", "--no-rate-limits", "--stack", stack, "--instruments", "BTC-PERPETUAL")
    try:
        closed = uvloop.run(orders(info["url"], seconds, window=1))
        piped = uvloop.run(orders(info["url"], seconds, window=64))
    finally:
        stop_sim(proc)
    assert closed.count > 0 and piped.count > 0
    return closed.rate, closed.percentiles_us(), piped.rate, piped.percentiles_us(), closed.errors + piped.errors


def _book(stack: str, seconds: float, rate: int) -> tuple[float, float, float, dict[str, float], int]:
    proc, info = start_sim("--rate", str(rate), "--stack", stack, "--instruments", "BTC-PERPETUAL")
    try:
        run = uvloop.run(book(info["url"], seconds))
    finally:
        stop_sim(proc)
    assert run.received.count > 0
    return run.flow_per_s, run.sent_per_s, run.received.rate, run.received.percentiles_us(), run.breaks


@pytest.mark.bench
def test_bench_orders_and_book() -> None:
    rows = {}
    for stack in STACKS:
        rows[stack] = (_orders(stack, SECONDS), _book(stack, SECONDS, 150_000))
    print()
    for stack, ((w1, p1, w64, p64, errors), (flow, sent, got, lat, breaks)) in rows.items():
        print(f"[{stack:10s}] orders acked/s: closed-loop {w1:,.0f} ({_fmt(p1)}); window 64 {w64:,.0f} "
              f"({_fmt(p64)}); errors {errors}")
        print(f"[{stack:10s}] book: flow {flow:,.0f} events/s, sent {sent:,.0f} msgs/s, client got {got:,.0f}/s, "
              f"one-way {_fmt(lat)}, chain breaks {breaks}")
        assert errors == 0 and breaks == 0
    ours, base = rows["picows"], rows["websockets"]
    print(f"ratio picows/websockets: orders closed-loop {ours[0][0] / base[0][0]:.2f}x, window-64 "
          f"{ours[0][2] / base[0][2]:.2f}x, book sent {ours[1][1] / base[1][1]:.2f}x, "
          f"ack p50 {base[0][1]['p50'] / ours[0][1]['p50']:.2f}x lower")


def test_bench_smoke() -> None:
    w1, p1, w64, _p64, errors = _orders("picows", 0.3)
    assert errors == 0 and p1["p50"] > 0
    flow, sent, got, lat, breaks = _book("picows", 0.3, 2000)
    assert breaks == 0 and sent > 0 and got > 0 and lat["p50"] > 0
