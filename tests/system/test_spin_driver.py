"""The spin driver against the real simulator over real loopback sockets: it trades, the asyncio slow path keeps
running between its slices while the market is idle (every read an EAGAIN), and a connection the venue closes
while it spins is detected and reconnected without a lost order."""
from __future__ import annotations

import asyncio
import time

import pytest
from engine_sys import venue_call, wait_until

from tickwire.config import load
from tickwire.engine.run import RunResult, run_async

from tickwire.types import C_ORDERS_SENT, RTT_POSITION

# the first engine in a process compiles the compiled path (minutes on a cold numba cache)
pytestmark = pytest.mark.timeout(900)

MM_FAST = {"half_spread": 0.5, "requote": 1.0, "size": 1.0, "max_position": 5.0}


def spin_run(venue, scenario, **overrides) -> RunResult:
    """One engine run with the spin driver, bounded in time (its slice compiles at warm-up: minutes when loaded)."""
    cfg = load(None, {"driver": "spin", **overrides})
    return asyncio.run(asyncio.wait_for(run_async(cfg, venue, on_ready=scenario), 600))


def test_the_slow_path_runs_between_slices_in_an_idle_market(static_sim):
    seen: dict = {}

    async def scenario(engine, session):
        polls = int(engine.probes.count[0]["rtt"][RTT_POSITION])
        ticks, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < 1.0:  # another task on the same event loop while the driver spins
            await asyncio.sleep(0.001)
            ticks += 1
        seen["ticks"] = ticks
        seen["polls"] = int(engine.probes.count[0]["rtt"][RTT_POSITION]) - polls
        seen["test"] = await session.request("public/test", {})  # a slow-path request through the same socket

    result = spin_run(static_sim, scenario, strategy="engine_sys:Idle", duration_s=0.2)
    assert result.driver.startswith("spin on cpu")
    assert seen["ticks"] >= 50  # the loop got the thread back hundreds of times a second (1 ms sleeps)
    assert seen["polls"] >= 3  # private/get_positions every 100 ms kept being answered
    assert "version" in seen["test"]


def test_a_connection_closed_by_the_venue_while_spinning_reconnects_with_no_order_left(sim):
    seen: dict = {}

    async def scenario(engine, session):
        await wait_until(lambda: engine.counters[C_ORDERS_SENT] >= 2, 15.0)
        await session.request("sim/control", {"close_every": 0.5})
        seen["reconnected"] = await wait_until(lambda: session.reconnects >= 1 and session.ready.is_set(), 20.0)
        await session.request("sim/control", {"close_every": 0.0})
        before = int(engine.counters[C_ORDERS_SENT])
        seen["traded_after"] = await wait_until(lambda: engine.counters[C_ORDERS_SENT] > before, 15.0)

    result = spin_run(sim, scenario, duration_s=0.5, strategy_params=MM_FAST)
    assert seen["reconnected"] and seen["traded_after"]
    assert result.driver.startswith("spin on cpu") and "closed" in result.driver
    assert result.open_orders_left == 0
    assert result.latency[0].count > 0  # order round trips end at the read the spin driver made
    assert [o for o in venue_call(sim, "private/get_open_orders_by_instrument", instrument_name="BTC-PERPETUAL")
            if o.get("label", "").startswith("tw")] == []
