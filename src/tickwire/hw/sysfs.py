"""Small readers over a sysfs/procfs tree rooted anywhere (tests point `root` at a fake tree)."""
from __future__ import annotations

from pathlib import Path


def under(root: str | Path, path: str) -> Path:
    """`path` (absolute, e.g. /sys/...) inside `root`."""
    return Path(root) / path.lstrip("/")


def read(root: str | Path, path: str, default: str = "") -> str:
    """The stripped text of a file, or `default` when it is missing or unreadable."""
    try:
        return under(root, path).read_text().strip()
    except OSError:
        return default


def read_int(root: str | Path, path: str, default: int | None = None) -> int | None:
    """The file's integer content, or `default`."""
    text = read(root, path)
    try:
        return int(text)
    except ValueError:
        return default
