"""The peer comparison with hftbacktest (PyPI ``hftbacktest``): one of our captures in its input format, and the
demo market maker's fixed-offset quoting (``tickwire.engine.strategies.market_maker`` with no skew and no widening)
written for its numba API, so the two backtesters run the same strategy on the same market.

Both sides: BTC-PERPETUAL, tick 0.5 USD, 1-lot (10 USD) post-only quotes at ``floor(mid - half)`` /
``ceil(mid + half)`` ticks (kept off the other side's best price), decided on every market message (ours:
``bt_strategies:EveryMessageQuoter``, the demo kernel's quoting on trade messages too), a quote whose target moved
is cancelled and placed again on a later market message once the cancel is done, constant order latency each way,
the risk-averse queue, a crossing post-only order rejected (hftbacktest's GTX; ours: ``post_only="reject"``).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from numba import njit

import hftbacktest as hbt
from hftbacktest import (
    BUY, BUY_EVENT, DEPTH_EVENT, EXCH_EVENT, FILLED, GTX, LIMIT, LOCAL_EVENT, NEW, NONE, SELL_EVENT,
    TRADE_EVENT,
)
from tickwire.engine.backtest import Backtest, BacktestConfig
from tickwire.md.book import book_top
from tickwire.md.replay import PcapSource, Replay
from tickwire.types import EV_BOOK, EV_TRADE, SIDE_BUY

TICK, LOT_USD = 0.5, 10.0
MM = "tickwire.engine.strategies.market_maker:MarketMaker"
QUOTER = "bt_strategies:EveryMessageQuoter"  # MM's quoting on every message, as the hftbacktest quoter here
# the demo market maker as a fixed-offset quoter: no skew, no widening, requote as soon as the target moves
QUOTE = {"half_spread": 2.0, "size": 1.0, "skew": 0.0, "requote": 1.0, "widen": 0.0, "widen_ms": 0.0,
         "max_position": 1e9}
# hftbacktest has no risk limits and no rate limits: neither does our side of the comparison
NO_LIMITS = {"risk": {"max_order_amount": 1e9, "max_position": 1e9, "price_band_bps": 10000.0,
                      "max_orders_per_s": 1e6},
             "credits": {"matching_rate_per_s": 1e6, "matching_burst": 10**6, "non_matching_max": 10**9,
                         "non_matching_refill_per_s": 10**9}}


def capture_events(capture: Path, instrument: str = "BTC-PERPETUAL") -> np.ndarray:
    """Every decoded event (EVENT_DTYPE, message order) of ``instrument`` in a capture, by our replay pipeline."""
    chunks: list[np.ndarray] = []
    replay = Replay(sink=lambda ev: chunks.append(ev.copy()))
    for batch in PcapSource(capture).batches():
        replay.process(batch)
    replay.finish()
    events = np.concatenate(chunks)
    return events[events["inst"] == replay.table.slot(instrument)]


def to_hbt(events: np.ndarray) -> np.ndarray:
    """Our decoded events as hftbacktest's input: book levels as depth events (price in USD, quantity in lots,
    0 = deleted), trades with the taker's side, at their exchange and capture timestamps."""
    keep = (events["kind"] == EV_BOOK) | (events["kind"] == EV_TRADE)
    ev = events[keep]
    out = np.zeros(ev.shape[0], hbt.event_dtype)
    kind = np.where(ev["kind"] == EV_BOOK, DEPTH_EVENT, TRADE_EVENT).astype(np.uint64)
    side = np.where(ev["side"] == SIDE_BUY, BUY_EVENT, SELL_EVENT).astype(np.uint64)
    out["ev"] = kind | side | EXCH_EVENT | LOCAL_EVENT
    out["exch_ts"], out["local_ts"] = ev["exch_ts"], ev["recv_ts"]
    out["px"], out["qty"] = ev["price"] * TICK, ev["amount"].astype(np.float64)
    return out


@njit
def _live(o) -> bool:
    return o.status == NEW or (o.status == NONE and o.req == NEW)


