"""`tickwire tune audit`: every knob's live value against what a profile wants, with the fix for each."""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from tickwire.tuning._catalogue import RUNTIME_KINDS, Knob, check_profile, load_catalogue, select
from tickwire.tuning._context import Context
from tickwire.tuning._targets import Unavailable, matches, read, targets

OK, DIFF, UNAVAILABLE = "OK", "DIFF", "UNAVAILABLE"


@dataclass
class Row:
    """One knob's audit line."""

    id: str
    group: str
    kind: str
    key: str
    current: str
    wanted: str
    status: str
    fix: str
    reboot: bool
    risk: str
    why: str
    source: str


@dataclass
class AuditReport:
    """All rows plus the score: OK / (OK + DIFF); UNAVAILABLE knobs do not count."""

    profile: str
    rows: list[Row] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = Counter(row.status for row in self.rows)
        return {status: counts.get(status, 0) for status in (OK, DIFF, UNAVAILABLE)}

    def score(self) -> float:
        counts = self.counts()
        applicable = counts[OK] + counts[DIFF]
        return 100.0 * counts[OK] / applicable if applicable else 100.0

    def as_dict(self) -> dict[str, object]:
        return {"profile": self.profile, "counts": self.counts(), "score": round(self.score(), 1),
                "rows": [asdict(row) for row in self.rows]}


def fix_for(knob: Knob, profile: str) -> str:
    """The command (or Ansible tag) that sets this knob."""
    tag = f"ansible tag {knob.tag}"
    if knob.kind in RUNTIME_KINDS:
        return f"tickwire tune apply --profile {profile} --only {knob.id} | {tag}"
    if knob.kind == "cmdline":
        return f"tickwire tune apply --profile {profile} --boot --only {knob.id}, update-grub, reboot | {tag}"
    if knob.kind == "sockopt":
        return "the engine sets it per socket (tickwire.tuning.socket_options); a capped buffer needs net.*mem_max"
    return tag


def _summary(values: list[str]) -> str:
    """One value, or "v1 (n1), v2 (n2)" when targets (e.g. per-IRQ files) differ."""
    counts = Counter(values)
    if len(counts) == 1:
        return values[0]
    return ", ".join(f"{value} (x{n})" for value, n in counts.most_common())


def audit_knob(knob: Knob, raw: object, ctx: Context, profile: str) -> Row:
    """Read one knob live and compare it with `raw` (the wanted value, placeholders allowed)."""
    row = Row(knob.id, knob.group, knob.kind, knob.key, "", str(raw), UNAVAILABLE, "", knob.reboot, knob.risk,
              knob.why, knob.source)
    try:
        found = targets(knob, raw, ctx)
        row.wanted = str(found[0].wanted)
        if len(found) == 1:
            row.key = found[0].locator.removeprefix(ctx.root.rstrip("/")) if knob.kind != "sysctl" else knob.key
        currents: list[str] = []
        for target in found:
            try:
                currents.append(read(target, ctx))
            except Unavailable:
                if not target.optional:
                    raise
        if not currents:
            raise Unavailable(f"{knob.key}: none readable")
    except Unavailable as exc:
        row.current = str(exc)
        return row
    row.status = OK if all(matches(knob, value, found[0].wanted) for value in currents) else DIFF
    if knob.format == "flag":  # a bare kernel parameter: present or absent
        row.wanted = "present" if found[0].wanted else "absent"
        currents = ["present" if value == "true" else value for value in currents]
    row.current = _summary(currents)
    row.fix = "" if row.status == OK else fix_for(knob, profile)
    return row


def audit(profile: str = "latency", ctx: Context | None = None, only: str | None = None,
          overrides: dict[str, object] | None = None, knobs: tuple[Knob, ...] | None = None) -> AuditReport:
    """Audit every knob `profile` manages (and any --set override) on this host."""
    from tickwire.tuning._context import host_context

    check_profile(profile)
    knobs = select(knobs or load_catalogue(), only)
    ctx = ctx or host_context()
    overrides = overrides or {}
    report = AuditReport(profile)
    for knob in knobs:
        raw = overrides.get(knob.id, knob.wanted(profile))
        if raw is not None:
            report.rows.append(audit_knob(knob, raw, ctx, profile))
    return report
