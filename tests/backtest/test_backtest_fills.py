"""Fills of `tickwire backtest` on small crafted captures, against hand-computed expectations.

Each crafted capture runs through both venue models (compiled and Python), which must give identical results.
BTC-PERPETUAL: tick 0.5 USD, lot 10 USD. Latency constant:1000 = 1 ms each way; the messages' exchange time equals
their capture time (no feed latency) unless a test adds one.
"""
from __future__ import annotations

import orjson
import pytest

import crafted
from crafted import book, trades
from tickwire.engine.backtest import Backtest, BacktestConfig, BacktestError
from tickwire.types import SIDE_BUY

pytestmark = pytest.mark.timeout(900)  # the first run of a process compiles the pass

MS = crafted.MS
SNAP = book(0, 10, [["new", 100.0, 50.0], ["new", 99.5, 100.0]], [["new", 100.5, 50.0], ["new", 101.0, 100.0]])


def _run(tmp_path, messages, strategy="bt_strategies:OneBid", feed_latency_ms=0, **kw):
    """The capture through both venue models (a numba strategy: the compiled one and the Python reference), which
    must agree exactly; returns the run."""
    cap = crafted.write(tmp_path / "c.pcap", messages, feed_latency_ms)
    compiled, reference = (Backtest(BacktestConfig(cap, strategy, batch=batch, **kw)).run() for batch in (True, False))
    assert compiled.summary() == reference.summary()
    assert compiled.fills == reference.fills and compiled.curve == reference.curve
    return compiled


def _fills(result):
    return [(f["ts_ns"] - crafted.T0, f["side"], f["price"], f["amount"], f["maker"]) for f in result.fills]


QUEUE = [
    SNAP,  # bid 100.0 x 5 lots: our 2-lot bid sent at 0 ms reaches the venue at 1 ms, behind 5 lots
    trades(2, ("sell", 100.0, 30.0)),  # 3 lots traded at our price: 2 ahead
    book(2, 11, [["change", 100.0, 20.0]], [], prev=10),
    trades(3, ("sell", 100.0, 30.0), first_id=5),  # 3 more: 2 ahead are gone, 1 lot fills us
    book(3, 12, [["delete", 100.0, 0.0]], [], prev=11),
    trades(5, ("sell", 99.5, 10.0), first_id=9),  # a trade through our price: the rest fills
    book(6, 13, [["change", 99.5, 90.0]], [], prev=12),
]


def test_riskaverse_queue_fills_behind_the_level_then_through_it(tmp_path):
    r = _run(tmp_path, QUEUE, maker_fee=-0.0001)
    assert _fills(r) == [(3 * MS, SIDE_BUY, 200, 1, True), (5 * MS, SIDE_BUY, 200, 1, True)]
    s = r.summary()
    assert s["orders"] == 1 and s["fills"] == 2 and s["filled_lots"] == 2 and s["position_lots"] == 2
    # two maker fills of 10 USD at 100.0 with a 0.01% rebate: -1e-5 BTC each
    assert s["fees"] == pytest.approx(-2e-5)
    # long 20 USD from 100.0, last mid (99.5 + 100.5) / 2 = 100.0: no floating PnL
    assert s["floating_pnl"] == pytest.approx(0.0) and s["realized_pnl"] == 0.0
    assert s["pnl"] == pytest.approx(2e-5)


def test_same_capture_same_result(tmp_path):
    a = _run(tmp_path, QUEUE).summary()
    b = _run(tmp_path, QUEUE).summary()
    assert a == b and a["fills"] == 2


def test_latency_decides_the_place_in_the_queue(tmp_path):
    # 2.5 ms each way: the order reaches the venue at 2.5 ms, after the first trades; the level then holds 2 lots
    # (ahead 2); the 3 lots traded at 3 ms leave 1 lot for us, then the trade through fills the other
    r = _run(tmp_path, QUEUE, latency="constant:2500")
    assert _fills(r) == [(3 * MS, SIDE_BUY, 200, 1, True), (5 * MS, SIDE_BUY, 200, 1, True)]
    # 4 ms each way: it arrives after the level was deleted (ahead 0): only the trade through at 5 ms fills it
    r = _run(tmp_path, QUEUE, latency="constant:4000")
    assert _fills(r) == [(5 * MS, SIDE_BUY, 200, 2, True)]


CANCELS = [
    SNAP,  # we join behind 5 lots at 1 ms
    book(2, 11, [["change", 100.0, 100.0]], [], prev=10),  # 5 lots join behind us: level 10
    book(3, 12, [["change", 100.0, 60.0]], [], prev=11),  # 4 lots cancelled, no trade
    trades(4, ("sell", 100.0, 40.0)),  # 4 lots traded at our price
    book(4, 13, [["change", 100.0, 20.0]], [], prev=12),
]


