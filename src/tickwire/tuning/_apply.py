"""`tickwire tune apply` and `rollback`: write runtime knobs after saving a snapshot of their prior values."""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from collections.abc import Iterator
from pathlib import Path

from tickwire.tuning._boot import cmdline_words, drop_in_path, render_drop_in
from tickwire.tuning._catalogue import RUNTIME_KINDS, Knob, TuningError, check_profile, load_catalogue, select
from tickwire.tuning._context import Context
from tickwire.tuning._targets import Target, Unavailable, matches, read, targets, value_to_write, write

DEFAULT_STATE_DIR = "/var/lib/tickwire/tune"
DEFAULT_GRUB_DIR = "/etc/default/grub.d"


def state_dir(path: str | Path | None = None) -> Path:
    """Where snapshots live: the argument, $TICKWIRE_STATE_DIR, or /var/lib/tickwire/tune."""
    return Path(path or os.environ.get("TICKWIRE_STATE_DIR") or DEFAULT_STATE_DIR)


@dataclass
class Change:
    """One target's before/after; status: planned, applied, skipped (kernel refused an optional target), unchanged."""

    knob: str
    kind: str
    target: str
    before: str
    after: str
    status: str = "planned"
    note: str = ""


@dataclass
class ApplyResult:
    profile: str
    changes: list[Change] = field(default_factory=list)
    not_applied: list[str] = field(default_factory=list)  # knob: why (unavailable, audit-only, boot without --boot)
    boot_file: str | None = None
    boot_words: list[str] = field(default_factory=list)
    snapshot: str | None = None
    dry_run: bool = False

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One apply/rollback at a time per state directory (two at once would snapshot each other's changes)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TuningError(f"another `tickwire tune apply/rollback` is running ({directory}/.lock)") from None
        yield


def require_root() -> None:
    if os.geteuid() != 0:
        raise TuningError("this needs root: it writes /proc/sys, /sys and /proc/irq (use --dry-run to preview)")


def _plan(knobs: tuple[Knob, ...], profile: str, ctx: Context, overrides: dict[str, object], boot: bool,
          result: ApplyResult) -> tuple[list[tuple[Target, Change]], list[tuple[Knob, object]]]:
    writes: list[tuple[Target, Change]] = []
    boot_knobs: list[tuple[Knob, object]] = []
    for knob in knobs:
        raw = overrides.get(knob.id, knob.wanted(profile))
        if raw is None:
            continue
        if knob.kind == "cmdline":
            if boot:
                boot_knobs.append((knob, raw))
            else:
                result.not_applied.append(f"{knob.id}: boot-time knob (use --boot)")
            continue
        if knob.kind not in RUNTIME_KINDS:
            result.not_applied.append(f"{knob.id}: {knob.kind} knob, audit-only here (ansible tag {knob.tag})")
            continue
        try:
            for target in targets(knob, raw, ctx):
                try:
                    current = read(target, ctx)
                except Unavailable:
                    if target.optional:
                        continue
                    raise
                if not matches(knob, current, target.wanted):
                    after = value_to_write(knob, current, target.wanted)
                    writes.append((target, Change(knob.id, knob.kind, target.locator, current, after)))
        except Unavailable as exc:
            result.not_applied.append(f"{knob.id}: unavailable: {exc}")
    return writes, boot_knobs


def _save(path: Path, snapshot: dict[str, object]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(snapshot, indent=2))
    os.replace(tmp, path)


def _restore(target: Target, before: str, ctx: Context) -> None:
    """Write a prior value back and check it reads back exactly (as a set for cpu lists/masks)."""
    write(target, before)
    exact = dataclasses.replace(target.knob, compare="eq")
    now = read(target, ctx)
    if not matches(exact, now, before):
        raise OSError(0, f"{target.locator} reads {now!r} after restoring {before!r}")


def apply(profile: str, ctx: Context, only: str | None = None, overrides: dict[str, object] | None = None,
          dry_run: bool = False, boot: bool = False, snapshots: str | Path | None = None,
          grub_dir: str | Path = DEFAULT_GRUB_DIR, knobs: tuple[Knob, ...] | None = None) -> ApplyResult:
    """Apply `profile`'s runtime knobs (and with `boot` the GRUB drop-in) after saving a snapshot.

    All-or-nothing: if a required write fails, everything written so far is restored and TuningError is raised.
    Bad input (profile, --only, --set) and a missing root privilege raise before anything is read or written."""
    check_profile(profile)
    knobs = select(knobs or load_catalogue(), only)
    if dry_run:
        return _apply(profile, ctx, knobs, overrides or {}, True, boot, snapshots, grub_dir, only)
    require_root()
    with _locked(state_dir(snapshots)):
        return _apply(profile, ctx, knobs, overrides or {}, False, boot, snapshots, grub_dir, only)


def _apply(profile: str, ctx: Context, knobs: tuple[Knob, ...], overrides: dict[str, object], dry_run: bool,
           boot: bool, snapshots: str | Path | None, grub_dir: str | Path, only: str | None) -> ApplyResult:
    result = ApplyResult(profile, dry_run=dry_run)
    writes, boot_knobs = _plan(knobs, profile, ctx, overrides, boot, result)
    result.changes = [change for _, change in writes]
    boot_text = None
    if boot_knobs:
        result.boot_words, skipped = cmdline_words(boot_knobs, ctx)
        result.not_applied += skipped
        if result.boot_words:
            result.boot_file = str(drop_in_path(grub_dir))
            boot_text = render_drop_in(result.boot_words, profile)
    if dry_run or (not writes and boot_text is None):
        return result

    directory = state_dir(snapshots)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.time_ns() % 1_000_000_000:09d}"
    path = directory / f"{stamp}-{profile}.json"
    files = []
    if boot_text is not None:
        boot_path = Path(result.boot_file)  # type: ignore[arg-type]
        files.append({"path": str(boot_path), "before": boot_path.read_text() if boot_path.exists() else None})
    snapshot: dict[str, object] = {
        "version": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": socket.gethostname(),
        "profile": profile, "only": only, "root": ctx.root, "entries": [asdict(c) for c in result.changes],
        "files": files, "rolled_back": None,
    }
    _save(path, snapshot)  # before the first write: a crash mid-apply can still be rolled back
    result.snapshot = str(path)

    done: list[tuple[Target, Change]] = []
    try:
        for target, change in writes:
            try:
                write(target, change.after)
                now = read(target, ctx)
                if not matches(dataclasses.replace(target.knob, compare="eq"), now, change.after):
                    raise OSError(0, f"reads back {now!r}")
            except OSError as exc:
                reason = exc.strerror or str(exc)
                if not target.optional:
                    raise TuningError(f"{change.knob}: writing {change.after!r} to {change.target} failed: {reason}")
                change.status, change.note = "skipped", f"kernel refused: {reason}"
                continue
            change.status = "applied"
            done.append((target, change))
        if boot_text is not None:
            boot_path = Path(result.boot_file)  # type: ignore[arg-type]
            boot_path.parent.mkdir(parents=True, exist_ok=True)
            boot_path.write_text(boot_text)
    except TuningError:
        for target, change in reversed(done):
            _restore(target, change.before, ctx)
        snapshot["rolled_back"] = "apply failed; prior values restored"
        _save(path, snapshot)
        raise
    snapshot["entries"] = [asdict(c) for _, c in done]
    _save(path, snapshot)
    return result


