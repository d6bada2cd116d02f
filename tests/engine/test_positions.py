"""Positions from fills: inverse-perpetual PnL by hand-computed examples, duplicates ignored, reconcile."""
from __future__ import annotations

import pytest

from tickwire.engine.positions import Position, PositionBook
from tickwire.types import SIDE_BUY, SIDE_SELL


def test_long_round_trip_inverse_pnl():
    p = Position("BTC-PERPETUAL")
    p.apply_fill(SIDE_BUY, 50_000.0, 1000.0)
    p.apply_fill(SIDE_BUY, 40_000.0, 1000.0)
    # harmonic mean: 2000 USD / (0.02 + 0.025 BTC)
    assert p.average_price == pytest.approx(2000 / 0.045)
    assert p.floating_pnl(50_000.0) == pytest.approx(2000 * (0.045 / 2000 - 1 / 50_000))
    p.apply_fill(SIDE_SELL, 60_000.0, 2000.0)
    assert p.size == 0 and p.realized_pnl == pytest.approx(0.045 - 2000 / 60_000)


def test_short_flip_to_long():
    p = Position("BTC-PERPETUAL")
    p.apply_fill(SIDE_SELL, 50_000.0, 100.0)
    p.apply_fill(SIDE_BUY, 40_000.0, 300.0)
    assert p.realized_pnl == pytest.approx(100 * (1 / 40_000 - 1 / 50_000))
    assert p.size == 200 and p.average_price == 40_000.0


def test_duplicate_and_foreign_trades_are_ignored():
    book = PositionBook(("BTC-PERPETUAL",))
    t = {"trade_id": "7", "instrument_name": "BTC-PERPETUAL", "direction": "sell", "price": 100.0, "amount": 10.0,
         "fee": 1e-6}
    assert book.on_trade(t) and not book.on_trade(dict(t))
    assert not book.on_trade({**t, "trade_id": "8", "instrument_name": "ETH-PERPETUAL"})
    assert book.positions["BTC-PERPETUAL"].size == -10 and book.positions["BTC-PERPETUAL"].fees == 1e-6


def test_reconcile_adopts_venue_size_only_when_nothing_in_flight():
    book = PositionBook(("BTC-PERPETUAL",))
    venue = [{"instrument_name": "BTC-PERPETUAL", "size": 30.0, "average_price": 100.0}]
    assert book.reconcile(venue, in_flight=True) == [] and book.positions["BTC-PERPETUAL"].size == 0
    assert book.reconcile(venue, in_flight=False) == ["BTC-PERPETUAL"]
    assert book.positions["BTC-PERPETUAL"].size == 30 and book.corrections == 1


def test_the_duplicate_window_is_full_size_from_the_start_and_stays_so():
    """The trade-id window is prefilled, so a long session's memory does not grow while the window fills."""
    book = PositionBook(("BTC-PERPETUAL",), seen_capacity=512)
    assert len(book.seen_trades) == 512 and not book.seen("0")
    for k in range(2000):
        trade = {"trade_id": str(k), "instrument_name": "BTC-PERPETUAL", "price": 50_000.0, "amount": 10.0,
                 "direction": "buy" if k % 2 else "sell"}
        assert book.on_trade(trade)
        assert not book.on_trade(trade)  # the same fill again: a duplicate
        assert len(book.seen_trades) == 512
    assert book.seen("1999") and book.seen(str(2000 - 512)) and not book.seen(str(2000 - 513))
