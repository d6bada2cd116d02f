"""Hostile input at the unit level: WebSocket lengths near 2^63, impossible book data, bounded trade ids, venue
answers of the wrong shape, configuration that would switch limits off, the run report's numbers."""
from __future__ import annotations

import numpy as np
import pytest

from tickwire.config import ConfigError, load
from tickwire.deribit.session import MalformedAnswer, VenueError, describe, venue_error
from tickwire.deribit.venue import ENDPOINTS, http_url, remote
from tickwire.engine import venue_check as vc
from tickwire.engine.positions import PositionBook
from tickwire.engine.run import _round
from tickwire.md.book import BOOK_MAX_PRICE, GAP, Books, RefBook, book_apply_event
from tickwire.netstack import ws
from tickwire.types import ACT_LEVEL_CHANGE, ACT_LEVEL_NEW, EV_BOOK, EVENT_DTYPE, EVF_FIRST, EVF_LAST, EVF_SNAPSHOT


@pytest.mark.parametrize("length", [(1 << 63) - 1, (1 << 63) - 2, (1 << 63) - 10, 1 << 40, (1 << 22) + 1])
def test_websocket_length_beyond_the_buffer_closes_with_an_error(length: int) -> None:
    d = ws.Deframer(ws.PH_FRAMES, ws.MASK_NO, cap=1 << 22)
    assert d.feed(bytes([0x81, 127]) + length.to_bytes(8, "big") + b"{}") == []
    assert d.error == ws.ERR_NAMES[ws.ERR_TOO_LARGE] and d.st[ws.S_PHASE] == ws.PH_CLOSED
    assert 0 <= d.st[ws.S_RPOS] <= d.st[ws.S_WPOS]  # the position never wraps negative


def test_websocket_length_with_the_top_bit_set_is_a_protocol_error() -> None:
    d = ws.Deframer(ws.PH_FRAMES, ws.MASK_NO)
    assert d.feed(ws.ref_encode(b'{"a":1}', ws.OP_TEXT) + bytes([0x81, 127, 0x80] + [0] * 7)) == [(1, b'{"a":1}')]
    assert d.error == ws.ERR_NAMES[ws.ERR_LENGTH]


def _event(flags: int, action: int, price: int, amount: int, change_id: int, prev: int = -1) -> np.void:
    ev = np.zeros(1, EVENT_DTYPE)[0]
    ev["kind"], ev["flags"], ev["action"], ev["price"], ev["amount"] = EV_BOOK, flags, action, price, amount
    ev["change_id"], ev["prev_change_id"], ev["side"] = change_id, prev, 0
    return ev


SNAP = EVF_SNAPSHOT | EVF_FIRST | EVF_LAST
CHANGE = EVF_FIRST | EVF_LAST


@pytest.mark.parametrize("bad", [
    (CHANGE, ACT_LEVEL_CHANGE, 0, 10, 101, 100),  # price 0
    (CHANGE, ACT_LEVEL_CHANGE, -4, 10, 101, 100),  # negative price
    (CHANGE, ACT_LEVEL_NEW, BOOK_MAX_PRICE + 1, 10, 101, 100),  # absurd price
    (CHANGE, ACT_LEVEL_CHANGE, 99, -10, 101, 100),  # negative amount
    (CHANGE, ACT_LEVEL_CHANGE, 99, 10, 50, 100),  # change_id backwards
    (CHANGE, ACT_LEVEL_CHANGE, 99, 10, -7, 100),  # negative change_id
    (SNAP, ACT_LEVEL_NEW, 0, 10, 200),  # a snapshot with price 0
], ids=["price0", "negative-price", "absurd", "negative-amount", "backwards", "negative-id", "bad-snapshot"])
def test_book_refuses_impossible_data_until_the_next_snapshot(bad: tuple) -> None:
    books, ref = Books(1), RefBook()

    def apply(*args: int) -> int:
        ev = _event(*args)
        ref.apply_event(EV_BOOK, int(ev["flags"]), 0, int(ev["action"]), int(ev["price"]), int(ev["amount"]),
                        int(ev["change_id"]), int(ev["prev_change_id"]))
        return book_apply_event(books.px, books.qty, books.state, ev)

    apply(SNAP, ACT_LEVEL_NEW, 99, 10, 100)
    assert books.state[0]["valid"] == 1
    assert apply(*bad) == GAP
    assert books.state[0]["valid"] == 0 and books.state[0]["n_errors"] == 1 and ref.n_errors == 1 and not ref.valid
    assert all(p > 0 for p, _ in books.levels(0, 0))
    apply(SNAP & ~EVF_LAST, ACT_LEVEL_NEW, 98, 5, 300)  # a fresh snapshot, two levels
    apply(EVF_SNAPSHOT | EVF_LAST, ACT_LEVEL_NEW, 97, 5, 300)
    assert books.state[0]["valid"] == 1 and books.levels(0, 0) == [(98, 5), (97, 5)] == ref.levels(0)
    assert books.summary(0)["checksum"] == ref.checksum()


