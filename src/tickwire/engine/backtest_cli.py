"""``tickwire backtest``: argument parsing and the report (table, JSON, files). The engine loads inside."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def _fees(spec: str) -> tuple[float, float]:
    """``maker,taker`` as fractions (e.g. ``-0.0001,0.0005``)."""
    try:
        maker, taker = (float(x) for x in spec.split(","))
    except ValueError:
        raise typer.BadParameter(f"--fees {spec!r}: expected MAKER,TAKER, e.g. 0,0.0005") from None
    if not all(-0.01 <= f <= 0.01 for f in (maker, taker)):
        raise typer.BadParameter(f"--fees {spec!r}: fees must be within [-1%, 1%]")
    return maker, taker


def _params(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise typer.BadParameter(f"--param {item!r}: expected NAME=NUMBER") from None
        if not sep or not key.strip():
            raise typer.BadParameter(f"--param {item!r}: expected NAME=NUMBER")
    return out


def backtest(
    capture: Path = typer.Argument(..., help="pcap/pcapng of a Deribit WebSocket session (tickwire record) or "
                                   "of Deribit's multicast SBE feed"),
    strategy: str = typer.Option(..., help="package.module:Name (either tier)"),
    latency: str = typer.Option("constant:1000", help="order latency each way: constant:MICROSECONDS or "
                                "measured:FILE (round trips, JSON; see README)"),
    queue: str = typer.Option("riskaverse", help="queue model: riskaverse or prob"),
    fees: str = typer.Option("0,0.0005", help="maker,taker fee fractions (negative: rebate)"),
    post_only: str = typer.Option("reprice", help="a crossing post-only order: reprice (one tick inside, as "
                                  "Deribit does) or reject (Deribit's reject_post_only, GTX elsewhere)"),
    instrument: Optional[str] = typer.Option(None, help="instrument to trade (default: first with a snapshot)"),
    feed: str = typer.Option("auto", help="the capture's market data: ws, sbe or auto (the first to bring a book "
                             "snapshot)"),
    param: list[str] = typer.Option([], "--param", help="strategy parameter NAME=NUMBER (repeatable)"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
    out: Optional[Path] = typer.Option(None, help="directory for summary.json, fills.csv and equity.png"),
) -> None:
    """Replay a capture through the live engine's compiled pass (same kernel, risk and encoder) against a venue
    model with order latency and queue position; print PnL, fills, counts and the fill ratio."""
    from tickwire.engine.backtest import Backtest, BacktestConfig, BacktestError
    from tickwire.engine.strategy import StrategyLoadError

    maker, taker = _fees(fees)
    try:
        cfg = BacktestConfig(capture, strategy, _params(param), latency, queue, maker, taker, post_only,
                             instrument, feed)
        result = Backtest(cfg).run()
    except (BacktestError, StrategyLoadError, ValueError) as exc:
        typer.echo(f"tickwire backtest: {exc}", err=True)
        raise typer.Exit(2) from None
    summary = result.summary()
    if out is not None:
        from tickwire.engine.backtest_report import write_outputs

        write_outputs(result, out)
    if as_json:
        typer.echo(json.dumps(dict(summary, wall_s=result.wall_s), indent=2))
        return
    if summary["pnl_model"] != "inverse":
        typer.echo(f"tickwire backtest: warning: {summary['pnl_model']}", err=True)
    for key, value in summary.items():
        typer.echo(f"{key:>16}  {value:.8g}" if isinstance(value, float) else f"{key:>16}  {value}")
    typer.echo(f"{'wall_s':>16}  {result.wall_s:.3f}  ({result.book_events / max(result.wall_s, 1e-9):,.0f} "
               "book events/s)")
