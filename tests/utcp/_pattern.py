"""The deterministic byte streams both ends of the userspace-stack tests send (known to the checker)."""
from __future__ import annotations

import hashlib


def pattern(seed: int, n: int) -> bytes:
    """n pseudo-random bytes (SHA-256 in counter mode)."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(seed.to_bytes(8, "big") + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:n])
