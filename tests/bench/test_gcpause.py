"""The collector's pauses in a benchmark client: counted and timed per generation."""
from __future__ import annotations

import gc

from tickwire.bench.gcpause import GcPauses


def test_every_collection_is_counted_and_timed_in_its_generation():
    pauses = GcPauses()
    pauses.install()
    try:
        junk = [[i] for i in range(200_000)]  # something for a full collection to walk
        gc.collect(2)
        gc.collect(0)
        del junk
    finally:
        pauses.remove()
    c = pauses.counters()
    assert c["gc2_collections"] >= 1 and c["gc0_collections"] >= 1
    assert c["gc2_max_us"] > 0 and c["gc2_total_us"] >= c["gc2_max_us"]
    assert c["gc2_objects"] > 0
    gc.collect(2)  # removed: no longer counted
    assert pauses.counters()["gc2_collections"] == c["gc2_collections"]

