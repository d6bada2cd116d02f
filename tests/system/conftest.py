"""System tests: the real simulator (a subprocess on loopback, ephemeral port) and the real engine over sockets."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tickwire.deribit.venue import Venue, start_sim


@pytest.fixture(scope="module")
def sim() -> Iterator[Venue]:
    venue = start_sim(("BTC-PERPETUAL",), rate=100.0, seed=7)
    try:
        yield venue
    finally:
        venue.close()


@pytest.fixture(scope="module")
def static_sim() -> Iterator[Venue]:
    """No synthetic flow: the book only changes when a test trades, so it can be compared exactly."""
    venue = start_sim(("BTC-PERPETUAL",), rate=0.0, seed=3)
    try:
        yield venue
    finally:
        venue.close()
