"""Matching properties (hypothesis, in-process on the OrderBook): never crossed at rest, amounts conserved,
fills at the resting price, price-time priority (against a naive reference matcher), post_only never takes."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickwire.sim.matching import BUY, FOK, GTC, IOC, SELL, Order, OrderBook, PostOnlyReject


@dataclass
class RefOrder:
    oid: int
    side: int
    price: int
    remaining: int
    seq: int


class ReferenceBook:
    """Obviously-correct matcher: a flat list, sorted from scratch on every match."""

    def __init__(self) -> None:
        self.resting: list[RefOrder] = []
        self.seq = 0

    def best(self, side: int) -> int | None:
        prices = [o.price for o in self.resting if o.side == side]
        if not prices:
            return None
        return max(prices) if side == BUY else min(prices)

    def _queue(self, side: int) -> list[RefOrder]:
        mine = [o for o in self.resting if o.side == side]
        return sorted(mine, key=lambda o: (-o.price if side == BUY else o.price, o.seq))

    def submit(self, oid: int, side: int, price: int | None, lots: int, tif: str, post_only: bool,
               reject: bool) -> tuple[list[tuple[int, int, int, int]], str]:
        opp = self.best(-side)
        if post_only and price is not None and opp is not None and (price >= opp if side == BUY else price <= opp):
            if reject:
                raise PostOnlyReject
            price = opp - side
        queue = [o for o in self._queue(-side)
                 if price is None or (o.price <= price if side == BUY else o.price >= price)]
        if tif == FOK and sum(o.remaining for o in queue) < lots:
            return [], "cancelled"
        fills = []
        remaining = lots
        for maker in queue:
            if remaining == 0:
                break
            qty = min(remaining, maker.remaining)
            maker.remaining -= qty
            remaining -= qty
            fills.append((maker.oid, oid, maker.price, qty))
        self.resting = [o for o in self.resting if o.remaining > 0]
        if remaining == 0:
            return fills, "filled"
        if price is None or tif in (IOC, FOK):
            return fills, "cancelled"
        self.seq += 1
        self.resting.append(RefOrder(oid, side, price, remaining, self.seq))
        return fills, "open"

    def depth(self, side: int) -> list[tuple[int, int]]:
        levels: dict[int, int] = {}
        for o in self._queue(side):
            levels[o.price] = levels.get(o.price, 0) + o.remaining
        return list(levels.items())


submit_op = st.tuples(st.just("submit"), st.sampled_from([BUY, SELL]), st.integers(95, 105), st.integers(1, 8),
                      st.sampled_from([GTC, GTC, IOC, FOK]), st.booleans(), st.booleans(), st.booleans())
cancel_op = st.tuples(st.just("cancel"), st.integers(0, 50))
ops_strategy = st.lists(st.one_of(submit_op, submit_op, cancel_op), min_size=1, max_size=60)


def _check_invariants(book: OrderBook) -> None:
    bid, ask = book.best_bid(), book.best_ask()
    assert bid is None or ask is None or bid < ask, "crossed book at rest"
    for side in (BUY, SELL):
        for price, total in book.depth(side):
            assert total == sum(o.remaining for o in book.queues[side][price]) > 0


@settings(max_examples=300, deadline=None)
@given(ops_strategy)
def test_matches_reference_and_keeps_invariants(ops: list[tuple]) -> None:
    book, ref = OrderBook(), ReferenceBook()
    orders: list[Order] = []
    for n, op in enumerate(ops):
        if op[0] == "submit":
            _, side, price, lots, tif, post_only, reject, market = op
            order = Order(n, "u", side, None if market else price, lots, tif=tif,
                          type="market" if market else "limit", post_only=post_only and not market,
                          reject_post_only=reject)
            try:
                expected, state = ref.submit(n, side, None if market else price, lots, tif,
                                             post_only and not market, reject)
            except PostOnlyReject:
                with pytest.raises(PostOnlyReject):
                    book.submit(order)
                book.take_changes()
                continue
            fills = book.submit(order)
            assert [(f.maker.oid, f.taker.oid, f.price, f.lots) for f in fills] == expected
            assert order.state == state
            for f in fills:
                assert f.price == f.maker.price  # at the resting price
                assert f.taker.price is None or (f.price <= f.taker.price if f.taker.side == BUY
                                                 else f.price >= f.taker.price)
                assert not f.taker.post_only  # post_only never takes
            orders.append(order)
        else:
            if not orders:
                continue
            victim = orders[op[1] % len(orders)]
            was_resting = victim.oid in book.orders
            assert (book.cancel(victim.oid) is not None) == was_resting
            ref.resting = [o for o in ref.resting if o.oid != victim.oid]
        _check_invariants(book)
        assert book.depth(BUY) == ref.depth(BUY) and book.depth(SELL) == ref.depth(SELL)
    # conservation: every order's lots are filled, resting, or were cancelled/killed
    for order in orders:
        assert 0 <= order.filled <= order.lots
        if order.state == "open":
            assert book.orders[order.oid].remaining == order.lots - order.filled
        elif order.state == "filled":
            assert order.filled == order.lots


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([BUY, SELL]), st.integers(95, 105), st.integers(1, 5)), min_size=1,
                max_size=40), st.integers(0, 39), st.integers(1, 6), st.integers(95, 105))
def test_modify_keeps_priority_only_for_same_price_decrease(resting: list[tuple[int, int, int]], pick: int,
                                                            new_lots: int, new_price: int) -> None:
    book = OrderBook()
    live: list[Order] = []
    for n, (side, price, lots) in enumerate(resting):
        order = Order(n, "u", side, price, lots)
        book.submit(order)
        if order.state == "open":
            live.append(order)
    live = [o for o in live if o.oid in book.orders]
    if not live:
        return
    order = live[pick % len(live)]
    queue_before = [o.oid for o in book.queues[order.side][order.price]]
    same_place = new_price == order.price and new_lots <= order.lots
    if new_lots <= order.filled:
        with pytest.raises(ValueError):
            book.modify(order.oid, new_lots, new_price)
        return
    book.modify(order.oid, new_lots, new_price)
    _check_invariants(book)
    if same_place:
        assert [o.oid for o in book.queues[order.side][order.price]] == queue_before
    elif order.state == "open":
        assert book.queues[order.side][order.price][-1] is order  # back of the queue
