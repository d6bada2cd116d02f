"""CPU sets in the kernel's two text forms: lists ("0-3,8") and hex masks ("ff,00000001")."""
from __future__ import annotations

from collections.abc import Iterable


def parse_cpulist(text: str) -> list[int]:
    """Parse a kernel cpulist ("0-2,5", "" = empty) into sorted CPU numbers; ValueError on malformed input."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo_s, hi_s = part.split("-", 1)
            stride = 1
            if ":" in hi_s:  # "0-7:2" is a kernel cpulist too (every 2nd cpu)
                hi_s, stride_s = hi_s.split(":", 1)
                stride = int(stride_s)
            lo, hi = int(lo_s), int(hi_s)
            if lo < 0 or hi < lo or stride < 1:
                raise ValueError(f"bad cpu range {part!r}")
            cpus.update(range(lo, hi + 1, stride))
        else:
            cpu = int(part)
            if cpu < 0:
                raise ValueError(f"bad cpu {part!r}")
            cpus.add(cpu)
    return sorted(cpus)


def format_cpulist(cpus: Iterable[int]) -> str:
    """Format CPU numbers as a compact kernel cpulist ("0-3,8")."""
    ordered = sorted(set(cpus))
    runs: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        runs.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(runs)


def parse_cpumask(text: str) -> list[int]:
    """Parse a kernel hex cpumask ("3", "00000000,00000101") into sorted CPU numbers."""
    digits = text.strip().replace(",", "").lower().removeprefix("0x")
    value = int(digits or "0", 16)
    return [bit for bit in range(value.bit_length()) if value >> bit & 1]


def format_cpumask(cpus: Iterable[int]) -> str:
    """Format CPU numbers as a hex mask without leading zeros ("3"); the kernel accepts this form."""
    value = 0
    for cpu in cpus:
        value |= 1 << cpu
    return format(value, "x")
