"""Positions from our fills, inverse-perpetual PnL, and reconciliation against the venue.

Fills arrive twice (in the order response's ``trades`` and on user.trades) and possibly out of order, so they are
de-duplicated by ``trade_id``: the newest ``SEEN_TRADES`` ids are remembered (a ring plus a set, so memory stays
bounded however long the session runs; a fill older than that is covered by position reconciliation). Inverse perpetuals (BTC-PERPETUAL) are sized in USD and settled in BTC:
a long of ``q`` USD entered at ``e`` and closed at ``x`` makes ``q * (1/e - 1/x)`` BTC; the entry price of a
growing position is the harmonic mean of the fill prices weighted by USD (what Deribit reports).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from tickwire.types import SIDE_BUY, SIDE_SELL

SEEN_TRADES = 1 << 16


@dataclass
class Position:
    """One instrument's position: ``size`` in USD, signed (short < 0); PnL in the settlement coin."""

    instrument: str
    size: float = 0.0
    average_price: float = 0.0
    realized_pnl: float = 0.0
    fees: float = 0.0
    fills: int = 0

    def floating_pnl(self, mark: float) -> float:
        """Unrealised PnL at ``mark`` (coin units)."""
        if self.size == 0 or mark <= 0 or self.average_price <= 0:
            return 0.0
        return self.size * (1.0 / self.average_price - 1.0 / mark)

    def apply_fill(self, side: int, price: float, amount: float, fee: float = 0.0) -> None:
        """Apply one fill: ``side`` SIDE_BUY / SIDE_SELL, ``amount`` USD (> 0)."""
        signed = amount if side == SIDE_BUY else -amount
        self.fees += fee
        self.fills += 1
        if self.size == 0 or (self.size > 0) == (signed > 0):  # opening or growing
            coins = abs(self.size) / self.average_price if self.size else 0.0
            self.average_price = (abs(self.size) + amount) / (coins + amount / price)
            self.size += signed
            return
        closed = min(abs(self.size), amount)
        direction = 1.0 if self.size > 0 else -1.0
        self.realized_pnl += direction * closed * (1.0 / self.average_price - 1.0 / price)
        self.size += signed
        if abs(self.size) < 1e-9:
            self.size, self.average_price = 0.0, 0.0
        elif (self.size > 0) != (direction > 0):  # flipped: the rest opens at this price
            self.average_price = price


@dataclass
class PositionBook:
    """Positions of all traded instruments, fed by fills and checked against private/get_positions."""

    instruments: tuple[str, ...]
    positions: dict[str, Position] = field(default_factory=dict)
    seen_trades: set[str] = field(default_factory=set)
    corrections: int = 0
    seen_capacity: int = SEEN_TRADES
    _seen_order: deque[str] = field(default_factory=deque, repr=False)

    def __post_init__(self) -> None:
        for name in self.instruments:
            self.positions.setdefault(name, Position(name))
        self._prefill_seen()

    def _prefill_seen(self) -> None:
        """Fill the window with placeholder ids now (a NUL byte first: no venue trade id looks like them), so
        the set has its final size from the start and each real id replaces one: the memory of a session is
        flat from the first minute, instead of growing until ``seen_capacity`` real fills have come."""
        for k in range(self.seen_capacity - len(self._seen_order)):
            self._remember(f"\0{k:09d}")

    def seen(self, trade_id: str) -> bool:
        """True when this trade id was applied (among the newest ``seen_capacity``)."""
        return trade_id in self.seen_trades

    def on_trade(self, trade: dict) -> bool:
        """Apply a user trade (Deribit UserTrade object) once; False for a duplicate, a foreign instrument or an
        impossible fill (price or amount not a positive finite number, direction not buy/sell)."""
        tid = str(trade.get("trade_id", ""))
        name = trade.get("instrument_name", "")
        price, amount, fee = trade.get("price"), trade.get("amount"), trade.get("fee", 0.0) or 0.0
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (price, amount, fee)):
            return False  # JSON numbers only: no strings, no null
        if (not tid or tid in self.seen_trades or name not in self.positions
                or trade.get("direction") not in ("buy", "sell")
                or not (math.isfinite(price) and math.isfinite(amount) and math.isfinite(fee))
                or price <= 0 or amount <= 0):
            return False
        self._remember(tid)
        side = SIDE_BUY if trade["direction"] == "buy" else SIDE_SELL
        self.positions[name].apply_fill(side, float(price), float(amount), float(fee))
        return True

    def _remember(self, tid: str) -> None:
        if len(self._seen_order) >= self.seen_capacity:
            self.seen_trades.discard(self._seen_order.popleft())
        self._seen_order.append(tid)
        self.seen_trades.add(tid)

    def reconcile(self, venue: list[dict], in_flight: bool) -> list[str]:
        """Compare with the venue's positions; adopt the venue's size when we differ and no fill is in flight.

        Returns the instruments that were corrected (each is counted in ``corrections``).
        """
        fixed = []
        for p in venue:
            name = p.get("instrument_name")
            if name not in self.positions:
                continue
            mine = self.positions[name]
            size = float(p.get("size", 0.0))
            if abs(mine.size - size) > 1e-9 and not in_flight:
                mine.size = size
                mine.average_price = float(p.get("average_price", 0.0) or 0.0) if size else 0.0
                self.corrections += 1
                fixed.append(name)
        return fixed
