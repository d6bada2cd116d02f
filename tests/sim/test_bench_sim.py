"""Simulator benchmark (opt-in: ``pytest -m bench tests/sim -s``), picows stack (ours) vs websockets (baseline)
side by side in one run:

- orders at saturation (64 requests in flight): acked per wall-second and per CPU-second of the simulator;
- orders open-loop at a fixed rate: ack latency p50/p95/p99/p99.9/max (hdrhistogram) from the scheduled send
  time, so stalls are not hidden (no coordinated omission);
- book messages at saturation: sent per wall-second and per CPU-second of the simulator;
- book messages at a calm rate: one-way latency (receive time minus the simulator's own send time).

The simulator runs as a subprocess; its CPU time (psutil user+sys) is sampled at the start and end of each
measured window, so per-CPU-second figures are measured, not scaled. Each figure is the median of ``REPEAT``
runs (the box is shared and noisy). ``test_bench_smoke`` runs the same code for a fraction of a second so CI
proves it works."""
from __future__ import annotations

import os
import statistics
from typing import Any

import pytest
import uvloop
from sim_bench import book, orders, orders_open_loop

from tickwire.deribit.venue import start_sim

SECONDS = float(os.environ.get("TW_SIM_BENCH_SECONDS", "3"))
REPEAT = int(os.environ.get("TW_SIM_BENCH_REPEAT", "3"))
ORDER_RATE = float(os.environ.get("TW_SIM_BENCH_ORDER_RATE", "4000"))  # open-loop requests/s
BOOK_RATE = 150_000   # flow events/s asked of the simulator: more than it can make, so it saturates
CALM_RATE = 5_000
STACKS = ("picows", "websockets")
PCTS = ("p50", "p95", "p99", "p99.9", "max")


def _fmt(p: dict[str, float]) -> str:
    return " ".join(f"{k}={v:,.0f}us" for k, v in p.items())


NOTHING_MEASURED: dict[str, Any] = {}  # the window closed before any answer arrived


def _measured(row: dict[str, Any]) -> dict[str, Any]:
    assert row is not NOTHING_MEASURED, "nothing arrived within the measuring window"
    return row


def _orders(stack: str, seconds: float, rate: float) -> dict[str, Any]:
    with start_sim(("BTC-PERPETUAL",), rate=0.0, extra=("--no-rate-limits", "--stack", stack)) as venue:
        piped = uvloop.run(orders(venue.url, seconds, window=64, pid=venue.process.pid))
        opened = uvloop.run(orders_open_loop(venue.url, seconds, rate, pid=venue.process.pid))
    if not (piped.count > 0 and opened.count > 0):
        return NOTHING_MEASURED
    return {"sat": piped.rate, "sat_cpu": piped.per_cpu, "sat_share": piped.cpu / piped.seconds,
            "open": opened.rate, "open_cpu": opened.per_cpu, "lat": opened.percentiles_us(),
            "errors": piped.errors + opened.errors}


def _book(stack: str, seconds: float, rate: int, parse: bool = True) -> dict[str, Any]:
    with start_sim(("BTC-PERPETUAL",), rate=float(rate), extra=("--stack", stack)) as venue:
        run = uvloop.run(book(venue.url, seconds, parse=parse, pid=venue.process.pid))
    if not run.received.count > 0:
        return NOTHING_MEASURED
    return {"flow": run.flow_per_s, "sent": run.sent_per_s, "sent_cpu": run.sent_per_cpu,
            "share": run.cpu / run.received.seconds, "got": run.received.rate,
            "lat": run.received.percentiles_us(), "breaks": run.breaks}


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per key, the median over runs (percentile dicts per percentile; counters such as errors summed)."""
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, dict):
            out[key] = {p: statistics.median(r[key][p] for r in runs) for p in value}
        elif key in ("errors", "breaks"):
            out[key] = sum(r[key] for r in runs)
        else:
            out[key] = statistics.median(r[key] for r in runs)
    return out


def _measure(stack: str, seconds: float, repeat: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    return (_median([_measured(_orders(stack, seconds, ORDER_RATE)) for _ in range(repeat)]),
            _median([_measured(_book(stack, seconds, BOOK_RATE, parse=False)) for _ in range(repeat)]),
            _median([_measured(_book(stack, seconds, CALM_RATE)) for _ in range(repeat)]))


def _report(rows: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]], repeat: int) -> None:
    print(f"\n(median of {repeat} runs each)")
    for stack, (o, top, calm) in rows.items():
        print(f"[{stack:10s}] orders at saturation (64 in flight): {o['sat']:,.0f}/s wall, "
              f"{o['sat_cpu']:,.0f} per simulator CPU-second ({o['sat_share']:.0%} of a core)")
        print(f"[{stack:10s}] orders open-loop at {ORDER_RATE:,.0f}/s: got {o['open']:,.0f}/s, "
              f"{o['open_cpu']:,.0f} per CPU-second; ack from scheduled send {_fmt(o['lat'])}; errors {o['errors']}")
        print(f"[{stack:10s}] book at saturation: {top['sent']:,.0f} msgs/s wall, {top['sent_cpu']:,.0f} per "
              f"simulator CPU-second ({top['share']:.0%} of a core); client got {top['got']:,.0f}/s")
        print(f"[{stack:10s}] book at {CALM_RATE:,}/s: one-way {_fmt(calm['lat'])}, chain breaks {calm['breaks']}")
    (o1, b1, c1), (o2, b2, c2) = rows["picows"], rows["websockets"]
    print(f"ratio picows/websockets: orders/CPU-s {o1['sat_cpu'] / o2['sat_cpu']:.2f}x, orders/s wall "
          f"{o1['sat'] / o2['sat']:.2f}x, book msgs/CPU-s {b1['sent_cpu'] / b2['sent_cpu']:.2f}x, book msgs/s wall "
          f"{b1['sent'] / b2['sent']:.2f}x; ack p99 {o2['lat']['p99'] / o1['lat']['p99']:.2f}x lower, "
          f"one-way p50 {c2['lat']['p50'] / c1['lat']['p50']:.2f}x lower")


@pytest.mark.bench
def test_bench_orders_and_book() -> None:
    rows = {stack: _measure(stack, SECONDS, REPEAT) for stack in STACKS}
    _report(rows, REPEAT)
    for o, _top, calm in rows.values():
        assert o["errors"] == 0 and calm["breaks"] == 0


def _until(measure: Any, done: Any, first_s: float = 0.3, last_s: float = 20.0) -> dict[str, Any]:
    """Run ``measure(seconds)`` with a window doubling from ``first_s`` until ``done(row)`` holds or the window
    reached ``last_s``: a busy machine gets a longer window instead of an empty one."""
    seconds = first_s
    while True:
        row = measure(seconds)
        if row is not NOTHING_MEASURED and done(row) or seconds >= last_s:
            return _measured(row)
        seconds *= 2


def test_bench_smoke() -> None:
    o = _until(lambda s: _orders("picows", s, 1000), lambda r: r["sat_cpu"] > 0 and r["open"] > 0)
    assert o["errors"] == 0 and o["lat"]["p50"] > 0 and o["sat_cpu"] > 0 and o["open"] > 0
    b = _until(lambda s: _book("picows", s, 2000), lambda r: r["got"] > 0)
    assert b["breaks"] == 0 and b["sent"] > 0 and b["got"] > 0 and b["lat"]["p50"] > 0
    top = _until(lambda s: _book("picows", s, 20_000, parse=False), lambda r: r["got"] > 0 and r["sent_cpu"] > 0)
    assert top["sent"] > 0 and top["got"] > 0 and top["sent_cpu"] > 0
