"""The venue model of ``tickwire backtest``: order latency, queue position and fills against a replayed book.

The model reads the requests the engine's own encoder framed (JSON-RPC over masked WebSocket frames, as they
would leave the socket) and answers with the JSON the live engine's slow path takes from Deribit (an order
answer, ``user.orders`` and ``user.trades`` notifications), so orders, positions, PnL and fees run through the
live engine's code. Two clocks: requests reach the venue ``entry`` ns after the strategy sent them (local clock)
and are matched against the book as of the venue's time (the capture's exchange timestamps); answers reach the
strategy ``response`` ns after the venue time they happened at. The replayed feed brings its own latency (capture
time minus exchange time).

Fills:
- a limit order rests at the back of its price level: ``ahead`` = the level's amount when it arrives;
- a trade at our price takes from ``ahead`` first, then fills us; a trade through our price fills us whole;
  the opposite best price reaching ours fills us whole (the market moved through);
- a level that shrinks without trades: ``riskaverse`` keeps ``ahead`` (only capped at the level's amount: the
  cancels were all behind us), ``prob`` also takes away the share of the cancel that was ahead of us
  (``ahead / level``, the linear queue model);
- market orders and crossing limits take the replayed book's levels best first (our liquidity taking does not
  change the replayed book); a post-only limit that would cross is re-priced one tick inside the spread as
  Deribit does, or rejected (11054) when the request sets ``reject_post_only`` or the model is set to reject
  (``reject_post_only``: what other venues' GTX orders do, e.g. for a comparison with hftbacktest).
Each order is modelled on its own (two of our orders at one level do not queue behind each other).
"""
from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from tickwire.deribit.errors import NOT_OPEN_ORDER, POST_ONLY_REJECT
from tickwire.md.book import Books, book_side_count
from tickwire.netstack import ws
from tickwire.types import BOOK_ASK, BOOK_BID, BOOK_NO_PRICE, EV_TRADE, SIDE_BUY, SIDE_SELL

QUEUE_MODELS = ("riskaverse", "prob")


class Latency:
    """Order entry and response latency, ns: constant, or drawn from measured samples. The draws are made once,
    seeded (so runs repeat), as two cyclic sequences of ``CYCLE`` values that every draw takes in turn: the
    Python venue model and the compiled one (tickwire.engine.backtest_exchange) take the same latencies."""

    CYCLE = 1 << 20

    def __init__(self, entry_ns: np.ndarray, response_ns: np.ndarray, seed: int = 1) -> None:
        if entry_ns.size == 0 or response_ns.size == 0 or (entry_ns < 0).any() or (response_ns < 0).any():
            raise ValueError("latency: need at least one non-negative sample each way")
        rng = np.random.default_rng(seed)
        self.entry_seq, self.response_seq = (
            s.astype(np.int64) if s.size == 1 else s.astype(np.int64)[rng.integers(s.size, size=self.CYCLE)]
            for s in (entry_ns, response_ns))
        self._taken = [0, 0]

    @classmethod
    def parse(cls, spec: str) -> Latency:
        """``constant:US`` (each way) or ``measured:FILE`` (see :func:`load_round_trips`)."""
        kind, _, arg = spec.partition(":")
        if kind == "constant":
            try:
                us = float(arg)
            except ValueError:
                raise ValueError(f"latency {spec!r}: expected constant:MICROSECONDS") from None
            if not math.isfinite(us) or us < 0 or us > 60e6:
                raise ValueError(f"latency {spec!r}: microseconds must be in [0, 60e6]")
            one = np.array([round(us * 1000)], np.int64)
            return cls(one, one)
        if kind == "measured":
            rtt = load_round_trips(Path(arg))
            return cls(rtt // 2, rtt - rtt // 2)
        raise ValueError(f"latency {spec!r}: expected constant:US or measured:FILE")

    def _draw(self, way: int, seq: np.ndarray) -> int:
        k = self._taken[way]
        self._taken[way] = k + 1
        return int(seq[k % seq.shape[0]])

    def entry(self) -> int:
        return self._draw(0, self.entry_seq)

    def response(self) -> int:
        return self._draw(1, self.response_seq)


def load_round_trips(path: Path) -> np.ndarray:
    """Order round trips, ns, from a file: the ``--json`` output of ``tickwire run`` (its HDR percentiles of
    "Order Placement", see :func:`_from_percentiles`), a JSON list of ns, an object with ``rtt_ns`` (a list),
    or a histogram ``{"buckets": [[upper_ns, count], ...]}`` (each bucket's samples at its upper bound). Each
    round trip is split half to the venue, half back."""
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"latency file {path}: {exc}") from None
    if isinstance(doc, dict) and "latency_us" in doc:
        values = _from_percentiles(doc["latency_us"], path)
    elif isinstance(doc, dict) and "buckets" in doc:
        rows = [(int(u), int(c)) for u, c in doc["buckets"] if int(c) > 0]
        if sum(c for _, c in rows) > 10_000_000:
            raise ValueError(f"latency file {path}: more than 10M samples")
        values = np.repeat(np.array([u for u, _ in rows], np.int64), [c for _, c in rows])
    else:
        values = np.asarray(doc.get("rtt_ns", []) if isinstance(doc, dict) else doc, dtype=np.float64)
    if values.size == 0 or not np.isfinite(values).all() or (values < 0).any() or (values > 60e9).any():
        raise ValueError(f"latency file {path}: no usable round trips (need 0 <= ns <= 60 s)")
    return np.sort(values.astype(np.int64))


