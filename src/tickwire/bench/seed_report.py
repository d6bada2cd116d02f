"""The seed report: "Before Optimization" / "After Optimization" tables, ratios, the seed's published "after"
figures, counters, and the plots (CDFs, latency over time, RSS over time)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tickwire.bench.seed import ROWS, SeedResult, rss_growth
from tickwire.engine.probes import Summary

#: the seed report's "After Optimization" figures: (average, 95th %, max) in µs
SEED_AFTER_US: dict[str, tuple[float, float, float]] = {
    "Order Placement": (850.0, 1200.0, 1800.0),
    "Market Data": (700.0, 950.0, 1400.0),
    "Position Query": (800.0, 1100.0, 1600.0),
    "Memory Alloc": (0.200, 0.300, 0.450),
    "Thread Switch": (0.150, 0.250, 0.400),
}
_COLS = (("Average", "avg"), ("95th %", "p95"), ("Max", "max"), ("p50", "p50"), ("p99", "p99"),
         ("p99.9", "p999"))


def fmt_us(us: float) -> str:
    """A latency in the unit that reads best (ns below 1 µs, ms from 1 ms)."""
    if us < 1.0:
        return f"{us * 1e3:.0f} ns"
    if us < 1000.0:
        return f"{us:.0f} µs"
    return f"{us / 1e3:.2f} ms"


def _table(title: str, rows: dict[str, Summary]) -> list[str]:
    out = [f"## {title}", "", "| Metric | " + " | ".join(c for c, _ in _COLS) + " | count |",
           "|---|" + "---:|" * (len(_COLS) + 1)]
    for name in ROWS:
        s = rows.get(name)
        if s is None or s.count == 0:
            out.append(f"| {name} | " + " | ".join("-" for _ in _COLS) + " | 0 |")
            continue
        out.append(f"| {name} | " + " | ".join(fmt_us(getattr(s, k)) for _, k in _COLS) + f" | {s.count:,} |")
    return out + [""]


def _ratios(result: SeedResult) -> list[str]:
    out = ["## After / Before (below 1 is faster)", "", "| Metric | " + " | ".join(c for c, _ in _COLS) + " |",
           "|---|" + "---:|" * len(_COLS)]
    for name in ROWS:
        a, b = result.after.rows.get(name), result.before.rows.get(name)
        cells = []
        for _, k in _COLS:
            den = getattr(b, k) if b else 0.0
            cells.append(f"{getattr(a, k) / den:.3f}" if a and den else "-")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out + [""]


def _seed_table(result: SeedResult) -> list[str]:
    out = ["## The seed's published \"After Optimization\" figures, and ours", "",
           "| Metric | seed Average | seed 95th % | seed Max | ours Average | ours 95th % | ours Max | all three better |",
           "|---|---:|---:|---:|---:|---:|---:|---|"]
    for name in ROWS:
        seed = SEED_AFTER_US[name]
        s = result.after.rows.get(name)
        ours = (s.avg, s.p95, s.max) if s and s.count else None
        cells = [fmt_us(v) for v in seed] + ([fmt_us(v) for v in ours] if ours else ["-"] * 3)
        verdict = "-" if ours is None else ("yes" if all(o < t for o, t in zip(ours, seed)) else
                                            "no (" + ", ".join(c for c, o, t in zip(("avg", "p95", "max"), ours, seed)
                                                               if o >= t) + ")")
        out.append(f"| {name} | " + " | ".join(cells) + f" | {verdict} |")
    return out + [""]


def markdown(result: SeedResult) -> str:
    """The whole report as markdown."""
    st = result.settings
    partial = f" (PARTIAL: stopped after the {st['partial']})" if st.get("partial") else ""
    lines = [f"# tickwire bench --seed: the seed report, measured{partial}", "",
             f"{st['duration_s_per_side']:g} s per side in {st['rounds']} round(s) of "
             f"{', '.join(st.get('sides', ('after', 'before')))}, "
             f"open-loop orders at {st['order_rate_per_s']:g}/s (95% limit IOC, 5% one-lot market orders on each instrument in turn, alternating sides), "
             f"{st['book_rate_per_s']:g} book msgs/s over {', '.join(st['instruments'])} (plus the changes our "
             f"market orders make), positions every {st['poll_ms']} ms; simulator tier `{st['sim_tier']}` on CPU "
             f"{st['cpus']['simulator']}, tickwire on CPU {st['cpus']['after']}. Host: {st['host_cpus']} CPUs, "
             f"load average at the end {st['host_loadavg_end'][0]:.1f}.", "",
             "Before = websockets + json + dict books + queue.Queue handoff + Python allocation, default socket "
             "options, unpinned. After = tickwire: compiled path, latency socket profile, pinned, pool, ring.", ""]
    lines += _table("Before Optimization", result.before.rows)
    lines += _table("After Optimization", result.after.rows)
    lines += _ratios(result)
    lines += _seed_table(result)
    lines += ["## Orders and refusals", "", "| counter | before | after |", "|---|---:|---:|"]
    keys = ("orders_scheduled", "orders_sent", "orders_answered", "orders_lost", "orders_skipped_no_book",
            "orders_priced_from_last_touch", "orders_refused_locally", "answers_unmatched", "md_unjoined")
    for k in keys:
        lines.append(f"| {k} | {result.before.counters.get(k, 0):,} | {result.after.counters.get(k, 0):,} |")
    refusals = ", ".join(f"{code}: {n}" for code, n in sorted(result.before.refusals.items())) or "none"
    lines.append(f"\nVenue refusals (before), by error code: {refusals}.")
    ec = result.after.counters
    lines.append(f"Venue refusals (after, the engine's counters): rejects {ec.get('engine_rejects', 0)}, 10028 "
                 f"too_many_requests (orders and other requests) {ec.get('engine_rate_limited', 0)}. Engine: "
                 f"risk_refused {ec.get('engine_risk_refused', 0)}, duplicates "
                 f"{ec.get('engine_duplicates', 0)}, resyncs {ec.get('engine_resyncs', 0)}, reconnects "
                 f"{ec.get('engine_reconnects', 0)}.")
    growth = rss_growth(result.resources)
    lines += ["", "## Resources", "", "RSS growth from 30 s after its load started to the end of its load, per "
              "process (the simulator: from 30 s after it started): " +
              ", ".join(f"{who} {g:+.2f}%" for who, g in sorted(growth.items())) + "."]
    lines.append("")
    lines += _gc_line(result)
    m = result.micro
    if not m:  # a partial report: the micro rows run at the end
        return "\n".join(lines) + "\n"
    lines += ["", "## Micro rows", "",
              f"Memory Alloc: one TSC stamp pair per batch of {m['alloc_batch']} operations, net of the stamp "
              f"pair's median ({m['alloc_timer_median_ns']}), per operation; exact means pool "
              f"{m['alloc_net_mean_ns']['pool']:.2f} ns, dict {m['alloc_net_mean_ns']['dict']:.1f} ns, object "
              f"{m['alloc_net_mean_ns']['object']:.1f} ns, np.zeros {m['alloc_net_mean_ns']['np.zeros']:.1f} ns. "
              f"The pool stamped one operation at a time (raw, stamp pair included): p50 "
              f"{fmt_us(m['alloc_per_op_raw_us']['p50_us'])}, average {fmt_us(m['alloc_per_op_raw_us']['avg_us'])}, "
              f"max {fmt_us(m['alloc_per_op_raw_us']['max_us'])}.",
              f"Thread Switch on CPUs {m['handoff_cpus']}: p50 ring {fmt_us(m['handoff_us']['ring']['p50_us'])}, "
              f"queue.Queue {fmt_us(m['handoff_us']['queue.Queue']['p50_us'])}, multiprocessing.Queue "
              f"{fmt_us(m['handoff_us']['multiprocessing.Queue']['p50_us'])}; lost {m['handoff_lost']}, ring "
              f"overruns (full-ring refusals, retried) {m['ring_overruns']}."]
    return "\n".join(lines) + "\n"


def _gc_line(result: SeedResult) -> list[str]:
    """The Python collector during each client's load: collections, pauses of 1 ms or more, the longest."""
    parts = []
    for side in ("after", "before"):
        c = result.side(side).counters
        if "gc2_collections" not in c:
            continue
        gens = "; ".join(f"gen {g}: {c[f'gc{g}_collections']:,} collections, {c[f'gc{g}_over_1ms']:,} of 1 ms "
                         f"or more, longest {fmt_us(c[f'gc{g}_max_us'])}, {c.get(f'gc{g}_objects', 0):,} objects "
                         "at the end" for g in range(3))
        parts.append(f"{side}: {gens}.")
    return ["Python collector during the load (longest pause: of any one client process): " + " ".join(parts)] \
        if parts else []


