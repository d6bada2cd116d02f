"""`--md multicast-process`: the feed handler runs in its own process and hands book events to the engine
through the shared-memory ring; when that process is killed mid-run the engine stops quoting and says why."""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections.abc import Iterator

import pytest
from engine_sys import engine_run, venue_call, wait_until

from tickwire.config import load
from tickwire.deribit.venue import Venue, start_sim
from tickwire.engine import risk
from tickwire.types import C_BOOK_UPDATES, C_ORDERS_SENT

pytestmark = pytest.mark.timeout(600)

NAME = "BTC-PERPETUAL"


@pytest.fixture(scope="module")
def mcast_sim() -> Iterator[Venue]:
    venue = start_sim((NAME,), rate=100.0, seed=12, multicast=True)
    try:
        yield venue
    finally:
        venue.close()


def _feed_processes() -> list[mp.Process]:
    return [p for p in mp.active_children() if p.name == "tickwire-md-feed"]


def test_a_killed_feed_process_stops_quoting_and_says_why(mcast_sim):
    seen: dict = {}

    async def scenario(engine, session):
        seen["valid"] = await wait_until(lambda: engine.books.state[0]["valid"] == 1, 30.0)
        seen["quoting"] = await wait_until(lambda: engine.counters[C_ORDERS_SENT] > 0, 15.0)
        feeds = _feed_processes()
        seen["feeds"] = len(feeds)
        # book events do come through the ring: wait for them instead of sampling whatever has arrived so far
        seen["ring_flowing"] = await wait_until(lambda: engine.counters[C_BOOK_UPDATES] > 10, 30.0)
        os.kill(feeds[0].pid, signal.SIGKILL)
        seen["stopped"] = await wait_until(lambda: "md feed process died" in engine.kill_reasons, 10.0)
        seen["killed"] = risk.killed(engine.rstate)

    result = engine_run(mcast_sim, on_ready=scenario, md="multicast-process",
                        until=lambda engine, session: "killed" in seen, timeout_s=120.0)
    assert seen["valid"] and seen["quoting"] and seen["feeds"] == 1
    assert seen["ring_flowing"]
    assert seen["stopped"] and seen["killed"]
    assert "md feed process died" in result.kill_reasons
    assert result.open_orders_left == 0
    assert venue_call(mcast_sim, "private/get_open_orders_by_instrument", instrument_name=NAME) == []
    assert _feed_processes() == []  # stopped and reaped at the end of the run


def test_multicast_process_is_a_valid_md_option():
    assert load(None, {"md": "multicast-process"}).md == "multicast-process"
