"""Price-time priority order book for one instrument, in integer ticks and lots. Pure: no I/O, no clock.

``submit`` matches an incoming order against the opposite side (fills at the resting price, oldest first) and
rests what is left when its time in force allows; ``cancel`` and ``modify`` change resting orders. Every call
records which price levels it touched so the venue can publish the change (``take_changes``).
"""
from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from typing import NamedTuple

BUY = 1
SELL = -1

GTC = "good_til_cancelled"
IOC = "immediate_or_cancel"
FOK = "fill_or_kill"
TIME_IN_FORCE = (GTC, "good_til_day", FOK, IOC)


class Order:
    """An order; ``price`` is in ticks (None for market orders), ``lots`` is the total (filled + remaining)."""

    __slots__ = ("oid", "owner", "conn", "side", "price", "lots", "filled", "state", "tif", "type", "post_only",
                 "reject_post_only", "reduce_only", "label", "created_ms", "updated_ms", "replaced",
                 "cancel_reason", "notional", "instrument", "mmp", "quote")

    def __init__(self, oid: int, owner: str | None, side: int, price: int | None, lots: int, *,
                 tif: str = GTC, type: str = "limit", post_only: bool = False, reject_post_only: bool = False,
                 reduce_only: bool = False, label: str = "", conn: int = 0, now_ms: int = 0,
                 instrument: str = "") -> None:
        self.oid = oid
        self.owner = owner
        self.conn = conn
        self.side = side
        self.price = price
        self.lots = lots
        self.filled = 0
        self.state = "open"
        self.tif = tif
        self.type = type
        self.post_only = post_only
        self.reject_post_only = reject_post_only
        self.reduce_only = reduce_only
        self.label = label
        self.created_ms = now_ms
        self.updated_ms = now_ms
        self.replaced = False
        self.cancel_reason = ""
        self.notional = 0  # sum of fill_price_ticks * fill_lots, for the average price
        self.instrument = instrument
        self.mmp = False
        self.quote: tuple[str, str, str] | None = None  # (quote_id, quote_set_id, mmp_group) of a mass quote

    @property
    def remaining(self) -> int:
        return self.lots - self.filled

    def __repr__(self) -> str:
        side = "buy" if self.side == BUY else "sell"
        return f"Order({self.oid} {side} {self.filled}/{self.lots}@{self.price} {self.state})"


class Fill(NamedTuple):
    """One match: ``lots`` at the maker's ``price`` (ticks)."""

    maker: Order
    taker: Order
    price: int
    lots: int


#: A price level whose total changed: ``(side, price, old, new)`` with price in ticks and the totals before and
#: after in lots. A plain tuple: one is built for every book message, and a NamedTuple costs several times more.
LevelChange = tuple[int, int, int, int]


class PostOnlyReject(Exception):
    """A post-only order with reject_post_only would have taken liquidity."""


