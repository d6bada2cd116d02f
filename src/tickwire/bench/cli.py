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
    driver: str = typer.Option("async", "--driver", help="our engine's driver(s), comma-separated (each runs "
                               "in turn beside the baseline)"),
    pin: bool = typer.Option(True, "--pin/--no-pin", help="clients on the engine CPU of the core plan, the "
                             "simulator and the capture on the others (--seed: simulator and tickwire on two CPUs)"),
    capture: bool = typer.Option(True, "--capture/--no-capture", help="record the run on lo for the wire rows "
                                 "(tick-to-trade on the wire, venue part / our part of each round trip)"),
    out: Path = typer.Option(Path("report"), help="directory for report.md, latency.png, bench.json"),
    as_json: bool = typer.Option(False, "--json", help="print the figures as JSON"),
    seed: bool = typer.Option(False, "--seed", help="the seed report: Before/After tables of all five rows at "
                              "the seed's load (open loop; --duration per side, e.g. 10m or 1h)"),
    order_rate: float = typer.Option(1000.0, "--order-rate", help="--seed: scheduled orders per second"),
    poll_ms: int = typer.Option(100, "--poll-ms", help="--seed: position query period"),
    rounds: int = typer.Option(0, "--rounds", help="--seed: after/before turns (0: one per 5 minutes, max 6)"),
    rt_priority: int = typer.Option(0, "--rt-priority", help="--seed: SCHED_FIFO priority of the ring's "
                                    "processes (Thread Switch) and of the Memory Alloc measurement (0: normal "
                                    "scheduling)"),
    sides: str = typer.Option("both", "--sides", help="--seed: which clients run the load: after, before or "
                              "both (the micro rows always measure both)"),
) -> None:
    """Run the benchmark scenarios against the embedded simulator; ours vs a plain websockets+json client."""
    if seed:
        from tickwire.bench.seed_cli import seed_bench

        seed_bench(duration, rate, order_rate, poll_ms, rounds, out, as_json, pin, rt_priority, sides)
        return
    from tickwire.bench.report import markdown, write
    from tickwire.bench.scenarios import run_bench
    from tickwire.config import ConfigError, parse_duration

    try:
        result = run_bench(scenario, parse_duration(duration), rate, orders_per_s, socket_profile=socket_profile,
                           drivers=tuple(d.strip() for d in driver.split(",") if d.strip()), capture=capture,
                           pin=pin)
    except (ValueError, ConfigError) as exc:
        typer.echo(f"tickwire bench: {exc}", err=True)
        raise typer.Exit(2) from None
    files = write(result, out)
    typer.echo(json.dumps(result.as_dict(), indent=2) if as_json else markdown(result))
    typer.echo(f"written: {', '.join(str(f) for f in files)}", err=True)
