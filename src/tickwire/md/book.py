"""The L2 order book in compiled code: integer ticks and lots, preallocated arrays, one book per instrument slot.

Layout (``Books``): ``px`` and ``qty`` are int64 arrays of shape ``(n_slots, 2, depth)`` indexed by
``[inst, side, level]`` with side ``BOOK_BID``/``BOOK_ASK``; ``state`` is a ``BOOK_STATE_DTYPE`` array of length
``n_slots``. Each side is sorted with the BEST LEVEL LAST (bids ascending, asks descending): almost every change
happens near the touch, so an insert or delete moves only the few levels between it and the touch, and the best
level is ``[n - 1]`` without a search. Unlike a price-indexed window it needs no re-centering when the price
walks and no fallback map for far levels (not benchmarked against a window implementation yet).

Semantics (shared with the reference twin ``RefBook``, which the tests compare against):

- a snapshot message clears the book at its first event, inserts its levels, and at its last event sets
  ``last_change_id`` and ``valid = 1``;
- a change message is applied only when the book is valid and its ``prev_change_id`` equals ``last_change_id``;
  otherwise ``n_gaps`` += 1 and ``valid = 0`` until the next snapshot (the caller resubscribes);
- ``new`` of an existing price or ``change`` of a missing one sets the amount and counts an error; an amount <= 0
  deletes; ``delete`` of a missing price counts an error (or a drop when the side was truncated);
- a side holds at most ``depth`` levels: the worst level is dropped (``truncated = 1``, ``n_dropped`` += 1);
- impossible data is refused, never applied: a price outside ``0 < price <= BOOK_MAX_PRICE`` ticks, a negative
  amount, a negative change_id, or a change whose ``change_id`` is not above its ``prev_change_id`` (ids going
  backwards). The book becomes invalid (``n_errors`` += 1) and ignores the rest of that message and everything
  until the next snapshot, and the event reports GAP so that the caller resubscribes, as for a broken chain.

All ``@njit`` functions take ``(px, qty, st, ...)`` so the engine, the multicast feed handler and replay share them.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tickwire.types import (
    ACT_LEVEL_CHANGE, ACT_LEVEL_DELETE, ACT_LEVEL_NEW, BOOK_ASK, BOOK_BID, BOOK_DEFAULT_DEPTH, BOOK_NO_PRICE,
    BOOK_STATE_DTYPE, EV_BOOK, EVF_FIRST, EVF_LAST, EVF_SNAPSHOT,
)

# book_apply_level / book_apply_event results
APPLIED, IGNORED, GAP, INCONSISTENT, DROPPED = 0, 1, 2, 3, 4
BOOK_MAX_PRICE = 1 << 40  # ticks: 5.5e11 USD at BTC-PERPETUAL's 0.5 tick; anything above is a corrupt message
_REFUSED = -2  # last_change_id while a refused message poisons the book until the next snapshot starts

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


class Books:
    """Preallocated books for ``n_slots`` instruments; pass ``.px, .qty, .state`` to the @njit functions."""

    def __init__(self, n_slots: int, depth: int = BOOK_DEFAULT_DEPTH) -> None:
        if n_slots < 1 or depth < 1:
            raise ValueError(f"Books needs n_slots >= 1 and depth >= 1, got {n_slots}, {depth}")
        self.px = np.zeros((n_slots, 2, depth), dtype=np.int64)
        self.qty = np.zeros((n_slots, 2, depth), dtype=np.int64)
        self.state = np.zeros(n_slots, dtype=BOOK_STATE_DTYPE)
        for inst in range(n_slots):
            book_clear(self.px, self.qty, self.state, inst)
            self.state[inst]["valid"] = 0

    @property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.px, self.qty, self.state

    def levels(self, inst: int, side: int) -> list[tuple[int, int]]:
        """(price, amount) of one side, best first (for reports and tests)."""
        n = book_side_count(self.state, inst, side)
        return [(int(self.px[inst, side, i]), int(self.qty[inst, side, i])) for i in range(n - 1, -1, -1)]

    def summary(self, inst: int) -> dict[str, int]:
        """Top of book, counts, chain and checksum of one slot as plain ints."""
        bp, bq, ap, aq = book_top(self.px, self.qty, self.state, inst)
        rec = self.state[inst]
        return {
            "best_bid": int(bp), "best_bid_amount": int(bq), "best_ask": int(ap), "best_ask_amount": int(aq),
            "bids": int(rec["n_bids"]), "asks": int(rec["n_asks"]), "last_change_id": int(rec["last_change_id"]),
            "valid": int(rec["valid"]), "gaps": int(rec["n_gaps"]), "errors": int(rec["n_errors"]),
            "dropped": int(rec["n_dropped"]), "messages": int(rec["n_msgs"]),
            "checksum": int(book_checksum(self.px, self.qty, self.state, inst)),
        }


@njit(cache=True, inline="always", _nrt=False)
def book_side_count(st, inst, side):
    """Number of levels on one side."""
    return st[inst].n_bids if side == BOOK_BID else st[inst].n_asks


@njit(cache=True, inline="always", _nrt=False)
def _set_count(st, inst, side, n):
    if side == BOOK_BID:
        st[inst].n_bids = n
    else:
        st[inst].n_asks = n


@njit(cache=True, _nrt=False)
def book_clear(px, qty, st, inst):
    """Empty one slot and forget its chain (valid = 0 until a snapshot completes)."""
    st[inst].n_bids = 0
    st[inst].n_asks = 0
    st[inst].last_change_id = -1
    st[inst].valid = 0
    st[inst].truncated = 0


@njit(cache=True, inline="always", _nrt=False)
def _key(side, price):
    # Both sides sorted ascending by key, best last: bids by price, asks by -price.
    return price if side == BOOK_BID else -price


@njit(cache=True, _nrt=False)
def _find(px, inst, side, n, price):
    """Index of the first level whose key >= key(price) (binary search); n when none."""
    k = _key(side, price)
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        if _key(side, px[inst, side, mid]) < k:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, _nrt=False)
def book_apply_level(px, qty, st, inst, side, action, price, amount):
    """Apply one level (ACT_LEVEL_NEW/CHANGE/DELETE) to a slot, ignoring the chain. Returns APPLIED, INCONSISTENT
    (applied, but the action did not match the book) or DROPPED (did not fit the depth / unknown while truncated)."""
    n = book_side_count(st, inst, side)
    depth = px.shape[2]
    i = _find(px, inst, side, n, price)
    exists = i < n and px[inst, side, i] == price
    if action == ACT_LEVEL_DELETE or amount <= 0:
        if not exists:
            if action != ACT_LEVEL_DELETE:
                return APPLIED  # change/new to zero of an absent level: the book already agrees
            if st[inst].truncated:
                st[inst].n_dropped += 1
                return DROPPED
            st[inst].n_errors += 1
            return INCONSISTENT
        for j in range(i, n - 1):
            px[inst, side, j] = px[inst, side, j + 1]
            qty[inst, side, j] = qty[inst, side, j + 1]
        _set_count(st, inst, side, n - 1)
        return APPLIED
    if exists:
        qty[inst, side, i] = amount
        if action == ACT_LEVEL_NEW:
            st[inst].n_errors += 1
            return INCONSISTENT
        return APPLIED
    status = APPLIED
    if action == ACT_LEVEL_CHANGE and not st[inst].truncated:
        st[inst].n_errors += 1
        status = INCONSISTENT
    if n == depth:
        st[inst].truncated = 1
        st[inst].n_dropped += 1
        if i == 0:
            return DROPPED  # worse than every level we keep
        for j in range(0, i - 1):  # drop the worst (index 0), make room at i - 1
            px[inst, side, j] = px[inst, side, j + 1]
            qty[inst, side, j] = qty[inst, side, j + 1]
        px[inst, side, i - 1] = price
        qty[inst, side, i - 1] = amount
        return status
    for j in range(n, i, -1):
        px[inst, side, j] = px[inst, side, j - 1]
        qty[inst, side, j] = qty[inst, side, j - 1]
    px[inst, side, i] = price
    qty[inst, side, i] = amount
    _set_count(st, inst, side, n + 1)
    return status


@njit(cache=True, _nrt=False)
def book_event_possible(ev):
    """False for data no venue can mean: a price outside (0, BOOK_MAX_PRICE] ticks, a negative amount, a negative
    change_id, or a change message whose change_id does not move forward from its prev_change_id."""
    if ev.change_id < 0 or ev.amount < 0:
        return False
    if ev.action != 0 and (ev.price <= 0 or ev.price > BOOK_MAX_PRICE):
        return False
    if ev.flags & EVF_FIRST and not ev.flags & EVF_SNAPSHOT and ev.change_id <= ev.prev_change_id:
        return False
    return True


@njit(cache=True, _nrt=False)
def book_apply_event(px, qty, st, ev):
    """Apply one EV_BOOK event record (EVENT_DTYPE), with the change_id chain. Returns APPLIED, IGNORED (book
    invalid: waiting for a snapshot), GAP (chain broken here: the book is now invalid), INCONSISTENT or DROPPED."""
    if ev.kind != EV_BOOK:
        return IGNORED
    inst = ev.inst
    if ev.flags & EVF_SNAPSHOT:
        if ev.flags & EVF_FIRST:
            book_clear(px, qty, st, inst)
        elif st[inst].last_change_id == _REFUSED:
            return IGNORED
    elif ev.flags & EVF_FIRST:
        if st[inst].valid == 0:
            return IGNORED
        if ev.prev_change_id != st[inst].last_change_id:
            st[inst].valid = 0
            st[inst].n_gaps += 1
            return GAP
    elif st[inst].valid == 0:
        return IGNORED
    if not book_event_possible(ev):
        book_clear(px, qty, st, inst)
        st[inst].last_change_id = _REFUSED
        st[inst].n_errors += 1
        return GAP
    status = APPLIED
    if ev.action != 0:
        status = book_apply_level(px, qty, st, inst, ev.side, ev.action, ev.price, ev.amount)
    if ev.flags & EVF_LAST:
        st[inst].last_change_id = ev.change_id
        st[inst].exch_ts = ev.exch_ts
        st[inst].n_msgs += 1
        if ev.flags & EVF_SNAPSHOT:
            st[inst].valid = 1
    return status


@njit(cache=True, _nrt=False)
def book_apply_events(px, qty, st, events, n):
    """Apply the EV_BOOK events among ``events[:n]`` (others are skipped). Returns the number of gaps found."""
    gaps = 0
    for k in range(n):
        if events[k].kind == EV_BOOK and book_apply_event(px, qty, st, events[k]) == GAP:
            gaps += 1
    return gaps


@njit(cache=True, _nrt=False)
def book_best(px, qty, st, inst, side):
    """(price, amount) of the best level of one side; (BOOK_NO_PRICE, 0) when the side is empty."""
    n = book_side_count(st, inst, side)
    if n == 0:
        return BOOK_NO_PRICE, 0
    return px[inst, side, n - 1], qty[inst, side, n - 1]


@njit(cache=True, _nrt=False)
def book_top(px, qty, st, inst):
    """(bid price, bid amount, ask price, ask amount) in ticks/lots; BOOK_NO_PRICE for an empty side."""
    bp, bq = book_best(px, qty, st, inst, BOOK_BID)
    ap, aq = book_best(px, qty, st, inst, BOOK_ASK)
    return bp, bq, ap, aq


@njit(cache=True, _nrt=False)
def book_depth(px, qty, st, inst, side, out_px, out_qty):
    """Copy up to len(out_px) levels of one side, best first; returns how many were copied."""
    n = book_side_count(st, inst, side)
    k = min(n, out_px.shape[0])
    for j in range(k):
        out_px[j] = px[inst, side, n - 1 - j]
        out_qty[j] = qty[inst, side, n - 1 - j]
    return k


@njit(cache=True, _nrt=False)
def book_checksum(px, qty, st, inst):
    """FNV-1a over the 64-bit words (n_bids, bids best first as price, amount, n_asks, asks best first)."""
    h = _FNV_OFFSET
    for side in (BOOK_BID, BOOK_ASK):
        n = book_side_count(st, inst, side)
        h = (h ^ np.uint64(n)) * _FNV_PRIME
        for j in range(n - 1, -1, -1):
            h = (h ^ np.uint64(px[inst, side, j])) * _FNV_PRIME
            h = (h ^ np.uint64(qty[inst, side, j])) * _FNV_PRIME
    return h


# ---------------------------------------------------------------------------------------------------------------
# Reference twin: a dict book with the same semantics, in plain Python (tests compare the two).

class RefBook:
    """Plain-Python reference of one slot: dicts of price -> amount, the same rules as the compiled book."""

    def __init__(self, depth: int = BOOK_DEFAULT_DEPTH) -> None:
        self.depth = depth
        self.sides: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self.last_change_id = -1
        self.valid = False
        self.truncated = False
        self.n_gaps = self.n_errors = self.n_dropped = self.n_msgs = 0

    def _worst(self, side: int) -> int:
        return min(self.sides[side]) if side == BOOK_BID else max(self.sides[side])

    def apply_level(self, side: int, action: int, price: int, amount: int) -> None:
        levels = self.sides[side]
        if action == ACT_LEVEL_DELETE or amount <= 0:
            if price in levels:
                del levels[price]
            elif action == ACT_LEVEL_DELETE:
                if self.truncated:
                    self.n_dropped += 1
                else:
                    self.n_errors += 1
            return
        if price in levels:
            levels[price] = amount
            self.n_errors += action == ACT_LEVEL_NEW
            return
        if action == ACT_LEVEL_CHANGE and not self.truncated:
            self.n_errors += 1
        if len(levels) == self.depth:
            self.truncated = True
            self.n_dropped += 1
            worst = self._worst(side)
            if (price < worst) if side == BOOK_BID else (price > worst):
                return
            del levels[worst]
        levels[price] = amount

    def apply_event(self, kind: int, flags: int, side: int, action: int, price: int, amount: int,
                    change_id: int, prev_change_id: int) -> None:
        if kind != EV_BOOK:
            return
        if flags & EVF_SNAPSHOT:
            if flags & EVF_FIRST:
                self.sides = ({}, {})
                self.last_change_id, self.valid, self.truncated = -1, False, False
            elif self.last_change_id == _REFUSED:
                return
        elif not self.valid:
            return
        elif flags & EVF_FIRST and prev_change_id != self.last_change_id:
            self.valid = False
            self.n_gaps += 1
            return
        impossible = (change_id < 0 or amount < 0 or (action and not 0 < price <= BOOK_MAX_PRICE)
                      or (flags & EVF_FIRST and not flags & EVF_SNAPSHOT and change_id <= prev_change_id))
        if impossible:
            self.sides = ({}, {})
            self.last_change_id, self.valid, self.truncated = _REFUSED, False, False
            self.n_errors += 1
            return
        if action:
            self.apply_level(side, action, price, amount)
        if flags & EVF_LAST:
            self.last_change_id = change_id
            self.n_msgs += 1
            if flags & EVF_SNAPSHOT:
                self.valid = True

    def levels(self, side: int) -> list[tuple[int, int]]:
        return sorted(self.sides[side].items(), reverse=side == BOOK_BID)

    def checksum(self) -> int:
        mask = (1 << 64) - 1
        h = 0xCBF29CE484222325
        for side in (BOOK_BID, BOOK_ASK):
            words = [len(self.sides[side])]
            for price, amount in self.levels(side):
                words += [price, amount]
            for w in words:
                h = ((h ^ (w & mask)) * 0x100000001B3) & mask
        return h
