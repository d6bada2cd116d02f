"""Files of a backtest run: summary.json, fills.csv, and equity.png (equity and position over time)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from tickwire.engine.backtest import BacktestResult


def write_outputs(result: BacktestResult, out: Path) -> list[Path]:
    """Write the run's files into ``out`` (created); returns their paths. Same result -> same files."""
    out.mkdir(parents=True, exist_ok=True)
    summary = out / "summary.json"
    summary.write_text(json.dumps(result.summary(), indent=2, sort_keys=True) + "\n")
    fills = out / "fills.csv"
    with fills.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts_ns", "order_id", "side", "price_ticks", "lots", "maker"])
        for row in result.fills:
            w.writerow([row["ts_ns"], row["order_id"], row["side"], row["price"], row["amount"], int(row["maker"])])
    return [summary, fills, plot_equity(result, out / "equity.png")]


def plot_equity(result: BacktestResult, path: Path) -> Path:
    """Equity (settlement coin) and position (lots) after each fill, against capture time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (eq, pos) = plt.subplots(2, 1, sharex=True, figsize=(8, 5))
    if result.curve:
        t0 = result.curve[0][0]
        ts = [(t - t0) / 1e9 for t, _, _ in result.curve]
        eq.step(ts, [e for _, _, e in result.curve], where="post")
        pos.step(ts, [p for _, p, _ in result.curve], where="post", color="tab:orange")
    eq.set_ylabel("equity (coin)")
    pos.set_ylabel("position (lots)")
    pos.set_xlabel("seconds since the first fill")
    eq.set_title(f"backtest {result.instrument}: {len(result.fills)} fills, PnL {result.pnl:.3g}")
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(fig)
    return path
