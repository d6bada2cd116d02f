"""Benchmark (opt-in, ``-m bench``): backtest throughput, ours vs hftbacktest, side by side in one process.

A synthetic market of 100k messages (synth_market, ~50 messages/s of market time, 20% trades). Three rounds, the
backtesters alternating; each is warmed up (compiled) on the same data first. Reported per run: book events per
second of the backtest loop (ours: the engine and the compiled venue model, after the capture is decoded, which is
what hftbacktest's run is: its input is already decoded), for ours also the capture's decode on its own and pcap to
result. Our quoter runs with the live engine's 1024-slot order table and with a 64-slot one (the demo kernel scans
the table on every call).
"""
from __future__ import annotations

import gc
import statistics
import time

import pytest

import hbt_peer
import synth_market
from tickwire.engine.backtest import Backtest, BacktestConfig

pytestmark = [pytest.mark.bench, pytest.mark.timeout(1800)]
N_MSGS, ROUNDS = 100_000, 3


def _rate(events: int, seconds: list[float]) -> float:
    return events / statistics.median(seconds)


def test_bench_backtest_vs_hftbacktest(tmp_path):
    cap = synth_market.write(tmp_path / "market.pcap", synth_market.messages(N_MSGS, gap_us=20_000))
    data = hbt_peer.to_hbt(hbt_peer.capture_events(cap))
    half = hbt_peer.QUOTE["half_spread"]
    hbt_peer.run_hbt(data, half, 1000)  # compile
    hbt_peer.run_ours(cap, 1000)  # compile (or load) the pass
    quiet = BacktestConfig(cap, "bt_strategies:OneBid")  # one order, then only the book and the kernel
    Backtest(quiet).run()
    ours, small, peer, still, decode = [], [], [], [], []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        hbt_peer.capture_events(cap)  # our replay pipeline alone: read, TCP, WebSocket, JSON decode
        decode.append(time.perf_counter() - t0)
        ours.append(hbt_peer.run_ours(cap, 1000))
        small.append(hbt_peer.run_ours(cap, 1000, order_capacity=64))
        peer.append(hbt_peer.run_hbt(data, half, 1000))
        still.append(Backtest(quiet).run())
        gc.collect()  # each engine and its strategy hold each other (tens of MB each): not left for later
    book = ours[0]["book_events"]
    rows = {
        "quoting, ours (loop)": _rate(book, [r["run_s"] for r in ours]),
        "quoting, ours, 64-slot order table (loop)": _rate(book, [r["run_s"] for r in small]),
        "the capture's decode alone (pcap to events)": _rate(book, decode),
        "quoting, ours (pcap to result)": _rate(book, [r["wall_s"] for r in ours]),
        "quoting, hftbacktest": _rate(book, [r["wall_s"] for r in peer]),
        "one order, ours (loop)": _rate(book, [r.run_s for r in still]),
    }
    print(f"\n{N_MSGS} messages, {book} book events; median of {ROUNDS} rounds")
    print("| run | book events/s |\n| --- | ---: |")
    for name, rate in rows.items():
        print(f"| {name} | {rate:,.0f} |")
    for name in ("quoting, ours (loop)", "quoting, ours, 64-slot order table (loop)"):
        print(f"{name} / hftbacktest = {rows[name] / rows['quoting, hftbacktest']:.2f}")
    print("| | fills | position (lots) | PnL (BTC) | orders |\n| --- | ---: | ---: | ---: | ---: |")
    print(f"| ours | {ours[0]['fills']} | {ours[0]['position_lots']} | {ours[0]['pnl']:.3e} | {ours[0]['orders']} |")
    print(f"| hftbacktest | {peer[0]['fills']} | {peer[0]['position_lots']} | {peer[0]['pnl']:.3e} | |")
    assert all(r["fills"] == ours[0]["fills"] for r in ours + small) and all(r["python_messages"] == 0 for r in ours)
    assert all(r["fills"] == peer[0]["fills"] for r in peer)
    assert ours[0]["fills"] > 0 and peer[0]["fills"] > 0 and still[0].summary()["orders"] == 1
