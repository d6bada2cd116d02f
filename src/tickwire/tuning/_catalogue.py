"""Load and validate the knob catalogue (catalogue.toml) and check user-supplied values against it."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from tickwire.hw.cpuset import parse_cpulist, parse_cpumask

PROFILES = ("latency", "baseline")
KINDS = ("sysctl", "sysfs", "procfs", "cmdline", "ethtool", "sockopt", "systemd", "service")
GROUPS = ("net", "vm", "kernel", "cpu", "irq", "nic", "hugepages", "boot", "dpdk", "socket", "service")
FORMATS = ("int", "ints", "str", "cpulist", "cpumask", "flag")
RISKS = ("low", "medium", "high")
# Kinds `tune apply` writes at runtime; cmdline only with --boot; the rest are audit-only here (Ansible applies them).
RUNTIME_KINDS = ("sysctl", "sysfs", "procfs", "ethtool")
_REQUIRED = ("id", "group", "kind", "key", "why", "source", "reboot", "risk", "tag")


class TuningError(ValueError):
    """Bad input to the tuning tool (unknown profile or knob, value out of range, not root): nothing was changed."""


@dataclass(frozen=True)
class Knob:
    """One host setting: where it lives, what each profile wants, why, and how risky it is."""

    id: str
    group: str
    kind: str
    key: str
    why: str
    source: str
    reboot: bool
    risk: str
    tag: str
    format: str = "str"
    compare: str = "eq"
    min: int | None = None
    max: int | None = None
    choices: tuple[str, ...] = ()
    values: dict[str, object] = field(default_factory=dict)

    def wanted(self, profile: str) -> object | None:
        """The raw catalogue value for `profile` (may hold placeholders), or None when the profile leaves it alone."""
        return self.values.get(profile)


def _has_placeholder(value: object) -> bool:
    return isinstance(value, str) and "{" in value


def check_value(knob: Knob, value: object) -> object:
    """Return `value` converted to the knob's format, or raise TuningError naming the knob and the allowed range."""
    if _has_placeholder(value):
        return value
    text = str(value).strip()
    try:
        if knob.format == "flag":
            if text.lower() not in ("true", "false"):
                raise ValueError("expected true or false")
            return text.lower() == "true"
        if knob.format in ("int", "ints"):
            numbers = [int(part) for part in text.split()]
            if not numbers or (knob.format == "int" and len(numbers) != 1):
                raise ValueError("expected " + ("one integer" if knob.format == "int" else "integers"))
            for number in numbers:
                if (knob.min is not None and number < knob.min) or (knob.max is not None and number > knob.max):
                    raise ValueError(f"{number} is outside {knob.min}..{knob.max}")
            return numbers[0] if knob.format == "int" else " ".join(map(str, numbers))
        if knob.format == "cpulist":
            parse_cpulist(text)
            return text
        if knob.format == "cpumask":
            parse_cpumask(text)
            return text
        if knob.choices and text not in knob.choices:
            raise ValueError(f"expected one of {', '.join(knob.choices)}")
        return text
    except ValueError as exc:
        raise TuningError(f"knob {knob.id}: bad value {text!r}: {exc}") from None


def _knob(entry: dict[str, object], where: str) -> Knob:
    missing = [name for name in _REQUIRED if name not in entry]
    if missing:
        raise TuningError(f"{where}: knob {entry.get('id', '?')} lacks {', '.join(missing)}")
    checks = {"kind": KINDS, "group": GROUPS, "risk": RISKS, "format": FORMATS, "compare": ("eq", "min")}
    for name, allowed in checks.items():
        if name in entry and entry[name] not in allowed:
            raise TuningError(f"{where}: knob {entry['id']}: {name} {entry[name]!r} not in {allowed}")
    knob = Knob(
        id=str(entry["id"]), group=str(entry["group"]), kind=str(entry["kind"]), key=str(entry["key"]),
        why=str(entry["why"]), source=str(entry["source"]), reboot=bool(entry["reboot"]), risk=str(entry["risk"]),
        tag=str(entry["tag"]), format=str(entry.get("format", "str")), compare=str(entry.get("compare", "eq")),
        min=entry.get("min"), max=entry.get("max"),  # type: ignore[arg-type]
        choices=tuple(entry.get("choices", ())),  # type: ignore[arg-type]
        values={p: entry[p] for p in PROFILES if p in entry},
    )
    for profile, value in knob.values.items():
        check_value(knob, value)  # a catalogue value outside its own range is a catalogue bug
    return knob


def load_catalogue(path: str | Path | None = None) -> tuple[Knob, ...]:
    """Load and validate a catalogue file (default: the one shipped in the package)."""
    if path is None:
        return _packaged()
    return _parse(Path(path).read_text(), str(path))


@lru_cache(maxsize=1)
def _packaged() -> tuple[Knob, ...]:
    text = resources.files("tickwire.tuning").joinpath("catalogue.toml").read_text()
    return _parse(text, "catalogue.toml")


def _parse(text: str, where: str) -> tuple[Knob, ...]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TuningError(f"{where}: {exc}") from None
    knobs = tuple(_knob(entry, where) for entry in data.get("knob", []))
    seen: set[str] = set()
    for knob in knobs:
        if knob.id in seen:
            raise TuningError(f"{where}: duplicate knob id {knob.id}")
        seen.add(knob.id)
    return knobs


def check_profile(profile: str) -> str:
    """Return `profile` or raise TuningError listing the known profiles."""
    if profile not in PROFILES:
        raise TuningError(f"unknown profile {profile!r}; known profiles: {', '.join(PROFILES)}")
    return profile


def select(knobs: tuple[Knob, ...], only: str | None) -> tuple[Knob, ...]:
    """Knobs named by `only` (comma-separated groups and/or knob ids); all when None. Unknown names raise."""
    if not only:
        return knobs
    names = [name.strip() for name in only.split(",") if name.strip()]
    ids = {knob.id for knob in knobs}
    unknown = [name for name in names if name not in GROUPS and name not in ids]
    if unknown:
        raise TuningError(f"unknown group or knob {', '.join(unknown)}; groups: {', '.join(GROUPS)} "
                          "(knob ids: `tickwire tune list`)")
    return tuple(knob for knob in knobs if knob.group in names or knob.id in names)


def parse_overrides(knobs: tuple[Knob, ...], pairs: list[str]) -> dict[str, object]:
    """Parse `--set ID=VALUE` pairs into {id: checked value}; unknown ids and out-of-range values raise."""
    by_id = {knob.id: knob for knob in knobs}
    overrides: dict[str, object] = {}
    for pair in pairs:
        if "=" not in pair:
            raise TuningError(f"--set expects ID=VALUE, got {pair!r}")
        knob_id, value = pair.split("=", 1)
        if knob_id not in by_id:
            raise TuningError(f"unknown knob {knob_id!r} in --set (see `tickwire tune list`)")
        overrides[knob_id] = check_value(by_id[knob_id], value)
    return overrides
