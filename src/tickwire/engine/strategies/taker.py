"""Demo taker (Python tier): a market order when the top of book leans hard one way.

Signal: imbalance ``(bid_amount - ask_amount) / (bid_amount + ask_amount)`` at or above ``threshold`` buys,
at or below ``-threshold`` sells, at most once per ``cooldown_ms`` and never beyond ``max_position`` lots.
With the market maker this gives a mixed load of market and limit orders.
"""
from __future__ import annotations

from collections.abc import Iterable

from tickwire.clock import monotonic_ns
from tickwire.engine.strategy import Action, BookView, Strategy, market
from tickwire.types import SIDE_BUY, SIDE_SELL


NO_SIGNAL = -1


def signal(bid_amount: int, ask_amount: int, threshold: float) -> int:
    """SIDE_BUY, SIDE_SELL, or NO_SIGNAL."""
    total = bid_amount + ask_amount
    if total <= 0:
        return NO_SIGNAL
    imbalance = (bid_amount - ask_amount) / total
    return SIDE_BUY if imbalance >= threshold else SIDE_SELL if imbalance <= -threshold else NO_SIGNAL


class Taker(Strategy):
    """Market orders on a top-of-book imbalance signal (see the module docstring)."""

    def __init__(self, ctx, threshold: float = 0.6, size: float = 1, cooldown_ms: float = 200,
                 max_position: float = 10) -> None:
        super().__init__(ctx, threshold=threshold, size=size, cooldown_ms=cooldown_ms, max_position=max_position)
        self._next_ns = 0

    def on_book(self, inst: int, book: BookView) -> Iterable[Action] | None:
        if not book.valid:
            return None
        side = signal(book.bid_amount, book.ask_amount, self.params["threshold"])
        now = monotonic_ns()
        if side == NO_SIGNAL or now < self._next_ns:
            return None
        size = int(self.params["size"])
        if abs(self.ctx.position(inst) + (size if side == SIDE_BUY else -size)) > self.params["max_position"]:
            return None
        self._next_ns = now + int(self.params["cooldown_ms"] * 1e6)
        return [market(inst, side, size)]
