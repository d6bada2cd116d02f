"""Strategy inputs: real recorded trades and ticker messages reach the numba kernel (with the event time and the
local clock) and the Python tier's on_trade / on_ticker; kernel timers fire; the demo market maker widens after an
aggressive trade against its quote. Real Deribit bytes through the compiled pass, no network."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest
from numba import njit

import synth_session as synth
from tickwire.config import load
from tickwire.engine.engine import Engine, Instrument
from tickwire.engine.strategies.market_maker import MarketMaker
from tickwire.engine.strategy import K_BOOK, K_TICKER, K_TIMER, K_TRADE, NumbaStrategy, Strategy
from tickwire.netstack import ws
from tickwire.types import BOOK_ASK, BOOK_BID, ORD_CANCELLED, ORD_OPEN, SIDE_BUY, SIDE_SELL

pytestmark = pytest.mark.timeout(900)  # the first engine of a process compiles the pass

DATA = Path(__file__).resolve().parents[1] / "data" / "deribit"
BTC = {"instrument_name": "BTC-PERPETUAL", "tick_size": 0.5, "min_trade_amount": 10.0, "base_currency": "BTC"}


def _engine(strategy, **params):
    """An engine on BTC-PERPETUAL without a session: bytes in through its compiled pass, frames out."""
    return Engine(load(None, {"strategy_params": params, "risk": {"price_band_bps": 1000.0}}), [Instrument(BTC)],
                  strategy, "twt-")


def _msg(name: str) -> dict:
    return orjson.loads((DATA / name).read_bytes())


def _feed(e: Engine, msg: dict) -> int:
    """One read through the compiled pass and its slow part; returns the bytes the pass framed."""
    frame = np.frombuffer(synth.ws_frames([orjson.dumps(msg)]), np.uint8)
    ns, n_resp, n_fb, tx_len, sent = e.compiled_pass(frame, 1, -1)
    e.after_pass(ns, n_resp, n_fb, 0, 0)
    return tx_len


LOG_ROWS = 8
LOG_COLS = 6  # kind, side, price, amount, exch_ts (ms), local clock


@njit(_nrt=False)
def recording_kernel(kind, inst, ev, mkt, acct, params, out):
    """Writes each call into its params (a test log: row count in params[0]); asks for a timer on a trade."""
    k = int(params[0])
    if k < LOG_ROWS:
        row = 1 + k * LOG_COLS
        params[row] = kind
        params[row + 1] = ev.side
        params[row + 2] = ev.price
        params[row + 3] = ev.amount
        params[row + 4] = ev.exch_ts // 1_000_000  # ms: exact in a float64
        params[row + 5] = mkt.clock[0]
        params[0] = k + 1
    if kind == K_TRADE:
        mkt.timer[inst] = mkt.clock[0] + 1
    return 0


class Recorder(NumbaStrategy):
    kernel = recording_kernel
    defaults = {f"log{i}": 0.0 for i in range(1 + LOG_ROWS * LOG_COLS)}


def _log(e: Engine) -> list[tuple[int, ...]]:
    p = e.params
    return [tuple(int(x) for x in p[1 + k * LOG_COLS:1 + (k + 1) * LOG_COLS]) for k in range(int(p[0]))]


def test_numba_kernel_sees_each_real_trade_and_ticker_side_with_times_then_its_timer():
    e = _engine(Recorder)
    assert _feed(e, _msg("cmp_trades_BTC-PERPETUAL_raw.json")) == 0
    trades = _log(e)
    # two real trades: taker buys of 5580 and 60 USD at 56168.0 (ticks of 0.5, lots of 10 USD), ts 1616321478553 ms
    assert [r[:5] for r in trades] == [(K_TRADE, SIDE_BUY, 112336, 558, 1616321478553),
                                       (K_TRADE, SIDE_BUY, 112336, 6, 1616321478553)]
    assert all(r[5] > 0 for r in trades)  # the local clock of the pass
    # the timer the trade asked for (1 ns after its pass) is due: the engine's timer entry runs it, once
    e.params[0] = 0
    assert e.mkt.timer[0] > 0
    e.hot.timers(-1)
    log = _log(e)
    assert len(log) == 1 and log[0][0] == K_TIMER and log[0][5] >= trades[0][5] and e.mkt.timer[0] == 0
    e.params[0] = 0
    e.hot.timers(-1)
    assert _log(e) == []
    _feed(e, _msg("cmp_ticker_BTC-PERPETUAL_100ms.json"))
    assert [r[:5] for r in _log(e)] == [(K_TICKER, BOOK_BID, 59861, 14991, 1654161785818),
                                        (K_TICKER, BOOK_ASK, 59862, 6285, 1654161785818)]


def test_numba_kernel_sees_a_book_change():
    e = _engine(Recorder)
    _feed(e, _msg("cmp_book_BTC-PERPETUAL_100ms_snapshot.json"))
    log = _log(e)
    assert len(log) == 1 and log[0][0] == K_BOOK and log[0][4] > 0


class Listener(Strategy):
    def __init__(self, ctx, **params):
        super().__init__(ctx, **params)
        self.seen = []

    def on_trade(self, inst, side, price, amount):
        self.seen.append(("trade", inst, side, price, amount))

    def on_ticker(self, inst, best_bid, bid_amount, best_ask, ask_amount):
        self.seen.append(("ticker", inst, best_bid, bid_amount, best_ask, ask_amount))


@pytest.mark.parametrize("name, want", [
    ("cmp_trades_BTC-PERPETUAL_raw.json", [("trade", 0, SIDE_BUY, 112336, 558), ("trade", 0, SIDE_BUY, 112336, 6)]),
    ("cmp_ticker_BTC-PERPETUAL_100ms.json", [("ticker", 0, 59861, 14991, 59862, 6285)]),
    ("nautilus_ws_trades_btc_perpetual_100ms.json", None),
])
def test_python_tier_gets_every_compiled_trade_and_ticker(name, want):
    e = _engine(Listener)
    msg = _msg(name)
    _feed(e, msg)
    if want is None:  # compare with the message itself
        data = msg["params"]["data"]
        want = [("trade", 0, SIDE_BUY if t["direction"] == "buy" else SIDE_SELL, round(t["price"] / 0.5),
                 round(t["amount"] / 10)) for t in data]
    assert e.strategy.seen == want
    _feed(e, _msg("cmp_book_BTC-PERPETUAL_100ms_snapshot.json"))
    assert e.strategy.seen == want  # a book message is not replayed as trades


def _rest_all(e: Engine) -> None:
    for o in e.orders:
        if o["cid"] and o["state"] != ORD_CANCELLED:
            o["state"], o["oid_len"] = ORD_OPEN, 4
            o["oid"][:4] = np.frombuffer(b"BTC-", np.uint8)


def _methods(e: Engine, tx_len: int) -> list[str]:
    return [orjson.loads(p)["method"] for _, p in ws.Deframer(mask=ws.MASK_YES).feed(e.op.tx[:tx_len].tobytes())]


def test_market_maker_widens_after_an_aggressive_trade_against_its_bid_then_narrows_on_its_timer():
    e = _engine(MarketMaker, half_spread=1.0, requote=3.0, widen=4.0, widen_ms=50.0)
    snap = _msg("cmp_book_BTC-PERPETUAL_100ms_snapshot.json")
    assert _methods(e, _feed(e, snap)) == ["private/buy", "private/sell"]
    bid_q = int(e.orders[1]["price"])  # best bid 74480, ask 74481: mid 74480.5, half spread 1
    assert bid_q == 74479 and int(e.orders[2]["price"]) == 74482
    _rest_all(e)
    trade = _msg("cmp_trades_BTC-PERPETUAL_raw.json")
    t = trade["params"]["data"][0]
    away = dict(t, direction="buy", price=37240.5)  # a taker buy below our ask (37241.0): not against us
    trade["params"]["data"] = [away]
    assert _feed(e, trade) == 0 and e.mkt.timer[0] == 0
    hit = dict(t, direction="sell", price=bid_q * 0.5, trade_id="137487299")  # a taker sell at our bid
    trade["params"]["data"] = [hit]
    assert _methods(e, _feed(e, trade)) == ["private/cancel", "private/cancel"]  # 4 extra ticks >= requote
    assert e.mkt.timer[0] > 0
    for o in e.orders[1:3]:
        o["state"] = ORD_CANCELLED
    e.expo[0]["live_buy"] = e.expo[0]["live_sell"] = 0
    e.rstate[0]["open_orders"] = 0
    # the next book update quotes wide: mid 74480.5 -/+ 5
    change = _msg("cmp_book_BTC-PERPETUAL_100ms_change.json")
    change["params"]["data"].update(prev_change_id=snap["params"]["data"]["change_id"], bids=[], asks=[])
    assert _methods(e, _feed(e, change)) == ["private/buy", "private/sell"]
    assert (int(e.orders[3]["price"]), int(e.orders[4]["price"])) == (74475, 74486)
    _rest_all(e)
    e.mkt.timer[0] = 1  # the widening window is over: the timer call pulls both quotes back in
    tx_len, _ = e.hot.timers(-1)
    assert _methods(e, tx_len) == ["private/cancel", "private/cancel"] and e.mkt.timer[0] == 0