def test_a_refused_level_inside_a_snapshot_poisons_the_rest_of_it() -> None:
    books = Books(1)
    for flags, price in ((EVF_SNAPSHOT | EVF_FIRST, 99), (EVF_SNAPSHOT, 0), (EVF_SNAPSHOT | EVF_LAST, 97)):
        book_apply_event(books.px, books.qty, books.state, _event(flags, ACT_LEVEL_NEW, price, 5, 100))
    assert books.state[0]["valid"] == 0 and books.levels(0, 0) == []


def test_seen_trade_ids_stay_bounded() -> None:
    book = PositionBook(("BTC-PERPETUAL",), seen_capacity=1000)
    for k in range(5000):
        assert book.on_trade({"trade_id": str(k), "instrument_name": "BTC-PERPETUAL", "direction": "buy",
                              "price": 50_000.0, "amount": 10.0})
    assert len(book.seen_trades) == 1000 and book.seen("4999") and not book.seen("0")
    assert book.positions["BTC-PERPETUAL"].size == 50_000.0


@pytest.mark.parametrize("trade", [
    {"price": 0.0}, {"price": -1.0}, {"amount": -10.0}, {"amount": float("nan")}, {"price": float("inf")},
    {"direction": "up"}, {"price": "50000"},
])
def test_impossible_fills_are_not_applied(trade: dict) -> None:
    book = PositionBook(("BTC-PERPETUAL",))
    base = {"trade_id": "1", "instrument_name": "BTC-PERPETUAL", "direction": "buy", "price": 5e4, "amount": 10.0}
    assert not book.on_trade(base | trade) and book.positions["BTC-PERPETUAL"].size == 0
    assert vc.user_trade(base | trade) is None


def test_venue_errors_of_any_shape_become_exceptions_not_crashes() -> None:
    assert isinstance(venue_error("m", "boom"), MalformedAnswer)
    assert isinstance(venue_error("m", {"code": "10004"}), MalformedAnswer)
    e = venue_error("public/auth", {"code": 13004, "message": "invalid_credentials: revoked"})
    assert type(e) is VenueError and e.code == 13004 and "revoked" in str(e)
    assert describe(TimeoutError()) == "TimeoutError" and describe(ValueError("x")) == "ValueError: x"


def test_order_objects_are_validated() -> None:
    good = {"order_state": "open", "filled_amount": 20.0, "order_id": "A-1", "last_update_timestamp": 5}
    assert vc.order(good, 10.0) == vc.Order(1, 2, "A-1", 5)
    for bad in ({"order_state": 7}, {"order_state": "exploded"}, {"filled_amount": -10.0},
                {"filled_amount": float("inf")}, {"last_update_timestamp": "x"}, {"order_id": 5}):
        assert vc.order(good | bad, 10.0) is None, bad
    assert vc.order([good], 10.0) is None


@pytest.mark.parametrize("data,msg", [
    ({"risk": {"max_position": float("inf")}}, "risk.max_position: must be > 0 and finite"),
    ({"risk": {"max_order_amount": float("nan")}}, "risk.max_order_amount: must be > 0 and finite"),
    ({"credits": {"matching_rate_per_s": float("inf")}}, "credits.matching_rate_per_s"),
    ({"duration_s": float("inf")}, "duration_s"),
    ({"strategy_params": {"size": float("inf")}}, "strategy_params.size"),
    ({"instruments": ["BTC-PERPETUAL", "ETH-PERPETUAL", "BTC-PERPETUAL"]}, "listed more than once: BTC-PERPETUAL"),
    ({"url": "ws://www.deribit.com/ws/api/v2"}, "url: www.deribit.com is Deribit production"),
])
def test_config_refuses_what_would_switch_limits_off(data: dict, msg: str) -> None:
    with pytest.raises(ConfigError, match=msg):
        load(None, data)


def test_url_is_used_for_another_endpoint() -> None:
    cfg = load(None, {"venue": "testnet", "url": "ws://127.0.0.1:9/ws/api/v2"})
    venue = remote(cfg.venue, cfg.url)
    assert (venue.url, venue.http) == ("ws://127.0.0.1:9/ws/api/v2", "http://127.0.0.1:9/api/v2")
    assert http_url(ENDPOINTS["testnet"]) == "https://test.deribit.com/api/v2"


def test_report_numbers_are_rounded() -> None:
    assert _round(2999.6000000000004) == 2999.6 and _round(0.1 + 0.2) == 0.3
    assert _round(-1.2345678901234e-7) == -1.23456789e-07