def plot(result: SeedResult, out: Path) -> list[Path]:
    """cdf.png (one panel per row), latency_over_time.png (p50/p99 per 10 s window), rss.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = [out / "cdf.png", out / "latency_over_time.png", out / "rss.png"]
    fig, axes = plt.subplots(1, len(ROWS), figsize=(4 * len(ROWS), 3.6), squeeze=False)
    for ax, name in zip(axes[0], ROWS):
        for side in ("before", "after"):
            pts = result.side(side).cdf.get(name) or []
            if pts:
                ax.plot([max(x, 1e-3) for x, _ in pts], [y for _, y in pts], label=side)
        ax.set_xscale("log")
        ax.set_title(name)
        ax.set_xlabel("µs")
        ax.grid(True, which="both", alpha=0.3)
        if ax.lines:  # a row not measured (a partial report has no micro rows) gets an empty panel
            ax.legend()
    _save(plt, fig, paths[0])
    net = ROWS[:3]
    fig, axes = plt.subplots(1, len(net), figsize=(5 * len(net), 3.6), squeeze=False)
    for ax, name in zip(axes[0], net):
        for side in ("before", "after"):
            w = result.side(side).windows.get(name) or []
            if w:
                ax.plot([t for t, *_ in w], [p50 for _, _, p50, _ in w], ".", label=f"{side} p50")
                ax.plot([t for t, *_ in w], [p99 for *_, p99 in w], "x", label=f"{side} p99")
        ax.set_yscale("log")
        ax.set_title(f"{name} per 10 s window")
        ax.set_xlabel("run time, s")
        ax.set_ylabel("µs")
        if ax.lines:
            ax.legend(fontsize=7)
    _save(plt, fig, paths[1])
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for who in sorted({r["who"] for r in result.resources}):
        rows = [r for r in result.resources if r["who"] == who]
        ax.plot([r["t"] for r in rows], [r["rss_bytes"] / 2**20 for r in rows], label=who)
    ax.set_xlabel("run time, s")
    ax.set_ylabel("RSS, MiB")
    ax.legend(fontsize=7)
    _save(plt, fig, paths[2])
    return paths


def _save(plt: Any, fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write(result: SeedResult, out: Path) -> list[Path]:
    """seed.md, seed.json, resources.json and the plots in ``out`` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    texts = {"seed.md": markdown(result), "seed.json": json.dumps(result.as_dict(), indent=2),
             "resources.json": json.dumps(result.resources)}
    for name, text in texts.items():
        (out / name).write_text(text)
    return [out / name for name in texts] + plot(result, out)