def _from_percentiles(rows: list, path: Path) -> np.ndarray:
    """1000 round trips (ns) at evenly spaced quantiles of the "Order Placement" percentiles of a run report
    (p50, p95, p99, p99.9, max; below p50 the report says nothing, so the lower half is p50)."""
    row = next((r for r in rows if isinstance(r, dict) and r.get("name") == "Order Placement"), None)
    if row is None or not row.get("count"):
        raise ValueError(f"latency file {path}: no Order Placement samples in this run report")
    us = [float(row[k]) for k in ("p50_us", "p50_us", "p95_us", "p99_us", "p99_9_us", "max_us")]
    q = (np.arange(1000) + 0.5) / 1000
    return np.interp(q, [0.0, 0.5, 0.95, 0.99, 0.999, 1.0], us) * 1000


@dataclass
class SimOrder:
    """One of our orders at the modelled venue."""

    oid: str
    label: str
    side: int
    price: int  # ticks (0 for a market order)
    amount: int  # lots
    filled: int = 0
    ahead: float = 0.0  # lots queued before us at our price
    level: int = 0  # the level's amount when last seen (prob model)
    state: str = "open"
    otype: str = "limit"
    updated_ns: int = 0

    @property
    def remaining(self) -> int:
        return self.amount - self.filled


@dataclass
class Fill:
    """One of our fills, as the backtest reports it."""

    ts_ns: int
    oid: str
    side: int
    price: int
    amount: int
    maker: bool


