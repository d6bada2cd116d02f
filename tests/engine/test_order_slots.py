"""The order table takes its slots from a pool: a full table refuses a new order (counted) and never overwrites a
live one, a finished order gives its slot back, and a late message about it finds nothing once the slot is
reused. Through the engine's real order path and slow path, no network."""
from __future__ import annotations

import pytest

from tickwire.config import load
from tickwire.engine.engine import Engine, Instrument
from tickwire.engine.hotpath import ORDER_ID_BASE, REQ_NEW
from tickwire.engine.pool import pool_stats
from tickwire.engine.strategy import Strategy, buy
from tickwire.types import ORD_CANCELLED, ORD_FILLED, ORD_PENDING_NEW

# the first engine in a process compiles the compiled path (minutes on a cold numba cache)
pytestmark = pytest.mark.timeout(900)

BTC = {"instrument_name": "BTC-PERPETUAL", "tick_size": 0.5, "min_trade_amount": 10.0, "base_currency": "BTC"}


class Quiet(Strategy):
    pass


def _answer(e: Engine, cid: int, state: str, filled_usd: float = 0.0) -> None:
    order = {"order_id": f"BTC-{cid}", "label": f"twp-{cid}", "order_state": state, "filled_amount": filled_usd,
             "last_update_timestamp": 10 + cid, "instrument_name": "BTC-PERPETUAL", "replaced": False}
    e._on_json({"jsonrpc": "2.0", "id": ORDER_ID_BASE + 4 * cid + REQ_NEW, "usOut": 4000,
                "result": {"order": order, "trades": []}})


def _slots(e: Engine) -> dict[str, int]:
    return pool_stats(e.acct.slot_free, e.acct.slot_state)


def test_a_full_order_table_refuses_and_a_finished_order_gives_its_slot_back():
    e = Engine(load(None, {"risk": {"max_position": 50.0, "max_open_orders": 10}}), [Instrument(BTC)], Quiet,
               "twp-", order_capacity=4)
    e.bid[0], e.ask[0] = 180_000, 180_002  # a valid top of book for the risk check
    for k in range(4):
        assert e.submit([buy(0, 180_000 - k, 1)]) > 0
    assert sorted(e.orders["cid"].tolist()) == [1, 2, 3, 4]  # slots 1, 2, 3, then 0
    assert e.submit([buy(0, 179_990, 1)]) == 0  # every slot holds a live order
    c = e.counter_dict()
    assert c["order_slots_refused"] == 1 and c["risk_refused"] == 1
    assert (e.orders["state"] == ORD_PENDING_NEW).all() and sorted(e.orders["cid"].tolist()) == [1, 2, 3, 4]

    _answer(e, 2, "cancelled")  # order 2 finishes: its slot (2) goes back, its record still readable
    assert e.orders[2]["state"] == ORD_CANCELLED and e.orders[2]["cid"] == 2
    assert _slots(e)["in_use"] == 3
    assert e.submit([buy(0, 179_990, 1)]) > 0
    assert e.orders[2]["cid"] == 6 and e.orders[2]["state"] == ORD_PENDING_NEW  # 4 + (2 - 4) mod 4: ids only grow
    _answer(e, 2, "filled", 10.0)  # a late answer about order 2: not ours any more, order 6 untouched
    assert e.orders[2]["state"] == ORD_PENDING_NEW and e.orders[2]["filled"] == 0

    _answer(e, 6, "filled", 10.0)
    _answer(e, 6, "filled", 10.0)  # a duplicate: the slot is given back once
    assert e.orders[2]["state"] == ORD_FILLED
    s = _slots(e)
    assert s["in_use"] == 3 and s["bad_releases"] == 0 and s["refused"] == 1 and s["high_water"] == 4


def test_with_room_to_spare_a_finished_order_stays_readable_until_every_other_slot_was_used():
    e = Engine(load(None, {"risk": {"max_position": 50.0}}), [Instrument(BTC)], Quiet, "twp-", order_capacity=8)
    e.bid[0], e.ask[0] = 180_000, 180_002
    assert e.submit([buy(0, 180_000, 1)]) > 0
    _answer(e, 1, "cancelled")
    for k in range(6):  # slots 2..7: the freed slot 1 waits behind them
        assert e.submit([buy(0, 179_999 - k, 1)]) > 0
        _answer(e, 2 + k, "cancelled")
    assert e.orders[1]["cid"] == 1 and e.orders[1]["state"] == ORD_CANCELLED
    assert e.submit([buy(0, 179_980, 1)]) > 0  # slot 0 (cid 8), never used before
    assert e.orders[0]["cid"] == 8 and e.orders[1]["cid"] == 1
    assert e.submit([buy(0, 179_979, 1)]) > 0  # now slot 1 again: cid 9
    assert e.orders[1]["cid"] == 9 and e.live_order_count() == 2
