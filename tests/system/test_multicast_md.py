"""`--md multicast`: the engine's books come from the real simulator's multicast SBE feed on loopback while its
orders go over the WebSocket session (one short engine run against a simulator subprocess)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from engine_sys import book_levels, counters, engine_run, venue_call, wait_until

from tickwire.config import ConfigError, load
from tickwire.deribit.venue import Venue, start_sim
from tickwire.types import BOOK_ASK, BOOK_BID

pytestmark = pytest.mark.timeout(300)

NAME = "BTC-PERPETUAL"


@pytest.fixture(scope="module")
def mcast_sim() -> Iterator[Venue]:
    venue = start_sim((NAME,), rate=100.0, seed=11, multicast=True)
    try:
        yield venue
    finally:
        venue.close()


def test_multicast_md_trades_and_its_book_equals_the_venue_at_a_change_id(mcast_sim):
    seen: dict = {}

    async def scenario(engine, session):
        seen["channels"] = engine.channels()
        seen["valid"] = await wait_until(lambda: engine.books.state[0]["valid"] == 1)
        # the venue's book at change_id C, and ours right when the answer arrives (nothing runs in between):
        # the multicast packet of C left before the venue answered, the next change comes ~10 ms later
        for _ in range(50):
            venue = await session.request("public/get_order_book", {"instrument_name": NAME, "depth": 10000})
            if int(engine.books.state[0]["last_change_id"]) == venue["change_id"]:
                seen["venue"] = venue
                seen["ours"] = {"bids": book_levels(engine, 0, BOOK_BID), "asks": book_levels(engine, 0, BOOK_ASK)}
                break

    def traded_and_measured(engine, _session) -> bool:
        c = counters(engine)
        return c["book_updates"] > 100 and c["orders_sent"] >= 1 and len(engine.probes.md_samples()) > 100

    result = engine_run(mcast_sim, on_ready=scenario, until=traded_and_measured, md="multicast")
    assert not any(ch.startswith("book.") for ch in seen["channels"])  # no book.* over WebSocket
    assert any(ch.startswith("user.orders.") for ch in seen["channels"])
    assert seen["valid"] and "venue" in seen, "no instant where our book was at the venue's change_id"
    assert seen["ours"]["bids"] == seen["venue"]["bids"] and seen["ours"]["asks"] == seen["venue"]["asks"]
    assert seen["ours"]["bids"] and seen["ours"]["asks"]
    c = result.counters
    assert c["book_updates"] > 100 and c["resyncs"] == 0 and c["reconnects"] == 0
    assert c["orders_sent"] >= 1 and c["rejects"] == 0
    assert result.open_orders_left == 0
    assert venue_call(mcast_sim, "private/get_open_orders_by_instrument", instrument_name=NAME) == []
    lat = {s.name: s for s in result.latency}
    assert lat["Order Placement"].count >= 1
    assert lat["Market Data"].count > 100  # simulator send time -> applied from the multicast feed
    assert 0 < lat["Market Data"].p50 <= lat["Market Data"].max


def test_md_option_is_validated():
    assert load(None, {"md": "multicast"}).md == "multicast"
    assert load(None, {}).md == "websocket"
    with pytest.raises(ConfigError, match="md"):
        load(None, {"md": "udp"})
    with pytest.raises(ConfigError, match="md: multicast"):
        load(None, {"md": "multicast", "venue": "testnet"})