class OrderBook:
    """Resting orders of one instrument by side and price, FIFO within a price."""

    def __init__(self) -> None:
        self.queues: dict[int, dict[int, deque[Order]]] = {BUY: {}, SELL: {}}
        self.totals: dict[int, dict[int, int]] = {BUY: {}, SELL: {}}
        self.prices: dict[int, list[int]] = {BUY: [], SELL: []}  # ascending
        self.orders: dict[int, Order] = {}
        self._touched: dict[tuple[int, int], int] = {}

    # --- queries ---
    def best(self, side: int) -> int | None:
        """Best price of a side in ticks (highest bid, lowest ask), None when empty."""
        prices = self.prices[side]
        if not prices:
            return None
        return prices[-1] if side == BUY else prices[0]

    def best_bid(self) -> int | None:
        return self.best(BUY)

    def best_ask(self) -> int | None:
        return self.best(SELL)

    def depth(self, side: int, n: int | None = None) -> list[tuple[int, int]]:
        """``(price, total)`` levels of a side, best first, at most n."""
        prices = self.prices[side]
        ordered = reversed(prices) if side == BUY else iter(prices)
        totals = self.totals[side]
        out = []
        for price in ordered:
            if n is not None and len(out) >= n:
                break
            out.append((price, totals[price]))
        return out

    def available(self, side: int, limit: int | None) -> int:
        """Lots resting on ``side`` at prices a taker with ``limit`` (None = any) could take."""
        total = 0
        totals = self.totals[side]
        for price, _ in self.depth(side):
            if limit is not None and (price > limit if side == SELL else price < limit):
                break
            total += totals[price]
        return total

    def crosses(self, side: int, price: int) -> bool:
        """Would a limit order at ``price`` on ``side`` take liquidity now?"""
        opp = self.best(-side)
        return opp is not None and (price >= opp if side == BUY else price <= opp)

    # --- level bookkeeping ---
    def _touch(self, side: int, price: int) -> None:
        key = (side, price)
        if key not in self._touched:
            self._touched[key] = self.totals[side].get(price, 0)

    def _add_to_level(self, order: Order) -> None:
        side, price = order.side, order.price
        assert price is not None
        self._touch(side, price)
        queue = self.queues[side].get(price)
        if queue is None:
            queue = self.queues[side][price] = deque()
            self.totals[side][price] = 0
            insort(self.prices[side], price)
        queue.append(order)
        self.totals[side][price] += order.remaining
        self.orders[order.oid] = order

    def _remove_level_if_empty(self, side: int, price: int) -> None:
        if not self.queues[side][price]:
            del self.queues[side][price]
            del self.totals[side][price]
            prices = self.prices[side]
            del prices[bisect_left(prices, price)]

    def take_changes(self) -> list[LevelChange]:
        """The levels touched since the last call whose totals changed, and forget them."""
        changes = []
        totals = self.totals
        for (side, price), old in self._touched.items():
            new = totals[side].get(price, 0)
            if new != old:
                changes.append((side, price, old, new))
        self._touched.clear()
        return changes

    # --- operations ---
    def _match(self, taker: Order, limit: int | None, fills: list[Fill]) -> None:
        opp = -taker.side
        prices, queues, totals = self.prices[opp], self.queues[opp], self.totals[opp]
        # ``lots - filled`` spelled out: the ``remaining`` property is a Python call on every loop test
        while taker.lots > taker.filled and prices:
            best = prices[0] if opp == SELL else prices[-1]
            if limit is not None and (best > limit if opp == SELL else best < limit):
                break
            self._touch(opp, best)
            queue = queues[best]
            while taker.lots > taker.filled and queue:
                maker = queue[0]
                qty = min(taker.lots - taker.filled, maker.lots - maker.filled)
                maker.filled += qty
                taker.filled += qty
                maker.notional += qty * best
                taker.notional += qty * best
                totals[best] -= qty
                fills.append(Fill(maker, taker, best, qty))
                if maker.lots == maker.filled:
                    maker.state = "filled"
                    queue.popleft()
                    del self.orders[maker.oid]
            self._remove_level_if_empty(opp, best)

    def submit(self, order: Order) -> list[Fill]:
        """Match ``order``, then rest, cancel or kill the remainder by its type and time in force.

        A post-only order that would take is re-priced one tick inside the spread, or raises PostOnlyReject
        when ``reject_post_only``. The order's ``state`` says what happened.
        """
        fills: list[Fill] = []
        if order.type == "market":
            order.price = None
        elif order.post_only and order.price is not None and self.crosses(order.side, order.price):
            if order.reject_post_only:
                raise PostOnlyReject
            order.price = self.best(-order.side) - order.side  # type: ignore[operator]
        if order.tif == FOK and self.available(-order.side, order.price) < order.lots:
            order.state = "cancelled"
            return fills
        self._match(order, order.price, fills)
        if order.remaining == 0:
            order.state = "filled"
        elif order.type == "market" or order.tif in (IOC, FOK):
            order.state = "cancelled"
        else:
            order.state = "open"
            self._add_to_level(order)
        return fills

    def _unlink(self, order: Order) -> None:
        side, price = order.side, order.price
        assert price is not None
        self._touch(side, price)
        self.queues[side][price].remove(order)
        self.totals[side][price] -= order.remaining
        self._remove_level_if_empty(side, price)
        del self.orders[order.oid]

    def cancel(self, oid: int) -> Order | None:
        """Remove a resting order; returns it (state "cancelled") or None when it is not resting."""
        order = self.orders.get(oid)
        if order is None:
            return None
        self._unlink(order)
        order.state = "cancelled"
        return order

    def modify(self, oid: int, lots: int, price: int) -> list[Fill]:
        """Edit a resting order to ``lots`` total at ``price``; keeps queue priority only when the amount
        decreases (or stays) at the same price, otherwise the order re-enters as new (and may match)."""
        order = self.orders[oid]
        if lots <= order.filled:
            raise ValueError("new amount must exceed the filled amount")
        if price == order.price and lots <= order.lots:
            self._touch(order.side, price)
            self.totals[order.side][price] -= order.lots - lots
            order.lots = lots
            return []
        self._unlink(order)
        order.lots = lots
        order.price = price
        fills = self.submit(order)
        return fills
