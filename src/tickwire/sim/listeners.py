"""Market-data listener hook: how other publishers (e.g. the multicast feed) see every book change and trade.

The simulator calls each attached listener synchronously on its event loop, right after it applies a change
to its book and before (or while) it writes the same change to WebSocket subscribers. The ``change_id`` and
``prev_change_id`` are exactly those of the ``book.{instrument}.raw`` WebSocket feed (the ``gap`` fault only
suppresses WebSocket messages; listeners always see the unbroken chain). Listeners must not block: a slow
listener slows the whole venue.

Attach listeners when the server is created (``SimServer(config, listeners=[...])``) or later with
``SimServer.add_listener`` / ``Exchange.add_listener``. Prices and amounts are floats in exchange units
(price in quote currency, amount in USD for futures, base coin for options), exactly as on the wire.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

#: One side of a book change: ``[action, price, amount]`` with action "new" | "change" | "delete"
#: (delete carries amount 0.0), the same lists as the ``bids``/``asks`` of a ``book.*.raw`` message.
LevelChange = list[Any]


class BookSnapshot(NamedTuple):
    """A full book at one change_id; levels are ``(price, amount)``, best first."""

    instrument: str
    change_id: int
    timestamp_ms: int
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]


#: Returns the current full book of an instrument (for feeds that publish periodic snapshots).
SnapshotFn = Callable[[str], BookSnapshot]


@runtime_checkable
class MarketDataListener(Protocol):
    """What the simulator calls for every piece of public market data it publishes."""

    def on_instruments(self, instruments: Sequence[Mapping[str, Any]], snapshot: SnapshotFn) -> None:
        """Called once when attached: every instrument as in ``public/get_instruments``, and a snapshot getter."""

    def on_book_change(self, instrument: str, change_id: int, prev_change_id: int, timestamp_ms: int,
                       bids: Sequence[LevelChange], asks: Sequence[LevelChange]) -> None:
        """Called for every book change (one ``book.{instrument}.raw`` message), in change_id order."""

    def on_trades(self, instrument: str, trades: Sequence[Mapping[str, Any]]) -> None:
        """Called for the public trades of one match (the ``data`` array of ``trades.{instrument}.raw``)."""

    def on_ticker(self, instrument: str, ticker: Mapping[str, Any]) -> None:
        """Called every 100 ms per instrument with the ``ticker.{instrument}.100ms`` data object."""

    def close(self) -> None:
        """Called once when the simulator shuts down."""


class Listeners:
    """Fan-out to the attached listeners; a listener that raises is detached (and the error reported once)."""

    def __init__(self, on_error: Callable[[object, BaseException], None] | None = None) -> None:
        self._items: list[MarketDataListener] = []
        self._on_error = on_error

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, listener: MarketDataListener, instruments: Sequence[Mapping[str, Any]],
            snapshot: SnapshotFn) -> None:
        """Attach a listener and hand it the instrument list."""
        listener.on_instruments(instruments, snapshot)
        self._items.append(listener)

    def _fail(self, listener: MarketDataListener, exc: BaseException) -> None:
        if listener in self._items:
            self._items.remove(listener)
        if self._on_error is not None:
            self._on_error(listener, exc)

    def book_change(self, instrument: str, change_id: int, prev_change_id: int, timestamp_ms: int,
                    bids: Sequence[LevelChange], asks: Sequence[LevelChange]) -> None:
        for listener in tuple(self._items):
            try:
                listener.on_book_change(instrument, change_id, prev_change_id, timestamp_ms, bids, asks)
            except Exception as exc:  # a broken listener must not take the venue down
                self._fail(listener, exc)

    def trades(self, instrument: str, trades: Sequence[Mapping[str, Any]]) -> None:
        for listener in tuple(self._items):
            try:
                listener.on_trades(instrument, trades)
            except Exception as exc:
                self._fail(listener, exc)

    def ticker(self, instrument: str, ticker: Mapping[str, Any]) -> None:
        for listener in tuple(self._items):
            try:
                listener.on_ticker(instrument, ticker)
            except Exception as exc:
                self._fail(listener, exc)

    def close(self) -> None:
        for listener in tuple(self._items):
            try:
                listener.close()
            except Exception as exc:
                self._fail(listener, exc)
        self._items.clear()
