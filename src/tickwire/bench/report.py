"""Benchmark reports: a markdown table (ours vs baseline, percentiles, ratios) and a PNG of the distributions."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tickwire.bench.scenarios import BASELINE, BenchResult
from tickwire.md.wire import WIRE_ROWS

_COLS = ("count", "avg", "p50", "p95", "p99", "p999", "max")


def markdown(result: BenchResult) -> str:
    """The report as markdown (µs; ratio = ours / baseline, below 1 is better; the goal is p50 <= 0.5)."""
    lines = ["# tickwire bench: ours vs baseline (websockets + json + dict book + Python strategy)", "",
             f"Simulator book flow {result.rate:g} msgs/s, order budget {result.orders_per_s:g}/s, "
             f"{result.duration_s:g} s per client, same simulator, same run; our socket profile "
             f"`{result.socket_profile}`. Latencies in µs.", "",
             "| scenario | client | " + " | ".join(_COLS) + " |", "|---|---|" + "---:|" * len(_COLS)]
    for c in result.comparisons:
        for who, s in (("ours", c.ours), ("baseline", c.baseline)):
            cells = [str(s.count)] + [f"{getattr(s, k):,.1f}" for k in _COLS[1:]]
            lines.append(f"| {c.scenario} ({c.ours.name}) | {who} | " + " | ".join(cells) + " |")
    lines += ["", "| scenario | ratio p50 | ratio p99 | goal p50 <= 0.5 |", "|---|---:|---:|---|"]
    for c in result.comparisons:
        lines.append(f"| {c.scenario} | {c.ratio_p50:.3f} | {c.ratio_p99:.3f} | "
                     f"{'met' if c.ratio_p50 <= 0.5 else 'not met'} |")
    return "\n".join(lines + before_after(result)) + "\n"


def before_after(result: BenchResult) -> list[str]:
    """Every client side by side (our drivers, the baseline), p50 / p99 in µs: the seed rows, then the wire rows
    from the run's capture (tick-to-trade on the wire; each round trip split into the venue's part and the
    client's own), and the ratios of the wire rows (ours / baseline)."""
    if not result.clients:
        return []
    names = list(result.clients)
    rows = list(dict.fromkeys(row for c in names for row in result.clients[c]))
    lines = ["", "## Before / after: p50 / p99 (µs), one run, same simulator", "",
             "| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for row in rows:
        cells = []
        for c in names:
            s = result.clients[c].get(row)
            cells.append(f"{s.p50:,.1f} / {s.p99:,.1f} (n={s.count})" if s is not None and s.count else "-")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    base = result.clients.get(BASELINE, {})
    ours = [c for c in names if c.startswith("ours")]
    if ours and any(row in base for row in WIRE_ROWS):
        lines += ["", "| wire row | " + " | ".join(f"{c} / baseline p50" for c in ours) + " |",
                  "|---|" + "---:|" * len(ours)]
        for row in WIRE_ROWS:
            b = base.get(row)
            cells = []
            for c in ours:
                o = result.clients[c].get(row)
                ok = o is not None and b is not None and o.count and b.count and b.p50 > 0
                cells.append(f"{o.p50 / b.p50:.3f}" if ok else "-")
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
    lines += [""] + [f"- {n}" for n in result.notes]
    for c, counts in result.wire_counts.items():
        lines.append(f"- wire matching, {c}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return lines


def plot(result: BenchResult, path: Path) -> None:
    """One panel per scenario: the latency CDFs of ours and the baseline (log x)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(result.comparisons)
    fig, axes = plt.subplots(1, n, figsize=(5 * n, 4), squeeze=False)
    for ax, c in zip(axes[0], result.comparisons):
        for label, ns in (("ours", c.ours_ns), ("baseline", c.baseline_ns)):
            us = np.sort(np.asarray(ns, float)[np.asarray(ns, float) > 0]) / 1e3
            if us.size:
                ax.plot(us, np.arange(1, us.size + 1) / us.size, label=f"{label} (p50 {np.median(us):.0f} µs)")
        ax.set_xscale("log")
        ax.set_title(f"{c.scenario}: {c.ours.name}")
        ax.set_xlabel("µs")
        ax.set_ylabel("fraction")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(result: BenchResult, out: Path) -> list[Path]:
    """report.md, latency.png and bench.json in ``out`` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    md, png, js = out / "report.md", out / "latency.png", out / "bench.json"
    md.write_text(markdown(result))
    plot(result, png)
    js.write_text(json.dumps(result.as_dict(), indent=2))
    return [md, png, js]
