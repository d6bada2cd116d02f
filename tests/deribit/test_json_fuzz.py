"""Benchmark-tier fuzz run (``make bench``): one million derandomised inputs through the compiled JSON decoder and
the reference decoder, 0 mismatches. Inputs: valid Deribit messages (canonical and respelled), damaged copies of
them, and damaged copies of the recorded samples in tests/data/deribit; input k is drawn from ``Random(k)``, so a
mismatch report names a seed that reproduces it."""
from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import pytest

import json_messages as gen
from tickwire.deribit import _ref, json_decode as dj

N_INPUTS = 1_000_000
SAMPLES = [p.read_bytes() for p in sorted((Path(__file__).resolve().parents[1] / "data" / "deribit").glob("*.json"))]


def fuzz_input(seed: int) -> bytes:
    """Input number ``seed``: nine in ten from the generators, one in ten a damaged recorded sample."""
    rnd = random.Random(seed)
    if rnd.random() < 0.1:
        return gen.damage(rnd.choice(SAMPLES), rnd)
    return gen.mixed(rnd)


@pytest.mark.bench
@pytest.mark.timeout(7200)
def test_one_million_inputs_zero_mismatches(capsys: pytest.CaptureFixture[str]) -> None:
    table = gen.table()
    events, resps, _ = dj.new_outputs(events=4096, resps=4)
    verdicts = {"events": 0, "response": 0, "fallback": 0}
    mismatches: list[int] = []
    t0 = time.monotonic()
    for seed in range(N_INPUTS):
        raw = fuzz_input(seed)
        b = np.frombuffer(raw, dtype=np.uint8)
        status, n_ev, n_resp = dj.decode_message(b, 0, len(b), table.active, events, 0, resps, 0, 0, 0)
        if status == dj.DEC_EVENTS:
            got: tuple = ("events", _ref.event_tuples(events[:n_ev]))
        elif status == dj.DEC_RESPONSE:
            got = ("response", _ref.response_tuple(resps[0]))
        else:
            verdicts["fallback"] += 1
            continue
        verdicts[got[0]] += 1
        if got != _ref.ref_decode(raw, table):
            mismatches.append(seed)
        if seed % 100_000 == 99_999:
            with capsys.disabled():
                print(f"\nJSON fuzz: {seed + 1:,} inputs, {len(mismatches)} mismatches", flush=True)
    seconds = time.monotonic() - t0
    with capsys.disabled():
        print(f"\nJSON fuzz: {N_INPUTS:,} inputs in {seconds:.0f} s: {verdicts['events']:,} event messages and "
              f"{verdicts['response']:,} order answers compared, {verdicts['fallback']:,} fallbacks, "
              f"{len(mismatches)} mismatches")
    assert not mismatches, f"mismatching seeds (fuzz_input(seed) reproduces each): {mismatches[:20]}"
    assert verdicts["events"] + verdicts["response"] > N_INPUTS // 3  # the comparison ran on real decodes
