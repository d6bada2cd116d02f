"""Rate-limit tiers: the market-maker tier "mm" lets the benchmark's 1000 orders/s and position polls through."""
from __future__ import annotations

import pytest

from tickwire.sim.config import SimConfig
from tickwire.sim.ratelimit import RateLimiter


def test_mm_tier_allows_a_burst_that_tier_1_refuses():
    mm, t1 = RateLimiter("mm"), RateLimiter("1")
    assert sum(mm.allow(True) for _ in range(1500)) == 1500
    assert sum(t1.allow(True) for _ in range(1500)) < 150
    assert sum(mm.allow(False) for _ in range(400)) == 400  # non-matching: 500 burst, not 100
    assert mm.limits_json()["matching_engine"] == {"rate": 2000, "burst": 4000}
    assert t1.limits_json()["non_matching_engine"] == {"rate": 20, "burst": 100}


def test_an_unknown_tier_is_a_clear_config_error():
    with pytest.raises(ValueError, match="tier must be one of 1, 2, 3, 4, mm"):
        SimConfig(tier="9")
