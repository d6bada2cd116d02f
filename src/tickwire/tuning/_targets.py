"""Where each knob lives on this host: expand a knob into concrete targets, read them, compare, write them."""
from __future__ import annotations

import glob
import re
import shutil
import string
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tickwire.hw.sysfs import under
from tickwire.hw.cpuset import parse_cpulist, parse_cpumask
from tickwire.hw.nics import ethtool_coalesce, ethtool_features
from tickwire.tuning._catalogue import Knob
from tickwire.tuning._context import Context
from tickwire.tuning._sockets import probe

# ethtool -K short names <-> the long names `ethtool -k` prints.
_FEATURES = {"gro": "generic-receive-offload", "lro": "large-receive-offload", "gso": "generic-segmentation-offload",
             "tso": "tcp-segmentation-offload"}
_SYSFS_UNSUPPORTED = ("notsupported", "notimplemented")
_UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
_IRQBALANCE_FILES = ("/etc/default/irqbalance", "/etc/sysconfig/irqbalance")
ABSENT = "absent"  # a kernel parameter or config setting that is not there


class Unavailable(Exception):
    """The knob does not exist on this host (no cpufreq in a VM, no such NIC, no cores to isolate...)."""


@dataclass(frozen=True)
class Target:
    """One concrete place a knob is read and written: a file path, a kernel parameter, `nic:feature`, ..."""

    knob: Knob
    locator: str
    wanted: object
    optional: bool = False  # one of many (glob/IRQ list): a write the kernel refuses is skipped, not fatal


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def resolve(text: str, ctx: Context) -> str:
    """Fill scalar placeholders; Unavailable names the missing one."""
    values = ctx.scalars()
    missing = sorted(_fields(text) - set(values))
    if missing:
        reasons = {"isolated": "no cores to isolate on this host (--isolated)", "nic": "no NIC selected (--nic)"}
        raise Unavailable("; ".join(reasons.get(name, f"{{{name}}} unknown") for name in missing))
    return text.format(**values)


def wanted_value(knob: Knob, raw: object, ctx: Context) -> object:
    """A catalogue/override value with placeholders filled."""
    return resolve(raw, ctx) if isinstance(raw, str) else raw


def _paths(knob: Knob, ctx: Context) -> list[str]:
    if knob.kind == "sysctl":
        return [str(under(ctx.root, "/proc/sys/" + knob.key.replace(".", "/")))]
    lists = {name: values for name, values in ctx.lists().items() if name in _fields(knob.key)}
    patterns = [knob.key]
    for name, values in lists.items():
        if not values:
            raise Unavailable(f"no {name.replace('_', ' ')} on this host" + (" (--nic)" if name == "nic_irqs" else ""))
        patterns = [p.replace("{" + name + "}", str(v)) for p in patterns for v in values]
    paths: list[str] = []
    for pattern in patterns:
        paths.extend(sorted(glob.glob(str(under(ctx.root, resolve(pattern, ctx))))))
    return paths


def targets(knob: Knob, raw: object, ctx: Context) -> list[Target]:
    """The concrete targets of `knob` wanting `raw`; Unavailable when none exist on this host."""
    wanted = wanted_value(knob, raw, ctx)
    if knob.kind in ("sysctl", "sysfs", "procfs"):
        paths = _paths(knob, ctx)
        if not paths:
            raise Unavailable(f"{resolve(knob.key, ctx) if '{' in knob.key and '_irqs' not in knob.key else knob.key}"
                              " does not exist on this host")
        return [Target(knob, path, wanted, optional=len(paths) > 1) for path in paths]
    if knob.kind == "ethtool":
        if not ctx.nic:
            raise Unavailable("no NIC selected (--nic)")
        if shutil.which("ethtool") is None:
            raise Unavailable("ethtool is not installed")
        return [Target(knob, f"{ctx.nic}:{knob.key}", wanted)]
    return [Target(knob, knob.key, wanted)]


def _bracketed(text: str) -> str:
    """sysfs choice files show the active value in brackets: "always [madvise] never" -> "madvise"."""
    match = re.search(r"\[([^\]]+)\]", text)
    return match.group(1) if match else text


def cmdline_params(ctx: Context) -> dict[str, str]:
    """Kernel parameters of the running kernel; bare words map to "true". Arguments after `--` go to init."""
    text = under(ctx.root, "/proc/cmdline").read_text()
    params: dict[str, str] = {}
    for word in text.split():
        if word == "--":
            break
        key, sep, value = word.partition("=")
        params[key] = value if sep else "true"
    return params


def _conf_setting(paths: list[Path], name: str) -> str:
    """Last `name=value` among INI/env-style files (later files win), or ABSENT."""
    value = ABSENT
    for path in paths:
        try:
            lines = path.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            key, sep, rest = line.strip().partition("=")
            if sep and key.strip() == name and not line.lstrip().startswith(("#", ";")):
                value = rest.strip().strip('"')
    return value