def list_snapshots(snapshots: str | Path | None = None) -> list[Path]:
    """Snapshot files, oldest first."""
    directory = state_dir(snapshots)
    return sorted(directory.glob("*.json")) if directory.is_dir() else []  # .lock is not a snapshot


def _find(name: str | None, snapshots: str | Path | None) -> Path:
    if name:
        path = Path(name)
        if not path.exists():
            path = state_dir(snapshots) / (name if name.endswith(".json") else f"{name}.json")
        if not path.exists():
            raise TuningError(f"no snapshot {name!r} (see `tickwire tune rollback --list`)")
        return path
    for path in reversed(list_snapshots(snapshots)):
        if json.loads(path.read_text()).get("rolled_back") is None:
            return path
    raise TuningError(f"no snapshot to roll back in {state_dir(snapshots)}")


def rollback(name: str | None = None, snapshots: str | Path | None = None) -> tuple[Path, list[Change]]:
    """Restore every value a snapshot recorded (the newest not yet rolled back by default) and verify each."""
    require_root()
    with _locked(state_dir(snapshots)):
        return _rollback(name, snapshots)


def _rollback(name: str | None, snapshots: str | Path | None) -> tuple[Path, list[Change]]:
    path = _find(name, snapshots)
    snapshot = json.loads(path.read_text())
    if snapshot.get("rolled_back"):
        raise TuningError(f"snapshot {path.name} was already rolled back ({snapshot['rolled_back']})")
    by_id = {knob.id: knob for knob in load_catalogue()}
    ctx = Context(housekeeping=(), isolated=(), rx=(), root=snapshot.get("root", "/"))
    restored: list[Change] = []
    failures: list[str] = []
    for entry in reversed(snapshot["entries"]):
        change = Change(**entry)
        knob = by_id.get(change.knob)
        if knob is None:  # catalogue changed since: a file target can still be restored
            knob = Knob(change.knob, "net", change.kind, change.target, "", "", False, "low", "", format="str")
        try:
            _restore(Target(knob, change.target, change.before), change.before, ctx)
            change.status = "restored"
        except (OSError, Unavailable) as exc:
            change.status, change.note = "failed", str(exc)
            failures.append(f"{change.target}: {exc}")
        restored.append(change)
    for item in snapshot.get("files", []):
        file_path = Path(item["path"])
        if item["before"] is None:
            file_path.unlink(missing_ok=True)
        else:
            file_path.write_text(item["before"])
    if failures:  # the snapshot stays open so a second rollback can retry
        raise TuningError(f"rollback of {path.name} could not restore: " + "; ".join(failures))
    snapshot["rolled_back"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    _save(path, snapshot)
    return path, restored
