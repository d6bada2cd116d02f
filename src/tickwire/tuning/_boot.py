"""Boot-time knobs as a GRUB drop-in (/etc/default/grub.d/90-tickwire.cfg). Writing it never reboots."""
from __future__ import annotations

from pathlib import Path

from tickwire.tuning._catalogue import Knob
from tickwire.tuning._context import Context
from tickwire.tuning._targets import Unavailable, wanted_value

DROP_IN = "90-tickwire.cfg"


def cmdline_words(selected: list[tuple[Knob, object]], ctx: Context) -> tuple[list[str], list[str]]:
    """Kernel parameters ("key=value" or bare flags) for the cmdline knobs, and the ones skipped with why."""
    words: list[str] = []
    skipped: list[str] = []
    for knob, raw in selected:
        try:
            value = wanted_value(knob, raw, ctx)
        except Unavailable as exc:
            skipped.append(f"{knob.id}: {exc}")
            continue
        if knob.format == "flag":
            if value:
                words.append(knob.key)
        else:
            words.append(f"{knob.key}={value}")
    return words, skipped


def render_drop_in(words: list[str], profile: str) -> str:
    """The drop-in text; Debian's update-grub sources /etc/default/grub.d/*.cfg after /etc/default/grub."""
    return (f"# Written by `tickwire tune apply --boot --profile {profile}`. Takes effect after update-grub and a\n"
            "# reboot; `tickwire tune rollback` restores the previous file (or removes this one).\n"
            f'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT {" ".join(words)}"\n')


def drop_in_path(grub_dir: str | Path) -> Path:
    return Path(grub_dir) / DROP_IN
