"""Plain-Python reference twin of the compiled feed handler (tickwire.md.mcast_feed), for the tests.

Same rules in plain Python: the reference SBE decoder, dict-based RefBooks, sets for sequence windows.
"""
from __future__ import annotations

import collections
from typing import Any

from tickwire import types as T
from tickwire.md.book import RefBook
from tickwire.deribit._sbe_ref import SbeDecodeError, decode_packet_py

_ACTION = {T.SBE_CHANGE_CREATED: T.ACT_LEVEL_NEW, T.SBE_CHANGE_CHANGED: T.ACT_LEVEL_CHANGE,
           T.SBE_CHANGE_DELETED: T.ACT_LEVEL_DELETE}
_OFF = T.SBE_SNAPSHOT_CHANNEL_OFFSET


class RefFeed:
    def __init__(self, depth: int = 1024, pending: int = 8192) -> None:
        self.depth = depth
        self.ring: list[tuple | None] = [None] * pending
        self.head = 0
        self.stats: collections.Counter[str] = collections.Counter()
        self.hi: dict[int, int] = {}
        self.seen: dict[int, set[int]] = collections.defaultdict(set)
        self.snap: dict[int, tuple[int, int]] = {}
        self.slot_of: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self.books: list[RefBook] = []
        self.units: list[tuple[float, float]] = []
        self.inc_chan: list[int] = []
        self.suspect: list[bool] = []
        self.pending: list[int] = []
        self.trades: list[int] = []

    # -- helpers ---------------------------------------------------------------------------------------------
    def _clear(self, slot: int) -> None:
        b = self.books[slot]
        b.sides, b.last_change_id, b.valid, b.truncated = ({}, {}), -1, False, False

    def _units(self, value: float, unit: float) -> int:
        x = value / unit
        r = round(x)
        if abs(x - r) > 1e-6 * max(1.0, abs(x)):
            self.stats["off_tick"] += 1
        return int(r)

    def _slot(self, iid: int) -> int:
        if iid in self.slot_of:
            return self.slot_of[iid]
        self.stats["unknown_instrument"] += 1
        return -1

    def _accept(self, c: int, s: int) -> bool:
        if c not in self.hi:
            self.hi[c] = s
            self.seen[c] = {s}
            return True
        hi = self.hi[c]
        if s > hi:
            if s - hi > 1:
                self.stats["gaps"] += 1
                self.stats["missing"] += s - hi - 1
                self._abort(c)
                for slot, chan in enumerate(self.inc_chan):
                    if chan == c and self.books[slot].valid:
                        self.suspect[slot] = True
            self.hi[c] = s
            self.seen[c] = {q for q in self.seen[c] if s - q < 64} | {s}
            return True
        if hi - s >= 64:
            self.stats["too_old"] += 1
            return False
        if s in self.seen[c]:
            self.stats["duplicates"] += 1
            return False
        self.seen[c].add(s)
        self.stats["reordered"] += 1
        self.stats["missing"] -= 1
        return True

    def _abort(self, c: int) -> None:
        if c in self.snap:
            self._clear(self.snap.pop(c)[0])
            self.stats["snapshots_aborted"] += 1

    def _events(self, slot: int, levels: list, flags0: int, last: bool, change_id: int, prev: int) -> list[tuple]:
        """(slot, flags, side, action, price, amount, change_id, prev) per level, units converted."""
        tick, lot = self.units[slot]
        rows = levels or [None]
        out = []
        for j, lv in enumerate(rows):
            flags = flags0 if j == 0 else flags0 & T.EVF_SNAPSHOT
            if j == len(rows) - 1 and last:
                flags |= T.EVF_LAST
            if lv is None:
                side, action, price, amount = T.BOOK_BID, T.ACT_LEVEL_NONE, 0, 0
            else:
                sbe_side, change, p, a = lv
                side = T.BOOK_BID if sbe_side == T.SBE_SIDE_BID else T.BOOK_ASK
                action = T.ACT_LEVEL_NEW if flags0 & T.EVF_SNAPSHOT else _ACTION[change]
                price, amount = self._units(p, tick), self._units(a, lot)
            out.append((slot, flags, side, action, price, amount, change_id, prev))
        return out

    def _apply_one(self, ev: tuple) -> bool:
        slot, flags, side, action, price, amount, change_id, prev = ev
        book = self.books[slot]
        gaps, errors = book.n_gaps, book.n_errors
        book.apply_event(T.EV_BOOK, flags, side, action, price, amount, change_id, prev)
        if book.n_gaps != gaps:
            self.stats["book_gaps"] += 1
            return True
        self.stats["inconsistent"] += book.n_errors - errors
        return False

    def _apply(self, slot: int, levels: list, flags0: int, last: bool, change_id: int, prev: int) -> bool:
        return any(self._apply_one(ev) for ev in self._events(slot, levels, flags0, last, change_id, prev))

    def _buffer(self, slot: int, m: dict[str, Any], flags0: int) -> None:
        for ev in self._events(slot, m["levels"], flags0, m["is_last"] == 1, m["change_id"], m["prev_change_id"]):
            k = self.head % len(self.ring)
            if self.ring[k] is not None:
                self.stats["buffer_lost"] += 1
            self.ring[k] = ev
            self.head += 1

    def _replay(self, slot: int) -> None:
        size = len(self.ring)
        for k in range(max(0, self.head - size), self.head):
            ev = self.ring[k % size]
            if ev is None or ev[0] != slot:
                continue
            self.ring[k % size] = None
            if ev[6] <= self.books[slot].last_change_id:
                self.stats["ignored"] += 1
                continue
            self.stats["replayed"] += 1
            if self._apply_one(ev):
                break

    # -- messages -----------------------------------------------------------------------------------------------
    def _instrument(self, m: dict[str, Any]) -> None:
        iid = m["instrument_id"]
        if not (m["tick_size"] > 0 and m["min_trade_amount"] > 0):
            self.stats["unknown_instrument"] += 1
            return
        if iid not in self.slot_of:
            slot = self.slot_of[iid] = len(self.books)
            self.books.append(RefBook(self.depth))
            self.units.append((0.0, 0.0))
            self.inc_chan.append(-1)
            self.suspect.append(False)
            self.pending.append(-1)
            self.trades.append(0)
            self.names[slot] = m["name"]
        slot = self.slot_of[iid]
        if self.units[slot] != (0.0, 0.0) and self.units[slot] != (m["tick_size"], m["min_trade_amount"]):
            self._clear(slot)
        self.units[slot] = (m["tick_size"], m["min_trade_amount"])

    def _book(self, c: int, m: dict[str, Any]) -> None:
        slot = self._slot(m["instrument_id"])
        if slot < 0:
            return
        if c < _OFF:
            self.inc_chan[slot] = c
        book = self.books[slot]
        continuation = self.pending[slot] >= 0 and self.pending[slot] == m["change_id"]
        if not book.valid:
            if m["prev_change_id"] == 0 and not continuation and self.snap.get(min(c + _OFF, 0xFFFF), (-1,))[0] != slot:
                self._apply(slot, [], T.EVF_SNAPSHOT | T.EVF_FIRST, True, 0, -1)
                self.stats["fresh_books"] += 1
            else:
                self._buffer(slot, m, 0 if continuation else T.EVF_FIRST)
                self.pending[slot] = -1 if m["is_last"] == 1 else m["change_id"]
                self.stats["buffered"] += 1
                return
        elif not continuation and m["change_id"] <= book.last_change_id:
            self.stats["stale"] += 1
            return
        gap = self._apply(slot, m["levels"], 0 if continuation else T.EVF_FIRST, m["is_last"] == 1,
                          m["change_id"], m["prev_change_id"])
        self.pending[slot] = -1 if gap or m["is_last"] == 1 else m["change_id"]
        if not gap:
            self.suspect[slot] = False

    def _same(self, slot: int, m: dict[str, Any]) -> bool:
        tick, lot = self.units[slot]
        want: tuple[dict[int, int], dict[int, int]] = ({}, {})
        for sbe_side, _, p, a in m["levels"]:
            want[T.BOOK_BID if sbe_side == T.SBE_SIDE_BID else T.BOOK_ASK][round(p / tick)] = round(a / lot)
        return want == self.books[slot].sides

    def _snapshot(self, c: int, m: dict[str, Any]) -> None:
        slot = self._slot(m["instrument_id"])
        if slot < 0:
            return
        book = self.books[slot]
        last = m["is_last_in_book"] == 1
        if self.snap.get(c) == (slot, m["change_id"]):
            self._apply(slot, m["levels"], T.EVF_SNAPSHOT, last, m["change_id"], -1)
        else:
            self._abort(c)
            if book.valid:
                in_sync = not self.suspect[slot] and m["change_id"] == book.last_change_id
                if in_sync and last and m["is_book_complete"] == 1:
                    if self._same(slot, m):
                        self.stats["snapshots_verified"] += 1
                        return
                    self.stats["snapshot_mismatch"] += 1
                elif not self.suspect[slot] or m["change_id"] < book.last_change_id:
                    return
            self._apply(slot, m["levels"], T.EVF_SNAPSHOT | T.EVF_FIRST, last, m["change_id"], -1)
        if last:
            self.snap.pop(c, None)
            self.suspect[slot] = False
            self.pending[slot] = -1
            self.stats["snapshots"] += 1
            self._replay(slot)
        else:
            self.snap[c] = (slot, m["change_id"])

    def packet(self, payload: bytes) -> None:
        try:
            packet = decode_packet_py(payload)
        except SbeDecodeError:
            self.stats["decode_errors"] += 1
            return
        if not self._accept(packet.channel, packet.seq):
            return
        self.stats["packets"] += 1
        for m in packet.messages:
            tpl = m["template"]
            if tpl in (T.SBE_TPL_INSTRUMENT, T.SBE_TPL_INSTRUMENT_V2):
                self._instrument(m)
            elif tpl == T.SBE_TPL_BOOK:
                self._book(packet.channel, m)
            elif tpl == T.SBE_TPL_SNAPSHOT:
                self._snapshot(packet.channel, m)
            elif tpl == T.SBE_TPL_TRADES:
                slot = self._slot(m["instrument_id"])
                if slot >= 0:
                    tick, lot = self.units[slot]
                    for t in m["trades"]:
                        self._units(t["price"], tick), self._units(t["amount"], lot)
                    self.trades[slot] += len(m["trades"])
                    self.stats["trades"] += len(m["trades"])
            elif tpl == T.SBE_TPL_TICKER:
                slot = self._slot(m["instrument_id"])
                if slot >= 0:
                    tick, lot = self.units[slot]
                    for p, a in ((m["best_bid_price"], m["best_bid_amount"]), (m["best_ask_price"], m["best_ask_amount"])):
                        if p == p and a == a:
                            self._units(p, tick), self._units(a, lot)
                    self.stats["tickers"] += 1

    def synced(self, slot: int) -> bool:
        return self.books[slot].valid and not self.suspect[slot]
