"""The venue's state and its order operations: books, orders, accounts, and what each event publishes.

Transport-free: the JSON-RPC methods (``methods.py``) and the synthetic market flow (``flow.py``) call these
operations; every operation that changes a book publishes one book change (a new change_id) through the
feed (WebSocket subscribers) and the attached market-data listeners, then the trades and user updates.
"""
from __future__ import annotations

import random
import time
from collections import deque
from typing import Any

from tickwire.sim import messages as msg
from tickwire.sim.accounts import Account
from tickwire.sim.config import SimConfig
from tickwire.deribit.errors import INVALID_AMOUNT, NOT_OPEN_ORDER, ORDER_NOT_FOUND, OTHER_REJECT, POST_ONLY_REJECT
from tickwire.sim.errors import RpcError
from tickwire.sim.feed import Feed
from tickwire.sim.instruments import REFERENCE_PRICE, Instrument
from tickwire.sim.listeners import BookSnapshot, Listeners, MarketDataListener
from tickwire.sim.matching import BUY, SELL, Fill, LevelChange, Order, OrderBook, PostOnlyReject
from tickwire.sim.mmp import Key

FLOW_OWNER = None          # synthetic participants have no account
CLOSED_ORDERS_KEPT = 100_000
USER_TRADES_KEPT = 10_000
PUBLIC_TRADES_KEPT = 10_000    # per instrument (~7 MB): get_last_trades_*, tradingview candles, chart.trades
HISTORY_KEPT = 10_000          # closed orders per account (get_order_history_*)
INDEX_DISCOUNT = 0.9999        # index = mark of the index instrument * this (a small, steady basis)
FUNDING_DEAD_BAND = 0.0005     # Deribit clamps premiums inside +-0.05% to zero funding
HOUR_MS = 3_600_000
OPTION_DELTA = 0.5             # the delta the simulator's option tickers report (calls +, puts -)
_CHANGE_ID_STEPS = (1, 1, 1, 2, 3, 5, 11)  # real change_ids skip ids; only the chain matters


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class PriceIndex:
    """One currency's index (``btc_usd``): follows the mark of the currency's perpetual (else its first future),
    so ``get_index_price``, ``deribit_price_index.*`` and the ``index_price`` of every ticker agree."""

    __slots__ = ("name", "price", "decimals")

    def __init__(self, name: str, price: float, decimals: int) -> None:
        self.name = name
        self.price = price
        self.decimals = decimals

    def follow(self, mark: float) -> None:
        self.price = round(mark * INDEX_DISCOUNT, self.decimals)


class InstrumentState:
    """One instrument's book, market statistics and the public trades of this run."""

    def __init__(self, inst: Instrument, change_id: int, index: PriceIndex, drives_index: bool) -> None:
        self.inst = inst
        self.book = OrderBook()
        self.change_id = change_id
        self.mark = inst.reference_price
        self.index_ref = index
        self.drives_index = drives_index
        self.settlement = inst.reference_price
        self.last_trade: int | None = None  # ticks
        self.tick_direction = 0
        self.trade_seq = 0
        self.volume = 0.0
        self.volume_usd = 0.0
        self.high: float | None = None
        self.low: float | None = None
        self.open_interest = 0
        self.trades: deque[dict[str, Any]] = deque(maxlen=PUBLIC_TRADES_KEPT)
        self.funding_log: list[dict[str, Any]] = []  # hourly records (perpetuals), see Exchange.on_tick

    @property
    def index(self) -> float:
        return self.index_ref.price

    @property
    def funding_8h(self) -> float:
        """Deribit's 8h funding from the premium of mark over index, with its +-0.05% dead band (perpetuals)."""
        if not self.inst.perpetual or self.index <= 0:
            return 0.0
        premium = (self.mark - self.index) / self.index
        return round(max(FUNDING_DEAD_BAND, premium) + min(-FUNDING_DEAD_BAND, premium), 8)

    def last_price_or_mark(self) -> float:
        return self.inst.price(self.last_trade) if self.last_trade is not None else self.mark

    def set_mark(self, mark: float) -> None:
        self.mark = round(mark, self.inst.price_decimals + 2)
        if self.drives_index:
            self.index_ref.follow(mark)


