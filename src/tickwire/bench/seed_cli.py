"""``tickwire bench --seed``: run the seed report with a progress bar and write it."""
from __future__ import annotations

import json
from pathlib import Path

import typer


def seed_bench(duration: str, book_rate: float, order_rate: float, poll_ms: int, rounds: int, out: Path,
               as_json: bool, pin: bool = True, rt_priority: int = 0, sides: str = "both") -> None:
    """Run :func:`tickwire.bench.seed.run_seed` and print the tables (or JSON); files go to ``out`` (the figures
    so far to ``out/partial`` after each client process). ``sides``: after, before or both."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from tickwire.bench.seed import run_seed
    from tickwire.bench.seed_report import markdown, write
    from tickwire.config import ConfigError, parse_duration

    chosen = ("after", "before") if sides == "both" else (sides,)
    try:
        duration_s = parse_duration(duration)
        if sides not in ("after", "before", "both"):
            raise ConfigError(f"--sides must be after, before or both, not {sides!r}")
    except ConfigError as exc:
        typer.echo(f"tickwire bench: {exc}", err=True)
        raise typer.Exit(2) from None
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TimeElapsedColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(f"seed load ({' + '.join(chosen)})", total=len(chosen) * duration_s)
        try:
            result = run_seed(duration_s, order_rate, book_rate, poll_ms, rounds,
                              progress=lambda dt: bar.advance(task, dt), pin=pin, rt_priority=rt_priority,
                              checkpoint=lambda partial: write(partial, out / "partial"), sides=chosen)
        except ValueError as exc:
            typer.echo(f"tickwire bench: {exc}", err=True)
            raise typer.Exit(2) from None
    files = write(result, out)
    typer.echo(json.dumps(result.as_dict(), indent=2) if as_json else markdown(result))
    typer.echo(f"written: {', '.join(str(f) for f in files)}", err=True)