@njit
def quote_fixed_offset(bt, half, fills):
    """The demo market maker's quoting (half spread ``half`` ticks, 1 lot, requote at 1 tick) on hftbacktest;
    each fill goes to ``fills`` as (local ns, side, price ticks). Returns the number of fills."""
    n_fill = 0
    next_id = 1
    while bt.wait_next_feed(False, 1_000_000_000_000) != 1:  # 1: the end of the data
        orders = bt.orders(0)
        it = orders.values()
        while it.has_next():
            o = it.get()
            if o.status == FILLED and n_fill < fills.shape[0]:
                fills[n_fill, 0] = bt.current_timestamp
                fills[n_fill, 1] = o.side
                fills[n_fill, 2] = o.exec_price_tick
                n_fill += 1
        bt.clear_inactive_orders(0)
        depth = bt.depth(0)
        bp, ap = depth.best_bid_tick, depth.best_ask_tick
        if bp <= 0 or ap <= bp or ap > 1 << 40:
            continue
        mid = (bp + ap) * 0.5
        tb = min(int(math.floor(mid - half)), ap - 1)
        ta = max(int(math.ceil(mid + half)), bp + 1)
        have_bid = False
        have_ask = False
        it = orders.values()
        while it.has_next():
            o = it.get()
            if not _live(o):
                continue
            target = tb if o.side == BUY else ta
            if o.cancellable and o.price_tick != target:
                bt.cancel(0, o.order_id, False)
            if o.side == BUY:
                have_bid = True
            else:
                have_ask = True
        if not have_bid:
            bt.submit_buy_order(0, next_id, tb * TICK, 1.0, GTX, LIMIT, False)
            next_id += 1
        if not have_ask:
            bt.submit_sell_order(0, next_id, ta * TICK, 1.0, GTX, LIMIT, False)
            next_id += 1
    return n_fill


def run_ours(capture: Path, latency_us: float, batch: bool = True, strategy: str = QUOTER,
             post_only: str = "reject", order_capacity: int = 1024) -> dict:
    """Our backtest of the same quoting (no fees; PnL as :func:`inverse_pnl` computes it for both sides)."""
    cfg = BacktestConfig(capture, strategy, params=QUOTE, latency=f"constant:{latency_us:g}", queue="riskaverse",
                         maker_fee=0.0, taker_fee=0.0, post_only=post_only, batch=batch,
                         order_capacity=order_capacity, **NO_LIMITS)
    bt = Backtest(cfg)
    r = bt.run()
    lots = np.array([f["amount"] if f["side"] == SIDE_BUY else -f["amount"] for f in r.fills], np.int64)
    prices = np.array([f["price"] for f in r.fills], np.int64)
    bp, _, ap, _ = book_top(bt.engine.books.px, bt.engine.books.qty, bt.engine.books.state, 0)
    s = r.summary()
    return {"fills": s["fills"], "position_lots": s["position_lots"], "pnl": inverse_pnl(lots, prices, (bp + ap) / 2),
            "engine_pnl": s["pnl"], "orders": s["orders"], "risk_refused": s["risk_refused"], "wall_s": r.wall_s,
            "run_s": r.run_s, "book_events": r.book_events, "python_messages": r.python_messages}


def run_hbt(data: np.ndarray, half: float, latency_us: float) -> dict:
    """hftbacktest on ``data`` (see :func:`to_hbt`): fills, PnL and wall time (the first call compiles)."""
    asset = (hbt.BacktestAsset().data([data]).linear_asset(1.0)
             .constant_order_latency(round(latency_us * 1000), round(latency_us * 1000))
             .risk_adverse_queue_model().partial_fill_exchange().trading_value_fee_model(0.0, 0.0)
             .tick_size(TICK).lot_size(1.0).last_trades_capacity(0))
    bt = hbt.HashMapMarketDepthBacktest([asset])
    fills = np.zeros((1 << 20, 3), np.int64)
    t0 = time.perf_counter()
    n = quote_fixed_offset(bt, half, fills)
    wall = time.perf_counter() - t0
    depth = bt.depth(0)
    mark = (depth.best_bid_tick + depth.best_ask_tick) / 2
    bt.close()
    lots = np.where(fills[:n, 1] == BUY, 1, -1)
    return {"fills": n, "position_lots": int(lots.sum()), "pnl": inverse_pnl(lots, fills[:n, 2], mark),
            "wall_s": wall}


def inverse_pnl(lots: np.ndarray, prices: np.ndarray, mark_ticks: float) -> float:
    """PnL in BTC of fills (lots: + bought, - sold; prices in ticks) of an inverse perpetual, the position closed
    at ``mark_ticks``: a buy of q USD at p and a sell at p2 earn q * (1/p - 1/p2)."""
    if lots.size == 0:
        return 0.0
    usd = LOT_USD * lots
    return float((usd / (prices * TICK)).sum() - usd.sum() / (mark_ticks * TICK))