class Exchange:
    """All books, orders and accounts of the simulated venue."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.instruments = {inst.name: inst for inst in config.instruments}
        rng = random.Random(config.seed)
        cid_rng = random.Random(config.seed + 7)
        self._cid_steps = [cid_rng.choice(_CHANGE_ID_STEPS) for _ in range(4096)]
        self._cid_i = 0
        self.indexes = self._indexes(config.instruments)
        drivers = {}
        for inst in config.instruments:  # the perpetual, else the first future, drives its currency's index
            if inst.kind == "future" and (inst.currency not in drivers or inst.perpetual):
                drivers[inst.currency] = inst.name
        self.states = {inst.name: InstrumentState(inst, rng.randrange(10**10, 4 * 10**10),
                                                  self.indexes[inst.currency], drivers.get(inst.currency) == inst.name)
                       for inst in config.instruments}
        self._history: dict[str, deque[int]] = {}   # account -> its closed order ids, oldest first
        self._mmp_tripped: list[tuple[Account, Key, dict[str, Any]]] = []
        self._last_hour = 0
        self.accounts: dict[str, Account] = {}
        self.orders: dict[int, Order] = {}          # user orders, open and recently closed
        self._open: dict[str, dict[int, Order]] = {}  # account -> its open orders
        self._closed: deque[int] = deque()
        self.user_trades: dict[tuple[str, str], deque[dict[str, Any]]] = {}
        self._next_oid = 31270474367
        self._next_tid = 403691824
        self.feed = Feed(self)
        self.listeners = Listeners(on_error=self._listener_failed)
        self.listener_errors: list[str] = []

    @staticmethod
    def _indexes(instruments: list[Instrument]) -> dict[str, PriceIndex]:
        out: dict[str, PriceIndex] = {}
        for inst in instruments:
            if inst.currency not in out:
                ref = REFERENCE_PRICE[inst.currency]
                out[inst.currency] = PriceIndex(f"{inst.currency.lower()}_usd", round(ref * INDEX_DISCOUNT, 4), 4)
        return out

    def index_by_name(self, name: str) -> PriceIndex | None:
        """The index called ``name`` (``btc_usd``), None when this venue lists nothing on it."""
        for index in self.indexes.values():
            if index.name == name:
                return index
        return None

    def on_tick(self, ts: int) -> None:
        """Every 100 ms: on each new hour, one funding record per perpetual (get_funding_rate_history)."""
        hour = ts // HOUR_MS
        if hour == self._last_hour:
            return
        self._last_hour = hour
        for st in self.states.values():
            if st.inst.perpetual:
                prev = st.funding_log[-1]["index_price"] if st.funding_log else st.index
                interest_8h = st.funding_8h
                st.funding_log.append({"timestamp": hour * HOUR_MS, "index_price": st.index,
                                       "prev_index_price": prev, "interest_8h": interest_8h,
                                       "interest_1h": round(interest_8h / 8, 10)})

    # --- accounts and listeners ---
    def account(self, name: str) -> Account:
        acc = self.accounts.get(name)
        if acc is None:
            acc = self.accounts[name] = Account(name, 96103 + len(self.accounts))
        return acc

    def add_listener(self, listener: MarketDataListener) -> None:
        """Attach a market-data listener (see ``listeners.py``)."""
        self.listeners.add(listener, [i.to_json() for i in self.instruments.values()], self.snapshot)

    def _listener_failed(self, listener: object, exc: BaseException) -> None:
        self.listener_errors.append(f"{type(listener).__name__}: {exc!r}")

    def snapshot(self, name: str) -> BookSnapshot:
        """The current full book of one instrument."""
        st = self.states[name]
        inst = st.inst
        return BookSnapshot(name, st.change_id, now_ms(),
                            [(inst.price(p), inst.amount(a)) for p, a in st.book.depth(BUY)],
                            [(inst.price(p), inst.amount(a)) for p, a in st.book.depth(SELL)])

    def state(self, name: str) -> InstrumentState:
        return self.states[name]

    def marks(self) -> dict[str, float]:
        return {name: st.mark for name, st in self.states.items()}

    # --- order operations (user) ---
    def _new_oid(self) -> int:
        self._next_oid += 1
        return self._next_oid

    def place(self, acc: Account, conn: int, name: str, side: int, lots: int, price: int | None, *,
              type: str = "limit", tif: str = "good_til_cancelled", post_only: bool = False,
              reject_post_only: bool = False, reduce_only: bool = False, label: str = "", mmp: bool = False,
              quote: tuple[str, str, str] | None = None) -> tuple[Order, list[dict[str, Any]]]:
        """Submit a user order; returns it and its immediate fills as user trades. ``mmp`` orders count
        against the account's MMP limits; ``quote`` tags a mass quote (quote_id, quote_set_id, mmp_group)."""
        st = self.states[name]
        if reduce_only:
            pos = acc.positions.get(name)
            held = round(pos.size / st.inst.min_trade_amount) if pos else 0
            reducible = max(0, -side * held)
            if reducible == 0:
                raise RpcError(OTHER_REJECT, {"reason": "reduce_only order would increase the position"})
            lots = min(lots, reducible)
        ts = now_ms()
        order = Order(self._new_oid(), acc.name, side, price, lots, tif=tif, type=type, post_only=post_only,
                      reject_post_only=reject_post_only and post_only, reduce_only=reduce_only, label=label,
                      conn=conn, now_ms=ts, instrument=name)
        order.mmp = mmp or quote is not None
        order.quote = quote
        try:
            fills = st.book.submit(order)
        except PostOnlyReject:
            st.book.take_changes()
            raise RpcError(POST_ONLY_REJECT, {"reason": "post_only order would take liquidity"}) from None
        if order.type == "market":
            order.price = fills[-1].price if fills else (st.book.best(-side) or round(st.mark / st.inst.tick_size))
        self.orders[order.oid] = order
        self._open.setdefault(acc.name, {})[order.oid] = order
        trades = self._after(st, fills, [order], ts)
        if order.state != "open":
            self._closed_order(order)
        if self._mmp_tripped:
            self._settle_mmp()
        return order, trades.get(order.oid, [])

    def user_order(self, acc: Account, oid_text: object) -> Order:
        """An order of this account by id (10004 order_not_found otherwise)."""
        try:
            oid = int(str(oid_text).removeprefix("USDC-"))
        except ValueError:
            raise RpcError(ORDER_NOT_FOUND, {"param": "order_id", "reason": "not a known order id"}) from None
        order = self.orders.get(oid)
        if order is None or order.owner != acc.name:
            raise RpcError(ORDER_NOT_FOUND, {"param": "order_id", "reason": "not a known order id"})
        return order

    def cancel(self, acc: Account, order: Order, reason: str = "user_request") -> Order:
        """Cancel one open order (11044 not_open_order when it is not open)."""
        st = self.states[order.instrument]
        if order.state != "open" or st.book.cancel(order.oid) is None:
            raise RpcError(NOT_OPEN_ORDER, {"order_id": str(order.oid), "state": order.state})
        order.cancel_reason = reason
        ts = now_ms()
        order.updated_ms = ts
        self._after(st, [], [order], ts)
        self._closed_order(order)
        return order

    def cancel_where(self, acc: Account, reason: str = "user_request", **match: Any) -> list[Order]:
        """Cancel the account's open orders whose attributes equal ``match`` (instrument/label/conn/currency)."""
        currency = match.pop("currency", None)
        kind = match.pop("kind", None)
        victims = []
        for order in list(self.open_orders(acc)):
            inst = self.instruments[order.instrument]
            if currency is not None and inst.currency != currency:
                continue
            if kind not in (None, "any") and inst.kind != kind:
                continue
            if all(getattr(order, key) == value for key, value in match.items()):
                victims.append(self.cancel(acc, order, reason))
        return victims

    def edit(self, acc: Account, order: Order, lots: int, price: int | None, post_only: bool | None = None,
             reject_post_only: bool | None = None) -> tuple[Order, list[dict[str, Any]]]:
        """Change amount and/or price of an open order (priority kept only for a decrease at the same price)."""
        st = self.states[order.instrument]
        if order.state != "open" or order.oid not in st.book.orders:
            raise RpcError(NOT_OPEN_ORDER, {"order_id": str(order.oid), "state": order.state})
        if lots <= order.filled:
            raise RpcError(INVALID_AMOUNT, {"param": "amount", "reason": "must exceed the filled amount"})
        if post_only is not None:
            order.post_only = post_only
        if reject_post_only is not None:
            order.reject_post_only = reject_post_only and order.post_only
        ts = now_ms()
        order.updated_ms = ts
        order.replaced = True
        try:
            fills = st.book.modify(order.oid, lots, order.price if price is None else price)
        except PostOnlyReject:
            order.state = "cancelled"
            order.cancel_reason = "edit_post_only_reject"
            fills = []
        trades = self._after(st, fills, [order], ts)
        if order.state != "open":
            self._closed_order(order)
        if self._mmp_tripped:
            self._settle_mmp()
        return order, trades.get(order.oid, [])

    def open_orders(self, acc: Account) -> list[Order]:
        """The account's open orders, oldest first."""
        return list(self._open.get(acc.name, {}).values())

    def _closed_order(self, order: Order) -> None:
        """An order left the book for good: off the open list; the last CLOSED_ORDERS_KEPT stay queryable."""
        self._open.get(order.owner or "", {}).pop(order.oid, None)
        self._closed.append(order.oid)
        while len(self._closed) > CLOSED_ORDERS_KEPT:
            self.orders.pop(self._closed.popleft(), None)
        if order.owner is not None:
            history = self._history.get(order.owner)
            if history is None:
                history = self._history[order.owner] = deque(maxlen=HISTORY_KEPT)
            history.append(order.oid)

    def order_history(self, acc: Account) -> list[Order]:
        """The account's closed orders still kept, newest first."""
        orders = self.orders
        return [orders[oid] for oid in reversed(self._history.get(acc.name, ())) if oid in orders]

    # --- market maker protection ---
    def mmp_key(self, inst: Instrument, order: Order) -> Key:
        """The MMP configuration an order counts against: its index, and its mass quote's group."""
        return (self.indexes[inst.currency].name, order.quote[2] if order.quote is not None else "")

    def _count_mmp(self, acc: Account, inst: Instrument, order: Order, amount: float, price: float, ts: int
                   ) -> None:
        base = amount / price if inst.inverse else amount
        signed = base if order.side == BUY else -base
        delta = signed if inst.kind == "future" else signed * (OPTION_DELTA if inst.option_type == "call"
                                                              else -OPTION_DELTA)
        key = self.mmp_key(inst, order)
        tripped = acc.mmp.on_fill(key, base, delta, ts)
        if tripped is not None:
            self._mmp_tripped.append((acc, key, tripped))

    def _settle_mmp(self) -> None:
        """After the operation whose fills tripped MMP: cancel the frozen group's MMP orders, then notify."""
        tripped, self._mmp_tripped = self._mmp_tripped, []
        for acc, key, data in tripped:
            for order in self.open_orders(acc):
                if order.mmp and self.mmp_key(self.instruments[order.instrument], order) == key:
                    self.cancel(acc, order, reason="mmp_trigger")
            self.feed.mmp_trigger(acc, data)

    # --- order operations (synthetic flow: no account, no responses) ---
    def flow_submit(self, name: str, side: int, lots: int, price: int | None, tif: str = "good_til_cancelled"
                    ) -> Order:
        st = self.states[name]
        order = Order(self._new_oid(), FLOW_OWNER, side, price, lots, tif=tif,
                      type="limit" if price is not None else "market", instrument=name)
        fills = st.book.submit(order)
        self._after(st, fills, (), now_ms())
        if self._mmp_tripped:
            self._settle_mmp()
        return order

    def flow_cancel(self, name: str, oid: int) -> bool:
        st = self.states[name]
        if st.book.cancel(oid) is None:
            return False
        self._after(st, [], (), now_ms())
        return True

    # --- publication ---
    def _after(self, st: InstrumentState, fills: list[Fill], orders: Any, ts: int) -> dict[int, list[dict[str, Any]]]:
        """Publish what one operation did: book change, public trades, user updates. Returns user trades by
        order id."""
        changes = st.book.take_changes()
        if changes:
            self._publish_book(st, changes, ts)
        if not fills:
            if orders:
                for order in orders:
                    if order.owner is not None:
                        self._publish_user(self.accounts[order.owner], st, [order], [])
            return {}
        inst = st.inst
        public: list[dict[str, Any]] = []
        by_account: dict[str, tuple[dict[int, Order], list[dict[str, Any]]]] = {}
        user_trades: dict[int, list[dict[str, Any]]] = {}
        for order in orders:
            if order.owner is not None:
                by_account.setdefault(order.owner, ({}, []))[0][order.oid] = order
        for fill in fills:
            trade = self._public_trade(st, fill, ts)
            public.append(trade)
            for order, liquidity in ((fill.maker, "M"), (fill.taker, "T")):
                if order.owner is None:
                    continue
                order.updated_ms = ts
                acc = self.accounts[order.owner]
                amount = inst.amount(fill.lots)
                price = inst.price(fill.price)
                rate = inst.maker_commission if liquidity == "M" else inst.taker_commission
                fee = rate * (amount / price if inst.inverse else amount)
                pnl = acc.fill(inst, amount if order.side == BUY else -amount, price, fee)
                ut = msg.user_trade_json(trade, order, liquidity, fee, inst.currency, pnl)
                acc.log_trade(inst, ut, fee, pnl)
                if order.mmp:
                    self._count_mmp(acc, inst, order, amount, price, ts)
                user_trades.setdefault(order.oid, []).append(ut)
                self._remember_trade(acc.name, inst.name, ut)
                entry = by_account.setdefault(acc.name, ({}, []))
                entry[0][order.oid] = order
                entry[1].append(ut)
                if order is not fill.taker and order.state != "open":
                    self._closed_order(order)
        self.feed.trades(st, public)
        if self.listeners:
            self.listeners.trades(inst.name, public)
        for name, (touched, trades) in by_account.items():
            self._publish_user(self.accounts[name], st, list(touched.values()), trades)
        return user_trades

    def _public_trade(self, st: InstrumentState, fill: Fill, ts: int) -> dict[str, Any]:
        inst = st.inst
        last = st.last_trade
        if last is None or fill.price == last:
            direction = 1 if st.tick_direction in (0, 1) else 3
        else:
            direction = 0 if fill.price > last else 2
        st.tick_direction = direction
        st.last_trade = fill.price
        st.trade_seq += 1
        self._next_tid += 1
        price = inst.price(fill.price)
        amount = inst.amount(fill.lots)
        st.volume += amount / price if inst.inverse else amount
        st.volume_usd += amount if inst.inverse else amount * st.index
        st.high = price if st.high is None else max(st.high, price)
        st.low = price if st.low is None else min(st.low, price)
        st.open_interest += fill.lots
        trade = msg.public_trade_json(st, self._next_tid, st.trade_seq, ts, fill.price, fill.lots,
                                      fill.taker.side, direction)
        st.trades.append(trade)
        return trade

    def _remember_trade(self, account: str, name: str, trade: dict[str, Any]) -> None:
        log = self.user_trades.get((account, name))
        if log is None:
            log = self.user_trades[(account, name)] = deque(maxlen=USER_TRADES_KEPT)
        log.append(trade)

    def _publish_book(self, st: InstrumentState, changes: list[LevelChange], ts: int) -> None:
        prev = st.change_id
        self._cid_i = i = (self._cid_i + 1) & 4095
        st.change_id = cid = prev + self._cid_steps[i]
        inst = st.inst
        price_of, amount_of = inst.price, inst.amount
        bids: list[list[Any]] = []
        asks: list[list[Any]] = []
        for side, price, old, new in changes:
            if new == 0:
                entry = ["delete", price_of(price), 0.0]
            else:
                entry = ["new" if old == 0 else "change", price_of(price), amount_of(new)]
            if side == BUY:
                bids.append(entry)
            else:
                asks.append(entry)
        self.feed.book_change(st, cid, prev, ts, bids, asks, changes)
        if self.listeners:
            self.listeners.book_change(inst.name, cid, prev, ts, bids, asks)

    def _publish_user(self, acc: Account, st: InstrumentState, orders: list[Order], trades: list[dict[str, Any]]
                      ) -> None:
        if not self.feed.has_user_subscribers(acc.name):
            return
        inst = st.inst
        orders_json = [msg.order_json(inst, o, acc.user_id) for o in orders]
        pos = acc.positions.get(inst.name)
        positions = [pos.to_json(st.mark, st.index)] if pos is not None and trades else []
        self.feed.user_event(acc, st, orders_json, trades, positions)


__all__ = ["Exchange", "InstrumentState", "now_ms"]
