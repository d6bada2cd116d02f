"""``tickwire bench``: the order/market-data/position scenarios, ours vs the baseline client, with a report. Heavy imports inside."""
from __future__ import annotations

import json
from pathlib import Path

import typer


def bench(
    scenario: str = typer.Option("all", help="orders, marketdata, positions or all"),
    duration: str = typer.Option("20s", help="per client, e.g. 20s, 1m"),
    rate: float = typer.Option(100.0, help="simulator book messages per second"),
    orders_per_s: float = typer.Option(20.0, "--orders-per-s", help="order request budget of both clients"),
    socket_profile: str = typer.Option("latency", "--socket-profile",
                                       help="tuning-catalogue profile of the engine's socket (latency, baseline)"),
    out: Path = typer.Option(Path("report"), help="directory for report.md, latency.png, bench.json"),
    as_json: bool = typer.Option(False, "--json", help="print the figures as JSON"),
) -> None:
    """Run the benchmark scenarios against the embedded simulator; ours vs a plain websockets+json client."""
    from tickwire.bench.report import markdown, write
    from tickwire.bench.scenarios import run_bench
    from tickwire.config import ConfigError, parse_duration

    try:
        result = run_bench(scenario, parse_duration(duration), rate, orders_per_s, socket_profile=socket_profile)
    except (ValueError, ConfigError) as exc:
        typer.echo(f"tickwire bench: {exc}", err=True)
        raise typer.Exit(2) from None
    files = write(result, out)
    typer.echo(json.dumps(result.as_dict(), indent=2) if as_json else markdown(result))
    typer.echo(f"written: {', '.join(str(f) for f in files)}", err=True)
