"""Deribit's credit-based rate limiter: a bucket that refills continuously; each request costs credits.

Defaults (Deribit support article): non-matching-engine requests cost 500 credits from a 50,000 bucket refilled
at 10,000/s (20 req/s sustained, burst 100). Matching-engine requests use a tier's rate and burst.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

NON_MATCHING_COST = 500
NON_MATCHING_MAX = 50_000
NON_MATCHING_REFILL = 10_000
CREDITS_PER_REQUEST = 1_000

#: matching-engine tiers: requests/s sustained, burst (tier 1 is the most generous Deribit grants by volume;
#: "mm" stands for the custom limits Deribit agrees with market makers, sized for the benchmark's 1000 orders/s).
TIERS: dict[str, tuple[float, float]] = {"1": (30, 100), "2": (20, 50), "3": (10, 30), "4": (5, 20),
                                         "mm": (2000, 4000)}
#: non-matching requests/s and burst where a tier grants more than the default 20/s, 100 (position polls of
#: several currencies every 100 ms alone take 20/s)
NON_MATCHING_TIERS: dict[str, tuple[float, float]] = {"mm": (100, 500)}
NON_MATCHING_DEFAULT = (NON_MATCHING_REFILL / NON_MATCHING_COST, NON_MATCHING_MAX / NON_MATCHING_COST)


@dataclass
class Bucket:
    """A leaky credit bucket; ``scale`` (the squeeze fault) shrinks both capacity and refill."""

    capacity: float
    refill_per_s: float
    credits: float = -1.0
    stamp: float = 0.0

    def __post_init__(self) -> None:
        if self.credits < 0:
            self.credits = self.capacity
        self.stamp = time.monotonic()

    def take(self, cost: float, scale: float = 1.0, now: float | None = None) -> bool:
        """Spend ``cost`` credits if available (True), else leave the bucket as is (False)."""
        now = time.monotonic() if now is None else now
        cap = self.capacity * scale
        self.credits = min(cap, self.credits + (now - self.stamp) * self.refill_per_s * scale)
        self.stamp = now
        if self.credits >= cost:
            self.credits -= cost
            return True
        return False


class RateLimiter:
    """The two buckets of one account (or one unauthenticated connection). ``tier`` None = unlimited."""

    def __init__(self, tier: str | None = "1", enabled: bool = True) -> None:
        self.enabled = enabled
        nm_rate, nm_burst = NON_MATCHING_TIERS.get(tier or "", NON_MATCHING_DEFAULT)
        self.non_matching = Bucket(nm_burst * NON_MATCHING_COST, nm_rate * NON_MATCHING_COST)
        self.matching: Bucket | None = None
        if tier is not None:
            rate, burst = TIERS[tier]
            self.matching = Bucket(burst * CREDITS_PER_REQUEST, rate * CREDITS_PER_REQUEST)
        self.tier = tier

    def allow(self, matching_engine: bool, scale: float = 1.0) -> bool:
        """Charge one request; False when the account is over its limit."""
        if not self.enabled:
            return True
        if matching_engine:
            return self.matching is None or self.matching.take(CREDITS_PER_REQUEST, scale)
        return self.non_matching.take(NON_MATCHING_COST, scale)

    def limits_json(self) -> dict[str, dict[str, float]]:
        """The ``limits`` object of the account summary (rate and burst 0: the tier is unlimited)."""
        me = TIERS.get(self.tier or "", (0, 0))
        nm = NON_MATCHING_TIERS.get(self.tier or "", NON_MATCHING_DEFAULT)
        return {"matching_engine": {"rate": me[0], "burst": me[1]},
                "non_matching_engine": {"rate": nm[0], "burst": nm[1]}}
