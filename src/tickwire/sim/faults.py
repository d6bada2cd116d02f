"""Fault injection: parsed from ``--faults k=v,...`` and changed at run time by ``sim/control``.

- ``gap``: probability that a book message (raw or 100ms) is not sent at all, so the change_id chain breaks;
- ``drop``: probability that any notification to a connection is dropped;
- ``delay_ms``: every message to clients is sent this much later;
- ``reject``: the next N order requests are rejected (11030 other_reject);
- ``slow_ack_ms``: answers to matching-engine requests are delayed by this much;
- ``squeeze``: rate-limit burst and refill are multiplied by this factor (0 < squeeze <= 1);
- ``close_every``: every N seconds all client connections are closed.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class Faults:
    """Current fault settings; ``rng`` makes gap/drop decisions reproducible for a seed."""

    gap: float = 0.0
    drop: float = 0.0
    delay_ms: float = 0.0
    reject: int = 0
    slow_ack_ms: float = 0.0
    squeeze: float = 1.0
    close_every: float = 0.0

    def __post_init__(self) -> None:
        self.rng = random.Random(0)
        self.validate()

    def validate(self) -> None:
        """ValueError naming the bad setting."""
        for name in ("gap", "drop"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"fault {name} must be a probability in [0, 1]")
        for name in ("delay_ms", "slow_ack_ms", "close_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"fault {name} must be >= 0")
        if self.reject < 0:
            raise ValueError("fault reject must be >= 0")
        if not 0.0 < self.squeeze <= 1.0:
            raise ValueError("fault squeeze must be in (0, 1]")

    def update(self, values: dict[str, Any]) -> None:
        """Set some faults; ValueError (and nothing changed) when a name or value is bad."""
        known = {f.name for f in fields(self)}
        new = asdict(self)
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown fault {key!r} (known: {', '.join(sorted(known))})")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"fault {key} must be a number")
            new[key] = int(value) if key == "reject" else float(value)
        candidate = Faults(**new)
        for key in known:
            setattr(self, key, getattr(candidate, key))

    def seed(self, seed: int) -> None:
        self.rng.seed(seed)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def gap_now(self) -> bool:
        return self.gap > 0 and self.rng.random() < self.gap

    def drop_now(self) -> bool:
        return self.drop > 0 and self.rng.random() < self.drop

    def take_reject(self) -> bool:
        """True (and one fewer left) while orders are to be rejected."""
        if self.reject > 0:
            self.reject -= 1
            return True
        return False


def parse_faults(spec: str | None) -> Faults:
    """``"gap=0.001,drop=0.01,reject=3"`` -> Faults; ValueError with the offending item."""
    faults = Faults()
    if not spec:
        return faults
    values: dict[str, Any] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"fault {item!r} must look like name=value")
        try:
            values[key.strip()] = int(raw) if key.strip() == "reject" else float(raw)
        except ValueError:
            raise ValueError(f"fault {key.strip()} value {raw!r} is not a number") from None
    faults.update(values)
    return faults