@dataclass
class VenueModel:
    """The modelled venue for one instrument (see the module docstring)."""

    books: Books
    inst: int  # book slot of the traded instrument
    name: str
    tick_size: float
    lot_size: float
    latency: Latency
    queue: str = "riskaverse"
    maker_fee: float = 0.0
    taker_fee: float = 0.0005
    reject_post_only: bool = False  # every crossing post-only order is rejected, not re-priced
    orders: dict[str, SimOrder] = field(default_factory=dict)
    _open: dict[str, SimOrder] = field(default_factory=dict)  # the orders that were open when last looked at
    fills: list[Fill] = field(default_factory=list)
    rejects: int = 0
    _arrivals: list[tuple[int, int, dict]] = field(default_factory=list)
    _answers: list[tuple[int, int, dict]] = field(default_factory=list)
    _seq: Any = field(default_factory=itertools.count)
    _oids: Any = field(default_factory=lambda: itertools.count(1))
    _tids: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        if self.queue not in QUEUE_MODELS:
            raise ValueError(f"queue model {self.queue!r}: expected one of {', '.join(QUEUE_MODELS)}")
        self._deframer = ws.Deframer(mask=ws.MASK_YES)

    # --- the strategy side ---------------------------------------------------------------------------------
    def submit(self, frames: bytes, sent_ns: int) -> int:
        """Requests the engine framed at local time ``sent_ns``; they arrive ``entry`` ns later. Returns how many."""
        n = 0
        for _, payload in self._deframer.feed(frames):
            heapq.heappush(self._arrivals, (sent_ns + self.latency.entry(), next(self._seq), orjson.loads(payload)))
            n += 1
        return n

    def next_answer_ns(self) -> int:
        """Local time of the next answer to deliver (-1: none pending)."""
        return self._answers[0][0] if self._answers else -1

    def pop_answer(self) -> dict:
        return heapq.heappop(self._answers)[2]

    def next_arrival_ns(self) -> int:
        return self._arrivals[0][0] if self._arrivals else -1

    # --- the venue side ------------------------------------------------------------------------------------
    def arrive_until(self, venue_ns: int) -> None:
        """Handle the requests that reached the venue by ``venue_ns``, against the book as it stands."""
        while self._arrivals and self._arrivals[0][0] <= venue_ns:
            t, _, req = heapq.heappop(self._arrivals)
            self._handle(req, t)

    def _answer(self, at_ns: int, msg: dict) -> None:
        heapq.heappush(self._answers, (at_ns + self.latency.response(), next(self._seq), msg))

    def _reply(self, req: dict, t: int, result: Any = None, error: int = 0) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": req.get("id"), "usIn": t // 1000, "usOut": t // 1000}
        if error:
            msg["error"] = {"code": error, "message": "backtest"}
        else:
            msg["result"] = result
        self._answer(t, msg)

    def _order_dict(self, o: SimOrder) -> dict:
        return {"order_id": o.oid, "label": o.label, "instrument_name": self.name, "order_state": o.state,
                "direction": "buy" if o.side == SIDE_BUY else "sell", "order_type": o.otype,
                "price": o.price * self.tick_size, "amount": o.amount * self.lot_size,
                "filled_amount": o.filled * self.lot_size, "last_update_timestamp": o.updated_ns // 1_000_000}

    def _notify(self, o: SimOrder, t: int) -> None:
        self._answer(t, {"jsonrpc": "2.0", "method": "subscription",
                         "params": {"channel": f"user.orders.{self.name}.raw", "data": self._order_dict(o)}})

    def _handle(self, req: dict, t: int) -> None:
        method, p = req.get("method", ""), req.get("params") or {}
        if method in ("private/buy", "private/sell"):
            self._new(req, p, SIDE_BUY if method == "private/buy" else SIDE_SELL, t)
        elif method == "private/cancel":
            o = self.orders.get(str(p.get("order_id")))
            if o is None:
                self._reply(req, t, error=NOT_OPEN_ORDER)
                return
            if o.state == "open":
                o.state, o.updated_ns = "cancelled", t
            self._reply(req, t, self._order_dict(o))  # a finished order answers with its final state
        elif method == "private/edit":
            self._edit(req, p, t)
        elif method == "private/cancel_all":
            live = self.open_orders()
            for o in live:
                o.state, o.updated_ns = "cancelled", t
                self._notify(o, t)
            self._reply(req, t, len(live))

    def _new(self, req: dict, p: dict, side: int, t: int) -> None:
        if p.get("instrument_name") != self.name:
            self.rejects += 1
            self._reply(req, t, error=10028)  # instrument not traded in this backtest (Deribit: "not_found"-like)
            return
        otype = str(p.get("type", "limit"))
        lots = round(float(p.get("amount", 0)) / self.lot_size)
        price = round(float(p.get("price", 0) or 0) / self.tick_size) if otype == "limit" else 0
        o = SimOrder(f"BT-{next(self._oids)}", str(p.get("label", "")), side, price, lots, otype=otype,
                     updated_ns=t)
        opp_best = self._best(1 - side)
        crosses = opp_best != BOOK_NO_PRICE and (otype == "market" or (price >= opp_best if side == SIDE_BUY
                                                                        else price <= opp_best))
        if crosses and p.get("post_only") and otype == "limit":
            if p.get("reject_post_only") or self.reject_post_only:
                self.rejects += 1
                self._reply(req, t, error=POST_ONLY_REJECT)
                return
            o.price = price = opp_best - 1 if side == SIDE_BUY else opp_best + 1
            crosses = False
        self.orders[o.oid] = o
        self._open[o.oid] = o
        trades = self._take(o, t) if crosses else []
        if o.remaining == 0:
            o.state = "filled"
        elif otype == "market" or p.get("time_in_force") in ("immediate_or_cancel", "fill_or_kill"):
            o.state = "cancelled"
        else:
            o.ahead = o.level = self._level(side, price)
        self._reply(req, t, {"order": self._order_dict(o), "trades": trades})
        if trades:
            self._user_trades(trades, t)

    def _edit(self, req: dict, p: dict, t: int) -> None:
        o = self.orders.get(str(p.get("order_id")))
        if o is None or o.state != "open":
            self._reply(req, t, error=NOT_OPEN_ORDER)
            return
        price = round(float(p.get("price", o.price * self.tick_size)) / self.tick_size)
        lots = round(float(p.get("amount", o.amount * self.lot_size)) / self.lot_size)
        if price != o.price:  # a new price goes to the back of its level; a smaller amount keeps its place
            o.price = price
            o.ahead = o.level = self._level(o.side, price)
        o.amount = max(lots, o.filled)
        o.updated_ns = t
        if o.remaining == 0:
            o.state = "filled"
        self._reply(req, t, {"order": dict(self._order_dict(o), replaced=True), "trades": []})

    # --- book access ---------------------------------------------------------------------------------------
    def _best(self, side: int) -> int:
        n = book_side_count(self.books.state, self.inst, side)
        if n == 0 or self.books.state[self.inst]["valid"] == 0:
            return BOOK_NO_PRICE
        return int(self.books.px[self.inst, side, n - 1])

    def _level(self, side: int, price: int) -> int:
        n = book_side_count(self.books.state, self.inst, side)
        px = self.books.px[self.inst, side, :n]
        hit = np.flatnonzero(px == price)
        return int(self.books.qty[self.inst, side, hit[0]]) if hit.size else 0

    def _take(self, o: SimOrder, t: int) -> list[dict]:
        """Fill ``o`` as a taker from the opposite side's levels, best first, up to its limit price."""
        opp = 1 - o.side
        n = book_side_count(self.books.state, self.inst, opp)
        trades = []
        for k in range(n - 1, -1, -1):
            if o.remaining == 0:
                break
            px, qty = int(self.books.px[self.inst, opp, k]), int(self.books.qty[self.inst, opp, k])
            if o.otype == "limit" and (px > o.price if o.side == SIDE_BUY else px < o.price):
                break
            trades.append(self._fill(o, px, min(qty, o.remaining), False, t))
        return trades

    def _fill(self, o: SimOrder, price: int, lots: int, maker: bool, t: int) -> dict:
        o.filled += lots
        o.updated_ns = t
        if o.remaining == 0:
            o.state = "filled"
        self.fills.append(Fill(t, o.oid, o.side, price, lots, maker))
        usd, px = lots * self.lot_size, price * self.tick_size
        fee = usd / px * (self.maker_fee if maker else self.taker_fee)
        return {"trade_id": f"BT-T{next(self._tids)}", "order_id": o.oid, "label": o.label,
                "instrument_name": self.name, "direction": "buy" if o.side == SIDE_BUY else "sell",
                "price": px, "amount": usd, "fee": fee, "liquidity": "M" if maker else "T",
                "timestamp": t // 1_000_000}

    def _user_trades(self, trades: list[dict], t: int) -> None:
        self._answer(t, {"jsonrpc": "2.0", "method": "subscription",
                         "params": {"channel": f"user.trades.{self.name}.raw", "data": trades}})

    # --- the replayed market -------------------------------------------------------------------------------
    def on_market(self, events: np.ndarray, venue_ns: int) -> None:
        """One replayed message (its book events already applied): queues and fills of our resting orders."""
        resting = self.open_orders()
        if not resting:
            return
        traded: dict[tuple[int, int], int] = {}
        for ev in events[events["kind"] == EV_TRADE]:
            taker, price, amount = int(ev["side"]), int(ev["price"]), int(ev["amount"])
            maker_side = 1 - taker
            traded[(maker_side, price)] = traded.get((maker_side, price), 0) + amount
            for o in resting:
                if o.side != maker_side or o.state != "open":
                    continue
                through = price < o.price if o.side == SIDE_BUY else price > o.price
                if through:
                    self._maker_fill(o, o.remaining, venue_ns)
                elif price == o.price:
                    o.ahead -= amount
                    if o.ahead < 0:
                        self._maker_fill(o, min(o.remaining, int(-o.ahead)), venue_ns)
                        o.ahead = 0.0
        for o in resting:
            if o.state != "open":
                continue
            opp = self._best(1 - o.side)
            if opp != BOOK_NO_PRICE and (opp <= o.price if o.side == SIDE_BUY else opp >= o.price):
                self._maker_fill(o, o.remaining, venue_ns)  # the market moved through our price
                continue
            level = self._level(BOOK_BID if o.side == SIDE_BUY else BOOK_ASK, o.price)
            if self.queue == "prob" and level < o.level and o.level > 0:
                cancelled = max(0, o.level - level - traded.get((o.side, o.price), 0))
                o.ahead -= cancelled * o.ahead / o.level
            o.ahead = max(0.0, min(o.ahead, level))
            o.level = level

    def open_orders(self) -> list[SimOrder]:
        """Our open orders, oldest first (finished ones leave ``_open`` here, so this costs what is open)."""
        if any(o.state != "open" for o in self._open.values()):
            self._open = {oid: o for oid, o in self._open.items() if o.state == "open"}
        return list(self._open.values())

    def _maker_fill(self, o: SimOrder, lots: int, t: int) -> None:
        if lots <= 0:
            return
        trade = self._fill(o, o.price, lots, True, t)
        self._notify(o, t)
        self._user_trades([trade], t)
