"""Faults injected by the real simulator (sim/control): gap, dropped connection, rate limits, rejects; and the
kill switch. Each test drives one short engine run over real loopback sockets."""
from __future__ import annotations

import pytest

import asyncio

import numpy as np
from engine_sys import book_levels, engine_run, venue_call, wait_until

from tickwire.engine import risk
from tickwire.deribit.session import SessionClosed
from tickwire.types import BOOK_ASK, BOOK_BID, C_ORDERS_SENT, C_REJECTS, C_RESYNCS, ORD_REJECTED

# the first engine in a process compiles the compiled path (minutes on a cold numba cache)
pytestmark = pytest.mark.timeout(900)


NAME = "BTC-PERPETUAL"
MM_FAST = {"half_spread": 0.5, "requote": 1.0, "size": 1.0, "max_position": 5.0}


def _labels(orders: list[dict], prefix: str) -> list[str]:
    return sorted(o["label"] for o in orders if o.get("label", "").startswith(prefix))


def test_change_id_gap_resyncs_and_the_book_equals_the_venue(static_sim):
    seen: dict = {}

    async def scenario(engine, session):
        await wait_until(lambda: engine.books.state[0]["valid"] == 1)
        best_bid = engine.books.levels(0, BOOK_BID)[0][0] * engine.inst[0].tick_size
        order = {"instrument_name": NAME, "amount": 10, "type": "limit"}
        await session.request("sim/control", {"gap": 1.0})
        await session.request("private/buy", {**order, "price": best_bid - 50, "label": "gap-a"})
        await asyncio.sleep(0.2)
        await session.request("sim/control", {"gap": 0.0})
        await session.request("private/sell", {**order, "price": best_bid + 60, "label": "gap-b"})
        seen["resynced"] = await wait_until(
            lambda: engine.counters[C_RESYNCS] >= 1 and engine.books.state[0]["valid"] == 1)
        venue = await session.request("public/get_order_book", {"instrument_name": NAME, "depth": 10000})
        seen["venue"] = venue
        seen["ours"] = {"bids": book_levels(engine, 0, BOOK_BID), "asks": book_levels(engine, 0, BOOK_ASK),
                        "change_id": int(engine.books.state[0]["last_change_id"])}
        await session.request("private/cancel_all", {})

    result = engine_run(static_sim, on_ready=scenario, strategy="engine_sys:Idle", duration_s=0.1)
    assert seen["resynced"] and result.counters["resyncs"] >= 1
    venue, ours = seen["venue"], seen["ours"]
    assert ours["change_id"] == venue["change_id"]
    assert ours["bids"] == venue["bids"] and ours["asks"] == venue["asks"]
    assert [best - 50 for best, _ in ours["bids"][:1]] != []  # the book is not empty


def test_dropped_connection_reconnects_with_no_lost_or_duplicated_order(sim):
    seen: dict = {}

    async def scenario(engine, session):
        await wait_until(lambda: engine.live_order_count() >= 2)
        sent_before = int(engine.counters[C_ORDERS_SENT])
        try:  # the venue closes this connection right after (or instead of) the answer
            await session.request("sim/control", {"close": "self"})
        except SessionClosed:
            pass
        seen["reconnected"] = await wait_until(lambda: session.reconnects >= 1 and session.ready.is_set())
        await wait_until(lambda: engine.counters[C_ORDERS_SENT] > sent_before + 1)
        # freeze the strategy (no cancel_all), let in-flight answers land, then compare both sides
        risk.kill(engine.rstate)
        await asyncio.sleep(0.5)
        venue = await session.request("private/get_open_orders_by_instrument", {"instrument_name": NAME})
        live = engine.orders[[bool(s) for s in np.isin(engine.orders["state"], (1, 2, 3, 7, 8))]]
        seen["venue"] = _labels(venue, engine.label)
        seen["ours"] = sorted(f"{engine.label}{int(c)}" for c in live["cid"])
        seen["cids_used"] = int(engine.op.ids[0]) - 1
        seen["sent"] = int(engine.counters[C_ORDERS_SENT])
        risk.rearm(engine.rstate)

    result = engine_run(sim, on_ready=scenario, duration_s=0.1, strategy_params=MM_FAST)
    assert seen["reconnected"] and result.counters["reconnects"] >= 1
    assert seen["ours"] == seen["venue"]  # 0 lost: every live order is on the venue and nothing else is
    assert len(set(seen["venue"])) == len(seen["venue"])  # 0 duplicated labels on the venue
    assert seen["sent"] == seen["cids_used"] >= 3  # one request per client id: nothing was resent
    assert result.open_orders_left == 0
    # the venue lists only instruments the account has traded (as Deribit does): none means flat
    assert result.positions[NAME]["size"] == result.venue_positions.get(NAME, 0.0)


def test_rate_limit_backs_off_without_a_ban(sim):
    seen: dict = {}

    async def scenario(engine, session):
        await session.request("sim/control", {"squeeze": 0.02})
        seen["limited"] = await wait_until(lambda: engine.counter_dict()["rate_limited"] >= 1)
        await session.request("sim/control", {"squeeze": 1.0}, retries=20)
        after = int(engine.counters[C_ORDERS_SENT])
        acked = lambda: int((engine.orders["ack_tsc"] > 0).sum())  # noqa: E731
        acked_before = acked()
        seen["resumed"] = await wait_until(lambda: acked() > acked_before and engine.counters[C_ORDERS_SENT] > after)
        seen["ready"] = session.ready.is_set()

    result = engine_run(sim, on_ready=scenario, duration_s=0.1,
                        strategy_params={**MM_FAST, "requote": 1.0}, risk={"max_orders_per_s": 200.0})
    assert seen["limited"], result.counters
    assert seen["resumed"] and seen["ready"]
    assert result.open_orders_left == 0


def test_rejected_orders_are_final_and_trading_continues(sim):
    seen: dict = {}

    async def scenario(engine, session):
        await session.request("sim/control", {"reject": 3})
        seen["rejected"] = await wait_until(lambda: engine.counters[C_REJECTS] >= 3)
        seen["states"] = int((engine.orders["state"] == ORD_REJECTED).sum())
        seen["live_after"] = await wait_until(lambda: engine.live_order_count() >= 1)

    result = engine_run(sim, on_ready=scenario, duration_s=0.1, strategy_params=MM_FAST)
    assert seen["rejected"] and seen["states"] >= 3 and seen["live_after"]
    assert result.counters["rejects"] >= 3 and result.open_orders_left == 0


def test_kill_switch_cancels_everything_and_stops_quoting(sim):
    seen: dict = {}

    async def scenario(engine, session):
        await wait_until(lambda: engine.live_order_count() >= 2)
        engine.kill("test: on demand")
        sent = int(engine.counters[C_ORDERS_SENT])
        seen["flat"] = await wait_until(lambda: engine.live_order_count() == 0)
        await asyncio.sleep(0.5)
        seen["venue"] = await session.request("private/get_open_orders_by_instrument", {"instrument_name": NAME})
        seen["new_orders"] = int(engine.counters[C_ORDERS_SENT]) - sent

    result = engine_run(sim, on_ready=scenario, duration_s=0.1, strategy_params=MM_FAST)
    assert seen["flat"] and seen["venue"] == [] and seen["new_orders"] == 0
    assert "test" in result.kill_reasons and result.counters["risk_refused"] >= 1
    assert venue_call(sim, "private/get_open_orders_by_instrument", instrument_name=NAME) == []
