"""The compiled book (tickwire.md.book) against its dict-book reference twin, on random event streams."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tickwire.md.book import (
    APPLIED, GAP, IGNORED, Books, RefBook, book_apply_event, book_apply_events, book_checksum, book_depth, book_top,
)
from tickwire.types import (
    ACT_LEVEL_CHANGE, ACT_LEVEL_DELETE, ACT_LEVEL_NEW, BOOK_ASK, BOOK_BID, BOOK_NO_PRICE, EV_BOOK, EV_TRADE,
    EVENT_DTYPE, EVF_FIRST, EVF_LAST, EVF_SNAPSHOT,
)

_level = st.tuples(st.sampled_from([BOOK_BID, BOOK_ASK]),
                   st.sampled_from([ACT_LEVEL_NEW, ACT_LEVEL_CHANGE, ACT_LEVEL_DELETE]),
                   st.integers(90, 110), st.integers(-1, 5))
_message = st.tuples(st.booleans(), st.booleans(), st.lists(_level, max_size=6))  # snapshot?, chain ok?, levels


def _events(messages: list) -> np.ndarray:
    rows = []
    change_id = 100
    for snapshot, chain_ok, levels in messages:
        prev = change_id if chain_ok else change_id + 7
        change_id += 3
        levels = levels or [(BOOK_BID, 0, 0, 0)]  # an empty message still advances the chain
        for k, (side, action, price, amount) in enumerate(levels):
            flags = (EVF_SNAPSHOT if snapshot else 0) | (EVF_FIRST if k == 0 else 0)
            flags |= EVF_LAST if k == len(levels) - 1 else 0
            if snapshot and action:
                action = ACT_LEVEL_NEW
            rows.append((EV_BOOK, side, action, flags, 0, change_id, 0, change_id, -1 if snapshot else prev,
                         price, amount, 0))
    return np.array(rows, dtype=EVENT_DTYPE)


def _check_same(books: Books, ref: RefBook) -> None:
    for side in (BOOK_BID, BOOK_ASK):
        assert books.levels(0, side) == ref.levels(side)
    rec = books.state[0]
    assert (int(rec["last_change_id"]), bool(rec["valid"]), int(rec["n_gaps"]), int(rec["n_errors"]),
            int(rec["n_dropped"]), int(rec["n_msgs"])) == (
        ref.last_change_id, ref.valid, ref.n_gaps, ref.n_errors, ref.n_dropped, ref.n_msgs)
    assert int(book_checksum(books.px, books.qty, books.state, 0)) == ref.checksum()


@settings(max_examples=300, deadline=None)
@given(st.lists(_message, max_size=25), st.sampled_from([3, 8, 64]))
def test_compiled_book_matches_dict_book(messages: list, depth: int) -> None:
    events = _events(messages)
    books = Books(1, depth)
    ref = RefBook(depth)
    for ev in events:
        book_apply_event(books.px, books.qty, books.state, ev)
        ref.apply_event(int(ev["kind"]), int(ev["flags"]), int(ev["side"]), int(ev["action"]), int(ev["price"]),
                        int(ev["amount"]), int(ev["change_id"]), int(ev["prev_change_id"]))
        _check_same(books, ref)
    # the batch entry point gives the same book
    batch = Books(1, depth)
    book_apply_events(batch.px, batch.qty, batch.state, events, len(events))
    assert batch.summary(0) == books.summary(0)


def test_snapshot_then_gap_invalidates_until_next_snapshot() -> None:
    snap = (True, True, [(BOOK_BID, ACT_LEVEL_NEW, 100, 5), (BOOK_ASK, ACT_LEVEL_NEW, 101, 7)])
    events = _events([snap, (False, True, [(BOOK_BID, ACT_LEVEL_CHANGE, 100, 9)]),
                      (False, False, [(BOOK_BID, ACT_LEVEL_DELETE, 100, 0)]),
                      (False, True, [(BOOK_ASK, ACT_LEVEL_DELETE, 101, 0)])])
    books = Books(2, 16)
    px, qty, state = books.arrays
    results = [book_apply_event(px, qty, state, ev) for ev in events]
    assert results == [APPLIED, APPLIED, APPLIED, GAP, IGNORED]
    assert book_top(px, qty, state, 0) == (100, 9, 101, 7)  # the gapped messages were not applied
    assert state[0]["valid"] == 0 and state[0]["n_gaps"] == 1
    assert book_top(px, qty, state, 1) == (BOOK_NO_PRICE, 0, BOOK_NO_PRICE, 0)  # other slot untouched
    out_px = np.zeros(4, np.int64)
    out_qty = np.zeros(4, np.int64)
    assert book_depth(px, qty, state, 0, BOOK_ASK, out_px, out_qty) == 1 and out_px[0] == 101


def test_non_book_events_are_ignored() -> None:
    ev = np.zeros(1, dtype=EVENT_DTYPE)
    ev[0]["kind"] = EV_TRADE
    books = Books(1, 4)
    assert book_apply_event(books.px, books.qty, books.state, ev[0]) == IGNORED
