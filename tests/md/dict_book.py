"""An order book written for the tests, independent of tickwire.md.book (and of the JSON decoders): Deribit's
``book.{instrument}.{interval}`` notifications applied to two plain dicts of price -> amount."""
from __future__ import annotations

from typing import Any

from tickwire.types import BOOK_BID


class DictBook:
    """Deribit's rules: a snapshot replaces the book; a change applies only when its ``prev_change_id`` is the last
    ``change_id`` applied (otherwise the book is invalid until the next snapshot); ``new`` and ``change`` set a
    level's amount, ``delete`` removes the level."""

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.last_change_id: int | None = None
        self.valid = False

    def apply(self, data: dict[str, Any]) -> None:
        """Apply the ``data`` of one book notification."""
        if data["type"] == "snapshot":
            self.bids, self.asks, self.valid = {}, {}, True
        elif not self.valid or data["prev_change_id"] != self.last_change_id:
            self.valid = False
            return
        for side, levels in ((self.bids, data["bids"]), (self.asks, data["asks"])):
            for action, price, amount in levels:
                if action == "delete":
                    side.pop(price, None)
                else:
                    side[price] = amount
        self.last_change_id = data["change_id"]

    def levels(self, side: int, tick: float, lot: float) -> list[tuple[int, int]]:
        """(price in ticks, amount in lots), best first: the form of tickwire's books."""
        book = self.bids if side == BOOK_BID else self.asks
        return [(round(p / tick), round(a / lot)) for p, a in sorted(book.items(), reverse=side == BOOK_BID)]


def apply_message(books: dict[str, DictBook], msg: dict[str, Any]) -> bool:
    """Apply one server message when it is a book notification; True when it was one."""
    params = msg.get("params") or {}
    if msg.get("method") != "subscription" or not str(params.get("channel", "")).startswith("book."):
        return False
    data = params["data"]
    books.setdefault(data["instrument_name"], DictBook()).apply(data)
    return True
