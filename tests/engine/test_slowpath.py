"""The engine's slow path without a network: venue answers and notifications in any order, duplicated, or left
to orjson by the compiled decoder, drive the order table, positions and the kill switch consistently."""
from __future__ import annotations

import numpy as np
import pytest

from tickwire.config import load
from tickwire.engine.hotpath import ORDER_ID_BASE, REQ_NEW
from tickwire.engine.engine import Engine, Instrument
from tickwire.engine.probes import summarize
from tickwire.engine.strategy import Strategy, buy
from tickwire.native import lib
from tickwire.types import C_DUPLICATES, ORD_FILLED, ORD_OPEN, ORD_PARTIALLY_FILLED, ORD_REJECTED

# the first engine in a process compiles the compiled path (minutes on a cold numba cache)
pytestmark = pytest.mark.timeout(900)

BTC = {"instrument_name": "BTC-PERPETUAL", "tick_size": 0.5, "min_trade_amount": 10.0, "base_currency": "BTC"}


class Quiet(Strategy):
    pass


def _engine_with_one_order(amount_lots: int = 3) -> Engine:
    e = Engine(load(None, {"risk": {"max_position": 50.0}}), [Instrument(BTC)], Quiet, "twq-")
    e.bid[0], e.ask[0] = 180_000, 180_002  # a valid top of book for the risk check
    assert e.submit([buy(0, 180_000, amount_lots)]) > 0
    return e


def _order(state: str, filled_usd: float, ts: int) -> dict:
    return {"order_id": "ETH-1", "label": "twq-1", "order_state": state, "filled_amount": filled_usd,
            "last_update_timestamp": ts, "instrument_name": "BTC-PERPETUAL", "replaced": False}


def _notify(e: Engine, channel: str, data) -> None:
    e._on_json({"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}})


def test_notification_before_the_answer_and_duplicates_end_consistent():
    e = _engine_with_one_order()
    _notify(e, "user.orders.BTC-PERPETUAL.raw", _order("open", 10.0, 5))  # races ahead of the answer
    answer = {"jsonrpc": "2.0", "id": ORDER_ID_BASE + 4 * 1 + REQ_NEW, "usOut": 4000,
              "result": {"order": _order("open", 0.0, 4), "trades": []}}
    e._read_tsc = int(lib.tw_rdtsc())  # the read that carried the answer
    e._on_json(answer)  # the (older) answer, via the orjson path
    o = e.orders[1]
    assert o["state"] == ORD_PARTIALLY_FILLED and o["filled"] == 1 and bytes(o["oid"][:5]) == b"ETH-1"
    trade = {"trade_id": "t1", "instrument_name": "BTC-PERPETUAL", "direction": "buy", "price": 90_000.0,
             "amount": 10.0, "fee": 0.0, "label": "twq-1"}
    _notify(e, "user.trades.BTC-PERPETUAL.raw", [trade])
    _notify(e, "user.trades.BTC-PERPETUAL.raw", [trade])  # duplicated delivery
    assert e.positions.positions["BTC-PERPETUAL"].size == 10 and e.counters[C_DUPLICATES] == 1
    _notify(e, "user.orders.BTC-PERPETUAL.raw", [_order("filled", 30.0, 9), _order("open", 20.0, 7)])
    assert o["state"] == ORD_FILLED and o["filled"] == 3 and e.live_order_count() == 0
    assert e.expo[0]["position"] == 1  # position in lots, from fills
    assert e.probes.rtt_samples_ns(0).size == 1  # order placement measured once


def test_refused_order_is_rejected_and_a_position_breach_fires_the_kill_switch():
    e = _engine_with_one_order()
    e._on_json({"jsonrpc": "2.0", "id": ORDER_ID_BASE + 4, "error": {"code": 10028, "message": "too_many_requests"}})
    assert e.orders[1]["state"] == ORD_REJECTED and e.counter_dict()["rate_limited"] == 1
    assert e.cstate[0]["level"] == 0  # the matching-engine credit mirror was drained
    big = {"trade_id": "t9", "instrument_name": "BTC-PERPETUAL", "direction": "sell", "price": 90_000.0,
           "amount": 600.0, "fee": 0.0, "label": ""}  # a fill from elsewhere on the account, over the limit
    _notify(e, "user.trades.BTC-PERPETUAL.raw", [big])
    assert not e.kill_reasons and e.refused_fills == 1  # not our order: only the venue's position may say so
    e._reconcile_positions([("BTC-PERPETUAL", -600.0, 90_000.0)], force=True)
    assert e.kill_reasons == {"breach"} and e.rstate[0]["killed"] == 1
    assert e.submit([buy(0, 180_000, 1)]) == 0  # nothing new passes


def test_order_state_from_the_compiled_decoder_record():
    e = _engine_with_one_order()
    rec = e._resp_from_json(ORDER_ID_BASE + 4, {"usOut": 1_000_000, "result": {"order": _order("open", 0.0, 1)}})
    e._on_order_answer(ORDER_ID_BASE + 4, rec)
    assert e.orders[1]["state"] == ORD_OPEN and e.orders[1]["oid_len"] == 5


def test_summaries_match_numpy_percentiles():
    rng = np.random.default_rng(1)
    ns = rng.lognormal(10, 1, 20_000)
    s = summarize("x", ns)
    assert s.count == 20_000
    for got, q in ((s.p50, 50), (s.p99, 99)):
        assert got == pytest.approx(np.percentile(ns, q) / 1e3, rel=2e-3)
    assert s.max == pytest.approx(ns.max() / 1e3, rel=1e-3)
    assert summarize("empty", np.zeros(0)).count == 0


def test_report_prints_the_latency_table_rows_and_columns():
    from io import StringIO

    from rich.console import Console

    from tickwire.engine.report import print_run
    from tickwire.engine.run import LATENCY_ROWS, RunResult

    rows = [summarize(name, np.array([1000.0, 2000.0, 3000.0])) for name in LATENCY_ROWS]
    result = RunResult(rows, rows[:1], {"orders_sent": 3}, {"BTC-PERPETUAL": {
        "size": 10.0, "average_price": 90000.0, "realized_pnl": 1e-9, "floating_pnl": 0.0, "fees": 0.0, "fills": 1}},
        {"BTC-PERPETUAL": 10.0}, 0, 1.0)
    out = StringIO()
    print_run(result, Console(file=out, width=140))
    text = out.getvalue()
    for word in (*LATENCY_ROWS, "avg", "p50", "p95", "p99", "max", "orders_sent", "1.000e-09", "open orders left"):
        assert word in text
