"""Benchmark (opt-in, ``-m bench``): backtest throughput, ours vs hftbacktest, side by side in one process.

A synthetic market of 200k messages (synth_market, ~50 messages/s of market time, 20% trades). Three rounds, the
two backtesters alternating; each is warmed up (compiled) on the same data first. Reported per side: book events
per second of the backtest loop (ours: the engine and venue model, after the capture is decoded, which is what
hftbacktest's run is: its input is already decoded) and, for ours, end to end from the pcap.
"""
from __future__ import annotations

import statistics

import pytest

import hbt_peer
import synth_market
from tickwire.engine.backtest import Backtest, BacktestConfig

pytestmark = [pytest.mark.bench, pytest.mark.timeout(1800)]
N_MSGS, ROUNDS = 200_000, 3


def _rate(events: int, seconds: list[float]) -> float:
    return events / statistics.median(seconds)


def test_bench_backtest_vs_hftbacktest(tmp_path):
    cap = synth_market.write(tmp_path / "market.pcap", synth_market.messages(N_MSGS, gap_us=20_000))
    data = hbt_peer.to_hbt(hbt_peer.capture_events(cap))
    half = hbt_peer.QUOTE["half_spread"]
    hbt_peer.run_hbt(data, half, 1000)  # compile
    quiet = BacktestConfig(cap, "bt_strategies:OneBid")  # one order, then only the book and the kernel
    Backtest(quiet).run()  # compile
    ours, peer, still = [], [], []
    for _ in range(ROUNDS):
        ours.append(hbt_peer.run_ours(cap, 1000))
        peer.append(hbt_peer.run_hbt(data, half, 1000))
        still.append(Backtest(quiet).run())
    book = ours[0]["book_events"]
    rows = {
        "quoting, ours (loop)": _rate(book, [r["run_s"] for r in ours]),
        "quoting, ours (pcap to result)": _rate(book, [r["wall_s"] for r in ours]),
        "quoting, hftbacktest": _rate(book, [r["wall_s"] for r in peer]),
        "one order, ours (loop)": _rate(book, [r.run_s for r in still]),
        "one order, ours (pcap to result)": _rate(book, [r.wall_s for r in still]),
    }
    print(f"\n{N_MSGS} messages, {book} book events; median of {ROUNDS} rounds")
    print("| run | book events/s |\n| --- | ---: |")
    for name, rate in rows.items():
        print(f"| {name} | {rate:,.0f} |")
    ratio = rows["quoting, ours (loop)"] / rows["quoting, hftbacktest"]
    print(f"quoting: ours / hftbacktest = {ratio:.3f}; python messages {ours[0]['python_messages']} of {N_MSGS}")
    print("| | fills | position (lots) | PnL (BTC) | orders |\n| --- | ---: | ---: | ---: | ---: |")
    print(f"| ours | {ours[0]['fills']} | {ours[0]['position_lots']} | {ours[0]['pnl']:.3e} | {ours[0]['orders']} |")
    print(f"| hftbacktest | {peer[0]['fills']} | {peer[0]['position_lots']} | {peer[0]['pnl']:.3e} | |")
    assert all(r["fills"] == ours[0]["fills"] for r in ours) and all(r["fills"] == peer[0]["fills"] for r in peer)
    assert ours[0]["fills"] > 0 and peer[0]["fills"] > 0 and still[0].summary()["orders"] == 1