def _unit_state(ctx: Context, unit: str) -> str:
    for directory in _UNIT_DIRS:
        path = under(ctx.root, f"{directory}/{unit}.service")
        if path.is_symlink() and str(path.readlink()) == "/dev/null":
            return "masked"
    if not any(under(ctx.root, f"{d}/{unit}.service").exists() for d in _UNIT_DIRS):
        return "not installed"
    wants = glob.glob(str(under(ctx.root, f"/etc/systemd/system/*.wants/{unit}.service")))
    return "enabled" if wants else "disabled"


def read(target: Target, ctx: Context) -> str:
    """The live value of a target as text; Unavailable when the host does not have it."""
    knob = target.knob
    if knob.kind in ("sysctl", "sysfs", "procfs"):
        try:
            text = Path(target.locator).read_text().strip()
        except OSError as exc:
            raise Unavailable(f"{target.locator}: {exc.strerror}") from None
        text = " ".join(_bracketed(text).split())
        if text in _SYSFS_UNSUPPORTED:
            raise Unavailable(f"{target.locator}: {text}")
        return text
    if knob.kind == "cmdline":
        return cmdline_params(ctx).get(knob.key, ABSENT)
    if knob.kind == "ethtool":
        nic, _, key = target.locator.partition(":")
        section, _, name = key.partition(":")
        facts = ethtool_features(nic) if section == "features" else ethtool_coalesce(nic)
        value = facts.get(_FEATURES.get(name, name), "")
        if not value or value == "n/a":
            raise Unavailable(f"{nic}: ethtool reports no {name}")
        return value.split()[0]
    if knob.kind == "sockopt":
        granted, _ = probe(knob.key, int(target.wanted))  # type: ignore[call-overload]
        return granted
    if knob.kind == "systemd":
        _, _, name = knob.key.partition(":")
        files = [under(ctx.root, "/etc/systemd/system.conf")]
        files += sorted(under(ctx.root, "/etc/systemd/system.conf.d").glob("*.conf"))
        return _conf_setting(files, name)
    if knob.kind == "service":
        prefix, _, name = knob.key.partition(":")
        if prefix == "unit":
            return _unit_state(ctx, name)
        if _unit_state(ctx, prefix) == "not installed":
            raise Unavailable(f"{prefix} is not installed (nothing to configure)")
        return _conf_setting([under(ctx.root, path) for path in _IRQBALANCE_FILES], name)
    raise Unavailable(f"unknown kind {knob.kind}")


def _ints(text: str) -> list[int]:
    return [int(part) for part in str(text).split()]


def matches(knob: Knob, current: str, wanted: object) -> bool:
    """Whether the live value satisfies the wanted one (`min` knobs: at least; cpu sets compared as sets)."""
    if knob.kind == "service" and knob.key.startswith("unit:") and current == "not installed":
        return True  # a service that is not installed cannot run
    try:
        if knob.format == "flag":
            return (current == "true") == bool(wanted)
        if knob.format in ("int", "ints"):
            have, want = _ints(current), _ints(str(wanted))
            if len(have) != len(want):
                return False
            if knob.compare == "min":
                return all(h >= w for h, w in zip(have, want))
            return have == want
        if knob.format == "cpulist":
            return parse_cpulist(current) == parse_cpulist(str(wanted))
        if knob.format == "cpumask":
            return parse_cpumask(current) == parse_cpumask(str(wanted))
    except ValueError:
        return False
    return current == str(wanted)


def value_to_write(knob: Knob, current: str, wanted: object) -> str:
    """The text to write: the wanted value, or for `min` knobs the element-wise maximum (never lower a value)."""
    if knob.compare == "min" and knob.format in ("int", "ints"):
        try:
            have, want = _ints(current), _ints(str(wanted))
            if len(have) == len(want):
                return " ".join(str(max(h, w)) for h, w in zip(have, want))
        except ValueError:
            pass
    return str(wanted)


def write(target: Target, value: str) -> None:
    """Write a runtime target (sysctl/sysfs/procfs file, or ethtool); OSError when the kernel refuses."""
    knob = target.knob
    if knob.kind in ("sysctl", "sysfs", "procfs"):
        with open(target.locator, "w") as handle:
            handle.write(value)
        return
    if knob.kind == "ethtool":
        nic, _, key = target.locator.partition(":")
        section, _, name = key.partition(":")
        flag = "-K" if section == "features" else "-C"
        out = subprocess.run(["ethtool", flag, nic, name, value], capture_output=True, text=True, timeout=10)
        if out.returncode != 0:
            raise OSError(out.returncode, (out.stderr or out.stdout).strip() or "ethtool failed")
        return
    raise OSError(0, f"{knob.kind} knobs are not written at runtime")
