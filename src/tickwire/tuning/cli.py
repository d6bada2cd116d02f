"""`tickwire tune list|audit|apply|rollback` (heavy imports stay inside the commands)."""
from __future__ import annotations

import json
from typing import NoReturn

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Host tuning from one knob catalogue: audit, apply (with snapshot), rollback.",
                  no_args_is_help=True)
console = Console()

PROFILE = typer.Option("latency", "--profile", "-p", help="latency | baseline")
ONLY = typer.Option(None, "--only", help="comma-separated groups (net,vm,kernel,cpu,irq,nic,hugepages,boot,dpdk,"
                                          "socket,service) and/or knob ids")
SET = typer.Option(None, "--set", help="override a knob: ID=VALUE (checked against its range); repeatable")
NIC = typer.Option(None, "--nic", help="the trading NIC (nic and irq knobs)")
HOUSEKEEPING = typer.Option(None, "--housekeeping", help="housekeeping cpu list (default: `tickwire hw plan`)")
ISOLATED = typer.Option(None, "--isolated", help="isolated cpu list, or 'none' (default: `tickwire hw plan`)")
RX = typer.Option(None, "--rx", help="cpu list for the NIC's interrupts (default: `tickwire hw plan`)")
STATE_DIR = typer.Option(None, "--state-dir", help="snapshot directory (default $TICKWIRE_STATE_DIR or "
                                                   "/var/lib/tickwire/tune)")
AS_JSON = typer.Option(False, "--json", help="print JSON")


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _context(nic: str | None, housekeeping: str | None, isolated: str | None, rx: str | None):  # noqa: ANN202
    from tickwire.tuning._context import host_context

    return host_context(nic=nic, housekeeping=housekeeping, isolated=isolated, rx=rx)


@app.command("list")
def list_knobs(only: str = ONLY, as_json: bool = AS_JSON) -> None:
    """Print the catalogue: every knob, where it lives, each profile's value, why and the source."""
    from dataclasses import asdict

    from tickwire.tuning._catalogue import TuningError, load_catalogue, select

    try:
        knobs = select(load_catalogue(), only)
    except TuningError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps([asdict(k) for k in knobs], indent=2))
        return
    table = Table(title="tickwire tuning catalogue")
    for column in ("id", "kind", "key", "latency", "baseline", "reboot", "risk", "why", "source"):
        table.add_column(column, overflow="fold")
    for k in knobs:
        table.add_row(k.id, k.kind, k.key, str(k.wanted("latency") if k.wanted("latency") is not None else "-"),
                      str(k.wanted("baseline") if k.wanted("baseline") is not None else "-"),
                      "yes" if k.reboot else "", k.risk, k.why, k.source)
    console.print(table)


@app.command()
def audit(profile: str = PROFILE, only: str = ONLY, set_: list[str] = SET, nic: str = NIC,
          housekeeping: str = HOUSEKEEPING, isolated: str = ISOLATED, rx: str = RX, as_json: bool = AS_JSON,
          strict: bool = typer.Option(False, "--strict", help="exit 1 when any knob differs")) -> None:
    """Read every knob live: current vs wanted, OK / DIFF / UNAVAILABLE, a score and the fix for each."""
    from tickwire.tuning._audit import DIFF, audit as run_audit
    from tickwire.tuning._catalogue import TuningError, load_catalogue, parse_overrides

    try:
        overrides = parse_overrides(load_catalogue(), set_ or [])
        report = run_audit(profile, _context(nic, housekeeping, isolated, rx), only=only, overrides=overrides)
    except TuningError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        table = Table(title=f"tickwire tune audit --profile {profile}")
        for column in ("knob", "key", "current", "wanted", "status", "fix"):
            table.add_column(column, overflow="fold")
        colour = {"OK": "green", "DIFF": "yellow", "UNAVAILABLE": "dim"}
        for row in report.rows:
            table.add_row(row.id, row.key, row.current, row.wanted, f"[{colour[row.status]}]{row.status}[/]", row.fix)
        console.print(table)
        counts = report.counts()
        console.print(f"score {report.score():.0f}%: {counts['OK']} OK, {counts['DIFF']} DIFF, "
                      f"{counts['UNAVAILABLE']} UNAVAILABLE (unavailable knobs do not count)")
    if strict and report.counts()[DIFF]:
        raise typer.Exit(1)


@app.command()
def apply(profile: str = PROFILE, only: str = ONLY, set_: list[str] = SET, nic: str = NIC,
          housekeeping: str = HOUSEKEEPING, isolated: str = ISOLATED, rx: str = RX,
          dry_run: bool = typer.Option(False, "--dry-run", help="show what would change, change nothing"),
          boot: bool = typer.Option(False, "--boot", help="also write boot-time knobs as a GRUB drop-in (no reboot)"),
          grub_dir: str = typer.Option("/etc/default/grub.d", "--grub-dir", help="where the GRUB drop-in goes"),
          state_dir: str = STATE_DIR, as_json: bool = AS_JSON) -> None:
    """Apply runtime knobs (sysctl, sysfs, IRQ affinity, ethtool) after a snapshot; --boot adds a GRUB drop-in.

    All-or-nothing: a failed write restores what this run changed."""
    from tickwire.tuning._apply import apply as run_apply
    from tickwire.tuning._catalogue import TuningError, load_catalogue, parse_overrides

    try:
        overrides = parse_overrides(load_catalogue(), set_ or [])
        result = run_apply(profile, _context(nic, housekeeping, isolated, rx), only=only, overrides=overrides,
                           dry_run=dry_run, boot=boot, snapshots=state_dir, grub_dir=grub_dir)
    except TuningError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    verb = "would change" if dry_run else "changed"
    for change in result.changes:
        mark = "" if change.status in ("planned", "applied") else f"  [{change.status}: {change.note}]"
        typer.echo(f"{verb} {change.knob} {change.target}: {change.before} -> {change.after}{mark}")
    for line in result.not_applied:
        typer.echo(f"not applied  {line}")
    if result.boot_file:
        typer.echo(f"{'would write' if dry_run else 'wrote'} {result.boot_file}: {' '.join(result.boot_words)}")
        typer.echo("boot knobs take effect after `update-grub` and a reboot (tickwire never reboots)")
    if result.snapshot:
        typer.echo(f"snapshot {result.snapshot} (undo: tickwire tune rollback)")
    elif not dry_run:
        typer.echo("nothing to change")


@app.command()
def rollback(snapshot: str = typer.Argument(None, help="snapshot name or path (default: the newest not rolled back)"),
             state_dir: str = STATE_DIR, list_: bool = typer.Option(False, "--list", help="list snapshots")) -> None:
    """Restore exactly the values a snapshot recorded before `tune apply`, and verify each."""
    from tickwire.tuning._apply import list_snapshots, rollback as run_rollback
    from tickwire.tuning._catalogue import TuningError

    if list_:
        for path in list_snapshots(state_dir):
            state = json.loads(path.read_text()).get("rolled_back")
            typer.echo(f"{path.stem}  {'rolled back ' + state if state else 'active'}")
        return
    try:
        path, restored = run_rollback(snapshot, state_dir)
    except TuningError as exc:
        _fail(str(exc))
    for change in restored:
        typer.echo(f"restored {change.knob} {change.target}: {change.after} -> {change.before}")
    typer.echo(f"rolled back {path.name} ({len(restored)} values)")
