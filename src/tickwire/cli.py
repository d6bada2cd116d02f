"""The `tickwire` command line. Each sub-command imports its heavy modules lazily, so `--help` stays fast."""
from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="tickwire: low-latency trading toolkit for Deribit.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)
console = Console()


@app.command()
def version() -> None:
    """Print the tickwire version."""
    from tickwire import __version__

    typer.echo(__version__)


@app.command()
def doctor(as_json: bool = typer.Option(False, "--json", help="print the facts as JSON")) -> None:
    """Print native modules, DPDK, numba, CPUs, hugepages, TSC and privileges: what to check when things fail."""
    from tickwire.doctor import collect

    report = collect()
    if as_json:
        typer.echo(json.dumps(report.as_dicts(), indent=2))
        return
    table = Table(title="tickwire doctor")
    for column in ("fact", "value", "", "hint"):
        table.add_column(column)
    for fact in report.facts:
        table.add_row(fact.name, fact.value, "[green]ok[/]" if fact.ok else "[yellow]![/]", fact.hint)
    console.print(table)


from tickwire.tuning.cli import app as _tune_app  # noqa: E402

app.add_typer(_tune_app, name="tune")
from tickwire.hw.cli import app as _hw_app  # noqa: E402

app.add_typer(_hw_app, name="hw")

from tickwire.sim.cli import sim as _sim_command  # noqa: E402

app.command("sim")(_sim_command)

from tickwire.engine.cli import kill as _kill_command, run as _run_command, warm as _warm_command  # noqa: E402

app.command("run")(_run_command)
app.command("kill")(_kill_command)
app.command("warm")(_warm_command)

from tickwire.md.record import register as _register_capture  # noqa: E402

_register_capture(app)  # record, replay

from tickwire.bench.cli import bench as _bench_command  # noqa: E402
from tickwire.engine.backtest_cli import backtest as _backtest_command  # noqa: E402

app.command("backtest")(_backtest_command)

app.command("bench")(_bench_command)


if __name__ == "__main__":
    app()
