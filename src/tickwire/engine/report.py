"""Printing a run's figures: the latency table (Order Placement, Market Data, Position Query), stages, counters, PnL."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from tickwire.engine.probes import Summary


def latency_table(rows: list[Summary], title: str = "Latency (µs)") -> Table:
    """Order Placement / Market Data / Position Query with avg, p50, p95, p99, max (and the sample count)."""
    table = Table(title=title)
    for col in ("metric", "count", "avg", "p50", "p95", "p99", "max"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for s in rows:
        table.add_row(s.name, str(s.count), *(f"{v:,.1f}" for v in (s.avg, s.p50, s.p95, s.p99, s.max)))
    return table


def print_run(result, console: Console | None = None) -> None:
    """The whole human-readable report of a `tickwire run`."""
    if console is None:
        console = Console()
        console = Console(width=max(console.width, 110))  # the positions table needs the room
    if result.driver:
        console.print(f"hot path driver: {result.driver}")
    if result.header:
        console.print(result.header)
    if result.warm_up:
        console.print(result.warm_up["summary"])
    console.print(latency_table(result.latency))
    console.print(latency_table(result.stages, "Hot path stages, engine side (µs)"))
    if result.wire:
        console.print(latency_table(result.wire, "On the wire, from the run's capture on lo (µs)"))
        console.print("wire matching: " + ", ".join(f"{k} {v}" for k, v in result.wire_counts.items()))
    if result.wire_note:
        console.print(result.wire_note)
    counters = Table(title="Counters")
    counters.add_column("counter")
    counters.add_column("value", justify="right")
    for name, value in result.counters.items():
        counters.add_row(name, str(value))
    console.print(counters)
    pnl = Table(title="Positions (inverse: size in USD, PnL in the settlement coin)")
    for col in ("instrument", "size", "venue size", "avg price", "realized", "floating", "fees", "fills"):
        pnl.add_column(col, justify="left" if col == "instrument" else "right")
    for name, p in result.positions.items():
        venue = result.venue_positions.get(name)
        pnl.add_row(name, f"{p['size']:g}", "-" if venue is None else f"{venue:g}", f"{p['average_price']:.2f}",
                    f"{p['realized_pnl']:.3e}", f"{p['floating_pnl']:.3e}", f"{p['fees']:.3e}", str(p["fills"]))
    console.print(pnl)
    left = result.open_orders_left
    if result.gc:
        console.print(f"GC while trading: automatic collection off; {result.gc['safe_point_collections']:g} "
                      f"young-generation collections at slow-path safe points, longest "
                      f"{result.gc['max_pause_us']:,.0f} µs")
    console.print(f"run {result.duration_s:.1f}s; open orders left on the venue: {left if left >= 0 else 'unknown'}"
                  + (f"; kill switch fired: {', '.join(result.kill_reasons)}" if result.kill_reasons else ""))