def test_prob_queue_moves_up_on_cancels_riskaverse_does_not(tmp_path):
    # riskaverse: the cancels were behind us (ahead stays 5); 4 traded -> 1 ahead, no fill
    assert _fills(_run(tmp_path, CANCELS, queue="riskaverse")) == []
    # prob: 4 cancelled x 5/10 ahead of us -> 3 ahead; 4 traded -> 1 lot fills us
    assert _fills(_run(tmp_path, CANCELS, queue="prob")) == [(4 * MS, SIDE_BUY, 200, 1, True)]


def test_market_order_takes_the_book_and_pays_the_taker_fee(tmp_path):
    # Python tier: market buy of 7 lots: 5 at 100.5, 2 at 101.0, at the venue at 1 ms
    r = _run(tmp_path, QUEUE, strategy="bt_strategies:MarketOnce", params={"size": 7}, taker_fee=0.0005)
    assert _fills(r) == [(1 * MS, SIDE_BUY, 201, 5, False), (1 * MS, SIDE_BUY, 202, 2, False)]
    assert r.summary()["fees"] == pytest.approx(50 / 100.5 * 0.0005 + 20 / 101.0 * 0.0005)
    assert r.summary()["position_lots"] == 7


def test_post_only_crossing_bid_is_repriced_one_tick_inside_as_deribit_does(tmp_path):
    # bid at best bid + 2 ticks = 101.0 crosses the 100.5 ask: Deribit (no reject_post_only) moves it to 100.0
    r = _run(tmp_path, QUEUE, params={"offset": 2})
    assert [f[2] for f in _fills(r)] == [200, 200]
    # not post-only: it takes the 5 lots at 100.5 as a taker, then nothing rests
    r = _run(tmp_path, QUEUE, params={"offset": 2, "post_only": 0, "size": 2})
    assert _fills(r) == [(1 * MS, SIDE_BUY, 201, 2, False)]


def test_feed_latency_from_the_capture_delays_what_the_strategy_sees(tmp_path):
    # every message captured 3 ms after the venue sent it: our order (sent at capture time 3 ms, at the venue at
    # 4 ms) joins after the 3 ms trades; the level is gone by then: the trade through at 5 ms fills it whole
    r = _run(tmp_path, QUEUE, feed_latency_ms=3)
    assert _fills(r) == [(5 * MS, SIDE_BUY, 200, 2, True)]


def test_garbage_from_a_strategy_is_refused_and_counted(tmp_path):
    r = _run(tmp_path, QUEUE, strategy="bt_strategies:Garbage")
    assert r.summary()["orders"] == 0 and r.summary()["risk_refused"] >= 1 and r.fills == []
    r = _run(tmp_path, QUEUE, strategy="bt_strategies:Garbage", params={"valid_count": 0})  # returns 1000
    assert r.summary()["orders"] == 0 and r.summary()["risk_refused"] >= 1


def test_a_raising_python_strategy_is_counted_not_fatal(tmp_path):
    r = _run(tmp_path, QUEUE, strategy="bt_strategies:Raises")
    assert r.summary()["strategy_errors"] >= 1 and r.summary()["messages"] == len(QUEUE)


def test_no_snapshot_for_the_instrument_is_a_clear_error(tmp_path):
    with pytest.raises(BacktestError, match="no book snapshot"):
        _run(tmp_path, QUEUE[1:2])
    with pytest.raises(BacktestError, match="no book snapshot for ETH-PERPETUAL"):
        _run(tmp_path, QUEUE, instrument="ETH-PERPETUAL")


def _learned_capture(tmp_path):
    name = "SOL_USDC-PERPETUAL"  # not in the built-in table: tick 0.01, lot 0.1
    answer = {"jsonrpc": "2.0", "id": 7, "result": [{"instrument_name": name, "tick_size": 0.01,
                                                     "min_trade_amount": 0.1, "kind": "future"}]}

    def sol(msg):
        t, m = msg
        return t, orjson.loads(orjson.dumps(m).replace(b"BTC-PERPETUAL", name.encode()))

    snap = sol(book(0, 10, [["new", 20.0, 0.5]], [["new", 20.01, 0.5]]))
    hit = sol(trades(2, ("sell", 20.0, 1.0)))  # 10 lots traded at our price: 5 ahead, our 2 fill
    return name, crafted.write(tmp_path / "c.pcap", [(0, answer), snap, hit])


def test_an_instrument_learned_from_get_instruments_in_the_capture_is_traded(tmp_path):
    name, cap = _learned_capture(tmp_path)
    r = Backtest(BacktestConfig(cap, "bt_strategies:OneBid", instrument=name)).run()
    assert r.instrument == name
    assert _fills(r) == [(2 * MS, SIDE_BUY, 2000, 2, True)]


def test_messages_of_a_learned_instrument_decode_on_the_compiled_path(tmp_path):
    name, cap = _learned_capture(tmp_path)
    bt = Backtest(BacktestConfig(cap, "bt_strategies:OneBid", instrument=name))
    r = bt.run()
    assert bt.replay.slow_decoded == 0 and bt.replay.decoded == 2  # the book and the trades message
    assert bt.replay.fallbacks["not_recognised"] == 1  # the get_instruments answer itself
    assert _fills(r) == [(2 * MS, SIDE_BUY, 2000, 2, True)]
