"""Deribit multicast feed handler: decoded SBE records -> integer-tick books and market-data events.

:class:`McastFeed` takes UDP payloads (from a pcap file, a kernel multicast socket or DPDK), decodes them with the
compiled SBE decoder and runs :func:`feed_step`, which in compiled code:

- tracks ``sequenceNumber`` per channel: gaps, duplicates (dropped), late/reordered packets (processed: the
  change_id chain keeps them from corrupting a book), packets older than a 64-packet window (dropped);
- maps ``instrumentId`` to an instrument slot from the Instrument/InstrumentV2 messages (tick and lot size);
- keeps one book per instrument in the same integer-tick book as the WebSocket path (:mod:`tickwire.md.book`),
  chained on ``prevChangeId == last changeId``; a break invalidates the book until a snapshot;
- recovers books from the snapshot channels (a Snapshot, possibly split until ``isLastInBook``) at start-up and
  after a gap; book messages that arrive meanwhile are buffered (a ring of PENDING_EVENTS events) and replayed
  after the snapshot when newer than it; a sequence gap on an incremental channel marks its books *suspect* until
  their next change chains (proving nothing was missed) or a snapshot arrives; snapshots of an in-sync book are
  compared level by level (a mismatch rebuilds the book from the snapshot, counted);
- writes ``EVENT_DTYPE`` events (book levels, trades, tickers) exactly as the JSON codec does, so the engine
  cannot tell multicast from WebSocket market data. Book events in the output are the ones passed to the book, in
  order: applying them to another ``Books`` yields the same book.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numba import njit

from tickwire import types as T
from tickwire.md.book import (
    GAP, INCONSISTENT, Books, book_apply_event, book_clear, book_side_count,
)
from tickwire.deribit import sbe as D
from tickwire.deribit.instruments import InstrumentTable, lookup_instrument

# Every kernel here is compiled without the numba runtime (_nrt=False, nothing allocates): with it, each call
# would incref/decref every array argument atomically (FeedState and SbeOut hold ~30 arrays).

ID_LIMIT = 1 << 20  # instrumentIds >= this are counted as unknown (Deribit's ids are far below)
N_CHANNELS = 1 << 16
SEQ_WINDOW = 64
PENDING_EVENTS = 8192  # book events buffered (all instruments) while books wait for their snapshot
_NO_SLOT = np.int32(-1)


class FeedState(NamedTuple):
    """Compiled-side state of the feed handler (arrays only, so @njit code can take it)."""

    chan_hi: np.ndarray  # int64[N_CHANNELS]: highest sequence number seen (-1: channel not seen)
    chan_mask: np.ndarray  # uint64[N_CHANNELS]: bit i = sequence hi - i was seen
    snap_slot: np.ndarray  # int32[N_CHANNELS]: slot whose multi-message snapshot is in progress on the channel
    snap_change: np.ndarray  # int64[N_CHANNELS]: its changeId
    slot_of: np.ndarray  # int32[ID_LIMIT]: instrumentId -> slot
    inst_id: np.ndarray  # int64[n_slots]
    tick: np.ndarray  # float64[n_slots]: tick size (price unit of the book)
    lot: np.ndarray  # float64[n_slots]: min trade amount (amount unit of the book)
    inc_chan: np.ndarray  # int32[n_slots]: incremental channel its book messages arrive on (-1: none yet)
    suspect: np.ndarray  # uint8[n_slots]: 1 after a sequence gap on its channel, until the chain is proven
    pending: np.ndarray  # int64[n_slots]: changeId of a book event split over messages (isLast = no), else -1
    trades: np.ndarray  # int64[n_slots]: trades seen
    pend: np.ndarray  # EVENT_DTYPE ring: book events of books waiting for a snapshot (consumed: kind EV_NONE)
    pend_head: np.ndarray  # int64[1]: events ever written to the ring
    next_slot: np.ndarray  # int64[1]: slot the next instrument not in the instrument table gets
    stats: np.ndarray  # int64[MCF_STATS_LEN]


def new_state(n_slots: int, pending: int = PENDING_EVENTS, first_free_slot: int = 0) -> FeedState:
    """Fresh feed state for ``n_slots`` instruments and a ring of ``pending`` buffered book events."""
    return FeedState(
        np.full(N_CHANNELS, -1, np.int64), np.zeros(N_CHANNELS, np.uint64), np.full(N_CHANNELS, -1, np.int32),
        np.zeros(N_CHANNELS, np.int64), np.full(ID_LIMIT, -1, np.int32), np.zeros(n_slots, np.int64),
        np.zeros(n_slots, np.float64), np.zeros(n_slots, np.float64), np.full(n_slots, -1, np.int32),
        np.zeros(n_slots, np.uint8), np.full(n_slots, -1, np.int64), np.zeros(n_slots, np.int64),
        np.zeros(max(pending, 1), T.EVENT_DTYPE), np.zeros(1, np.int64), np.full(1, first_free_slot, np.int64),
        np.zeros(T.MCF_STATS_LEN, np.int64))


@njit(cache=True, _nrt=False)
def _units(fs, value, unit):  # noqa: ANN001, ANN202
    """Convert a float price/amount to whole ticks/lots, counting values that are not a whole multiple."""
    x = value / unit
    r = np.round(x)
    if abs(x - r) > 1e-6 * max(1.0, abs(x)):
        fs.stats[T.MCF_STAT_OFF_TICK] += 1
    return np.int64(r)


@njit(cache=True, _nrt=False)
def _accept(fs, c, s, px, qty, bst):  # noqa: ANN001, ANN202
    """Check one packet's sequence number on its channel; False: drop the packet."""
    hi = fs.chan_hi[c]
    if hi < 0:
        fs.chan_hi[c] = s
        fs.chan_mask[c] = np.uint64(1)
        return True
    if s > hi:
        d = s - hi
        if d > 1:
            fs.stats[T.MCF_STAT_GAPS] += 1
            fs.stats[T.MCF_STAT_MISSING] += d - 1
            _channel_gap(fs, c, px, qty, bst)
        fs.chan_mask[c] = (fs.chan_mask[c] << np.uint64(d)) | np.uint64(1) if d < SEQ_WINDOW else np.uint64(1)
        fs.chan_hi[c] = s
        return True
    back = hi - s
    if back >= SEQ_WINDOW:
        fs.stats[T.MCF_STAT_TOO_OLD] += 1
        return False
    bit = np.uint64(1) << np.uint64(back)
    if fs.chan_mask[c] & bit:
        fs.stats[T.MCF_STAT_DUPLICATES] += 1
        return False
    fs.chan_mask[c] |= bit
    fs.stats[T.MCF_STAT_REORDERED] += 1
    fs.stats[T.MCF_STAT_MISSING] -= 1
    return True


@njit(cache=True, _nrt=False)
def _abort_snapshot(fs, c, px, qty, bst):  # noqa: ANN001, ANN202
    slot = fs.snap_slot[c]
    if slot >= 0:
        book_clear(px, qty, bst, slot)  # its first part is in the book: invalid until a whole snapshot
        fs.snap_slot[c] = -1
        fs.stats[T.MCF_STAT_SNAP_ABORTED] += 1


@njit(cache=True, _nrt=False)
def _channel_gap(fs, c, px, qty, bst):  # noqa: ANN001, ANN202
    """Packets of channel c were lost: abort its snapshot and invalidate the books it carries."""
    _abort_snapshot(fs, c, px, qty, bst)
    for slot in range(len(fs.inc_chan)):
        if fs.inc_chan[slot] == c and bst[slot].valid:
            fs.suspect[slot] = 1


@njit(cache=True, _nrt=False)
def _slot(fs, iid):  # noqa: ANN001, ANN202
    """The slot of a known instrument id, else -1 (counted)."""
    if iid < ID_LIMIT:
        slot = fs.slot_of[iid]
        if slot >= 0:
            return slot
    fs.stats[T.MCF_STAT_UNKNOWN_INSTRUMENT] += 1
    return -1


@njit(cache=True, _nrt=False)
def _instrument(fs, rec, insts, px, qty, bst):  # noqa: ANN001, ANN202
    iid = rec.instrument_id
    if iid >= ID_LIMIT or not (rec.tick_size > 0.0) or not (rec.min_trade_amount > 0.0):
        fs.stats[T.MCF_STAT_UNKNOWN_INSTRUMENT] += 1
        return
    slot = fs.slot_of[iid]
    if slot < 0:
        # the engine's slot for this name, when it already has one
        slot = lookup_instrument(insts, rec.name, 0, rec.name_len) if rec.name_len > 0 else -1
        if slot < 0:
            slot = fs.next_slot[0]
            if slot >= len(fs.inst_id):
                fs.stats[T.MCF_STAT_SLOTS_FULL] += 1
                return
            fs.next_slot[0] += 1
        fs.stats[T.MCF_STAT_SLOTS] += 1
        fs.slot_of[iid] = slot
        fs.inst_id[slot] = iid
    elif fs.tick[slot] != rec.tick_size or fs.lot[slot] != rec.min_trade_amount:
        book_clear(px, qty, bst, slot)  # units changed: the integer book is meaningless, resync
    fs.tick[slot] = rec.tick_size
    fs.lot[slot] = rec.min_trade_amount


@njit(cache=True, _nrt=False)
def _emit_level(fs, events, n, slot, side, action, flags, price, amount, ts_ms, rx_ns, change_id, prev, mi):  # noqa: ANN001, ANN202, E501
    ev = events[n]
    ev.kind = T.EV_BOOK
    ev.side = T.BOOK_BID if side == T.SBE_SIDE_BID else T.BOOK_ASK
    ev.action = action
    ev.flags = flags
    ev.inst = slot
    ev.exch_ts = np.int64(ts_ms) * 1_000_000
    ev.recv_ts = rx_ns
    ev.change_id = change_id
    ev.prev_change_id = prev
    ev.price = _units(fs, price, fs.tick[slot]) if action != T.ACT_LEVEL_NONE else 0
    ev.amount = _units(fs, amount, fs.lot[slot]) if action != T.ACT_LEVEL_NONE else 0
    ev.msg = mi
    return ev


@njit(cache=True, inline="always", _nrt=False)
def _action(change):  # noqa: ANN001, ANN202
    """Map an SBE bookChange value to ACT_LEVEL_*."""
    if change == T.SBE_CHANGE_CREATED:
        return T.ACT_LEVEL_NEW
    if change == T.SBE_CHANGE_CHANGED:
        return T.ACT_LEVEL_CHANGE
    return T.ACT_LEVEL_DELETE


@njit(cache=True, _nrt=False)
def _apply_levels(fs, out, first, n_levels, slot, flags0, last, ts_ms, rx_ns, change_id, prev, mi, events, n_ev,
                  px, qty, bst):  # noqa: ANN001, ANN202
    """Emit and apply one message's levels; returns (n_ev, gap)."""
    snapshot = flags0 & T.EVF_SNAPSHOT
    count = max(n_levels, 1)  # an empty message still moves the chain: one ACT_LEVEL_NONE event
    for j in range(count):
        flags = flags0 if j == 0 else (flags0 & T.EVF_SNAPSHOT)
        if j == count - 1 and last:
            flags |= T.EVF_LAST
        if n_levels == 0:
            action = T.ACT_LEVEL_NONE
            side = T.SBE_SIDE_BID
            price = 0.0
            amount = 0.0
        else:
            lv = out.levels[first + j]
            side = lv.side
            price = lv.price
            amount = lv.amount
            action = T.ACT_LEVEL_NEW if snapshot else _action(lv.change)
        ev = _emit_level(fs, events, n_ev, slot, side, action, flags, price, amount, ts_ms, rx_ns, change_id, prev,
                         mi)
        n_ev += 1
        status = book_apply_event(px, qty, bst, ev)
        if status == GAP:
            fs.stats[T.MCF_STAT_BOOK_GAPS] += 1
            return n_ev, True
        if status == INCONSISTENT:
            fs.stats[T.MCF_STAT_INCONSISTENT] += 1
    return n_ev, False


@njit(cache=True, _nrt=False)
def _buffer(fs, out, b, slot, flags0, rx_ns, mi):  # noqa: ANN001, ANN202
    """Append a book message to the pending ring (while the instrument waits for a snapshot)."""
    count = max(np.int64(b.n_levels), 1)
    for j in range(count):
        flags = flags0 if j == 0 else 0
        if j == count - 1 and b.is_last == T.SBE_YES:
            flags |= T.EVF_LAST
        k = fs.pend_head[0] % len(fs.pend)
        if fs.pend[k].kind != T.EV_NONE:
            fs.stats[T.MCF_STAT_BUFFER_LOST] += 1
        if b.n_levels == 0:
            _emit_level(fs, fs.pend, k, slot, T.SBE_SIDE_BID, T.ACT_LEVEL_NONE, flags, 0.0, 0.0, b.timestamp_ms,
                        rx_ns, b.change_id, b.prev_change_id, mi)
        else:
            lv = out.levels[b.first_level + j]
            _emit_level(fs, fs.pend, k, slot, lv.side, _action(lv.change), flags, lv.price, lv.amount,
                        b.timestamp_ms, rx_ns, b.change_id, b.prev_change_id, mi)
        fs.pend_head[0] += 1


@njit(cache=True, _nrt=False)
def _replay(fs, slot, events, n_ev, px, qty, bst):  # noqa: ANN001, ANN202
    """Apply the buffered events that follow a snapshot."""
    head = fs.pend_head[0]
    size = len(fs.pend)
    for k in range(max(0, head - size), head):
        ev = fs.pend[k % size]
        if ev.kind != T.EV_BOOK or ev.inst != slot:
            continue
        ev.kind = T.EV_NONE  # consumed
        if ev.change_id <= bst[slot].last_change_id:
            fs.stats[T.MCF_STAT_IGNORED] += 1
            continue
        out = events[n_ev]
        n_ev += 1
        out.kind = T.EV_BOOK
        out.side = ev.side
        out.action = ev.action
        out.flags = ev.flags
        out.inst = ev.inst
        out.exch_ts = ev.exch_ts
        out.recv_ts = ev.recv_ts
        out.change_id = ev.change_id
        out.prev_change_id = ev.prev_change_id
        out.price = ev.price
        out.amount = ev.amount
        out.msg = ev.msg
        fs.stats[T.MCF_STAT_REPLAYED] += 1
        status = book_apply_event(px, qty, bst, out)
        if status == GAP:
            fs.stats[T.MCF_STAT_BOOK_GAPS] += 1
            break  # the rest stays buffered for the next snapshot
        if status == INCONSISTENT:
            fs.stats[T.MCF_STAT_INCONSISTENT] += 1
    return n_ev


@njit(cache=True, _nrt=False)
def _book(fs, out, m, rx_ns, mi, events, n_ev, px, qty, bst):  # noqa: ANN001, ANN202
    b = out.books[m.ref]
    slot = _slot(fs, b.instrument_id)
    if slot < 0:
        return n_ev
    if m.channel < T.SBE_SNAPSHOT_CHANNEL_OFFSET:
        fs.inc_chan[slot] = m.channel
    change_id = np.int64(b.change_id)
    prev = np.int64(b.prev_change_id)
    continuation = fs.pending[slot] >= 0 and fs.pending[slot] == change_id
    if bst[slot].valid == 0:
        snap_chan = min(m.channel + T.SBE_SNAPSHOT_CHANNEL_OFFSET, N_CHANNELS - 1)
        if prev == 0 and not continuation and fs.snap_slot[snap_chan] != slot:
            # a new instrument's first change: its book starts empty (an empty snapshot at changeId 0)
            n_ev, _ = _apply_levels(fs, out, 0, 0, slot, T.EVF_SNAPSHOT | T.EVF_FIRST, True, b.timestamp_ms, rx_ns,
                                    0, -1, mi, events, n_ev, px, qty, bst)
            fs.stats[T.MCF_STAT_FRESH] += 1
        else:  # keep it: the snapshot may be older than this change (snapshot channels lag or lead)
            _buffer(fs, out, b, slot, 0 if continuation else T.EVF_FIRST, rx_ns, mi)
            fs.pending[slot] = -1 if b.is_last == T.SBE_YES else change_id
            fs.stats[T.MCF_STAT_BUFFERED] += 1
            return n_ev
    elif not continuation and change_id <= bst[slot].last_change_id:
        fs.stats[T.MCF_STAT_STALE] += 1
        return n_ev
    flags0 = 0 if continuation else T.EVF_FIRST
    n_ev, gap = _apply_levels(fs, out, b.first_level, b.n_levels, slot, flags0, b.is_last == T.SBE_YES,
                              b.timestamp_ms, rx_ns, change_id, prev, mi, events, n_ev, px, qty, bst)
    fs.pending[slot] = -1 if (gap or b.is_last == T.SBE_YES) else change_id
    if not gap:
        fs.suspect[slot] = 0  # the chain held: nothing of this book was lost
    return n_ev


@njit(cache=True, _nrt=False)
def _same_book(fs, out, s, slot, px, qty, bst):  # noqa: ANN001, ANN202
    """Does a one-message snapshot equal the book?"""
    n_bid = 0
    for j in range(s.n_levels):
        lv = out.levels[s.first_level + j]
        side = T.BOOK_BID if lv.side == T.SBE_SIDE_BID else T.BOOK_ASK
        n_bid += side == T.BOOK_BID
        price = np.int64(np.round(lv.price / fs.tick[slot]))
        amount = np.int64(np.round(lv.amount / fs.lot[slot]))
        found = False
        for k in range(book_side_count(bst, slot, side)):
            if px[slot, side, k] == price:
                found = qty[slot, side, k] == amount
                break
        if not found:
            return False
    return n_bid == bst[slot].n_bids and s.n_levels - n_bid == bst[slot].n_asks


@njit(cache=True, _nrt=False)
def _snapshot(fs, out, m, rx_ns, mi, events, n_ev, px, qty, bst):  # noqa: ANN001, ANN202
    s = out.snapshots[m.ref]
    slot = _slot(fs, s.instrument_id)
    if slot < 0:
        return n_ev
    c = m.channel
    change_id = np.int64(s.change_id)
    last = s.is_last_in_book == T.SBE_YES
    if fs.snap_slot[c] == slot and fs.snap_change[c] == change_id:  # next part of the snapshot in progress
        n_ev, _ = _apply_levels(fs, out, s.first_level, s.n_levels, slot, T.EVF_SNAPSHOT, last, s.timestamp_ms,
                                rx_ns, change_id, -1, mi, events, n_ev, px, qty, bst)
    else:
        _abort_snapshot(fs, c, px, qty, bst)  # another book started: the unfinished one is incomplete
        if bst[slot].valid:
            in_sync = fs.suspect[slot] == 0 and change_id == bst[slot].last_change_id
            if in_sync and last and s.is_book_complete == T.SBE_YES:
                if _same_book(fs, out, s, slot, px, qty, bst):
                    fs.stats[T.MCF_STAT_SNAP_VERIFIED] += 1
                    return n_ev
                fs.stats[T.MCF_STAT_SNAP_MISMATCH] += 1
            elif fs.suspect[slot] == 0 or change_id < bst[slot].last_change_id:
                return n_ev  # in sync (or the snapshot is older than the book): nothing to recover
        n_ev, _ = _apply_levels(fs, out, s.first_level, s.n_levels, slot, T.EVF_SNAPSHOT | T.EVF_FIRST, last,
                                s.timestamp_ms, rx_ns, change_id, -1, mi, events, n_ev, px, qty, bst)
    if last:
        fs.snap_slot[c] = -1
        fs.suspect[slot] = 0
        fs.pending[slot] = -1
        fs.stats[T.MCF_STAT_SNAPSHOTS] += 1
        n_ev = _replay(fs, slot, events, n_ev, px, qty, bst)
    else:
        fs.snap_slot[c] = slot
        fs.snap_change[c] = change_id
    return n_ev


@njit(cache=True, _nrt=False)
def _trades(fs, out, m, rx_ns, mi, events, n_ev):  # noqa: ANN001, ANN202
    slot = _slot(fs, m.instrument_id)
    if slot < 0:
        return n_ev
    for k in range(m.ref, m.ref + m.aux):
        t = out.trades[k]
        ev = events[n_ev]
        n_ev += 1
        ev.kind = T.EV_TRADE
        ev.side = T.BOOK_BID if t.direction == T.SBE_DIR_BUY else T.BOOK_ASK
        ev.action = 0
        ev.flags = (T.EVF_FIRST if k == m.ref else 0) | (T.EVF_LAST if k == m.ref + m.aux - 1 else 0)
        ev.inst = slot
        ev.exch_ts = np.int64(t.timestamp_ms) * 1_000_000
        ev.recv_ts = rx_ns
        ev.change_id = np.int64(t.trade_id)
        ev.prev_change_id = np.int64(t.trade_seq)
        ev.price = _units(fs, t.price, fs.tick[slot])
        ev.amount = _units(fs, t.amount, fs.lot[slot])
        ev.msg = mi
        fs.trades[slot] += 1
        fs.stats[T.MCF_STAT_TRADES] += 1
    return n_ev


@njit(cache=True, _nrt=False)
def _ticker(fs, out, m, rx_ns, mi, events, n_ev):  # noqa: ANN001, ANN202
    """Best bid then best ask, as the JSON path."""
    slot = _slot(fs, m.instrument_id)
    if slot < 0:
        return n_ev
    t = out.tickers[m.ref]
    fs.stats[T.MCF_STAT_TICKERS] += 1
    for side in (T.BOOK_BID, T.BOOK_ASK):
        price = t.best_bid_price if side == T.BOOK_BID else t.best_ask_price
        amount = t.best_bid_amount if side == T.BOOK_BID else t.best_ask_amount
        ev = events[n_ev]
        n_ev += 1
        ev.kind = T.EV_TICKER
        ev.side = side
        ev.action = 0
        ev.flags = T.EVF_FIRST if side == T.BOOK_BID else T.EVF_LAST
        ev.inst = slot
        ev.exch_ts = np.int64(t.timestamp_ms) * 1_000_000
        ev.recv_ts = rx_ns
        ev.change_id = 0
        ev.prev_change_id = 0
        null = price != price or amount != amount  # NaN: not applicable (an empty side is 0.0 / 0.0, as in JSON)
        ev.price = T.BOOK_NO_PRICE if null else _units(fs, price, fs.tick[slot])
        ev.amount = 0 if null else _units(fs, amount, fs.lot[slot])
        ev.msg = mi
    return n_ev


@njit(cache=True, _nrt=False)
def feed_step(out, fs, insts, px, qty, bst, events):  # noqa: ANN001, ANN201
    """Run the feed over every packet committed in ``out`` (decoder output); returns the events written.

    ``events`` must hold :func:`events_capacity` records, the most one decoded batch can produce.
    """
    n_ev = 0
    for pi in range(out.fill[D.F_PACKETS]):
        pk = out.packets[pi]
        if not _accept(fs, pk.channel, np.int64(pk.seq), px, qty, bst):
            continue
        fs.stats[T.MCF_STAT_PACKETS] += 1
        for mi in range(pk.first_msg, pk.first_msg + pk.n_msgs):
            m = out.msgs[mi]
            tpl = m.template
            if tpl == T.SBE_TPL_BOOK:
                n_ev = _book(fs, out, m, pk.rx_ns, mi, events, n_ev, px, qty, bst)
            elif tpl == T.SBE_TPL_TICKER:
                n_ev = _ticker(fs, out, m, pk.rx_ns, mi, events, n_ev)
            elif tpl == T.SBE_TPL_TRADES:
                n_ev = _trades(fs, out, m, pk.rx_ns, mi, events, n_ev)
            elif tpl == T.SBE_TPL_SNAPSHOT:
                n_ev = _snapshot(fs, out, m, pk.rx_ns, mi, events, n_ev, px, qty, bst)
            elif tpl == T.SBE_TPL_INSTRUMENT or tpl == T.SBE_TPL_INSTRUMENT_V2:
                _instrument(fs, out.instruments[m.ref], insts, px, qty, bst)
    fs.stats[T.MCF_STAT_EVENTS] += n_ev
    return n_ev


@njit(cache=True, _nrt=False)
def feed_batch(buf, offsets, lengths, rx_ns, start, count, status, out, fs, insts, px, qty, bst,  # noqa: ANN001, ANN201
               events):
    """One compiled call: decode packets ``start..start+count`` until the decode buffers are full, run the feed
    over them and reset the buffers. Returns (index of the first packet not taken, events written).

    ``on_batch`` calls it until the batch is consumed, handing each call's events over in between.
    """
    end = D.decode_batch(buf, offsets, lengths, rx_ns, start, count, out, status)
    if end == start and count > 0 and out.fill[D.F_PACKETS] == 0:
        status[start] = T.SBE_ERR_BLOCK  # does not fit even in empty buffers: rejected, counted
        out.stats[T.SBE_STAT_ERRORS] += 1
        out.stats[T.SBE_STAT_ERR_BASE + T.SBE_ERR_BLOCK] += 1
        end += 1
    n_ev = feed_step(out, fs, insts, px, qty, bst, events)
    return end, n_ev


def events_capacity(out: D.SbeOut, pending: int = PENDING_EVENTS) -> int:
    """Events one decoded batch of ``out`` can produce at most (the size of McastFeed.events): its own, plus
    every buffered event replayed after a snapshot."""
    return (len(out.levels) + len(out.trades) + 2 * len(out.tickers) + 2 * len(out.books) + len(out.snapshots)
            + pending)


class McastFeed:
    """Multicast market-data handler: UDP payloads in, books per instrument and EVENT_DTYPE events out.

    :meth:`on_batch` (many datagrams; one compiled call per decode buffer) hands each call's events to
    ``on_events``. :meth:`on_payload` (one datagram) only decodes; :meth:`flush` then runs the feed and returns the
    number of ``self.events`` written. Events are views valid until the next call; their book events are already
    applied to ``self.books`` (slot ``i`` is instrument ``self.names[i]``).

    Slots: pass the engine's ``InstrumentTable`` as ``table`` and an instrument already in it keeps its slot (the
    events' ``inst`` is the engine's); instruments first seen on multicast are appended to the table.
    """

    def __init__(self, n_slots: int = 256, depth: int = 1024, books: Books | None = None,
                 on_events: Any = None, out: D.SbeOut | None = None, pending: int = PENDING_EVENTS,
                 table: InstrumentTable | None = None) -> None:
        self.table = table if table is not None else InstrumentTable(capacity=n_slots, defaults=False)
        self.books = books if books is not None else Books(len(self.table.arr), depth)
        if len(self.books.state) < len(self.table.arr):
            raise ValueError("books must have a slot for every row of the instrument table")
        self.out = out if out is not None else D.new_out()
        self.state = new_state(len(self.books.state), pending, len(self.table))
        self.events = np.zeros(events_capacity(self.out, pending), T.EVENT_DTYPE)
        self.names: dict[int, str] = {}
        self.frames_skipped = 0  # frames of a capture/DPDK batch that were not multicast UDP (set by callers)
        self.decode_status = np.zeros(1, np.uint8)
        self.on_events = on_events

    def on_payload(self, payload: np.ndarray, rx_ns: int = 0) -> int:
        """Decode one UDP payload (uint8 array); returns its SBE_* status (rejected packets are counted)."""
        status = D.decode_packet(payload, 0, len(payload), rx_ns, self.out)
        if status == T.SBE_ERR_CAPACITY:
            self._flush_to_listener()
            status = D.decode_packet(payload, 0, len(payload), rx_ns, self.out)
        return int(status)

    def on_batch(self, buf: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, rx_ns: np.ndarray,
                 count: int) -> int:
        """Decode and feed ``count`` payloads ``buf[offsets[i]:offsets[i]+lengths[i]]`` (one compiled call per
        decode-buffer's worth); hands the events of each call to ``on_events``. Returns the packets the decoder
        rejected."""
        if len(self.decode_status) < count:
            self.decode_status = np.zeros(count, np.uint8)
        status = self.decode_status
        status[:count] = 0
        pending = self.out.fill[D.F_PACKETS] > 0  # packets decoded by on_payload and not fed yet
        if pending:
            self._flush_to_listener()
        i = 0
        while i < count:
            i, n = feed_batch(buf, offsets, lengths, rx_ns, i, count - i, status, self.out, self.state,
                              self.table.arr, self.books.px, self.books.qty, self.books.state, self.events)
            self._learn_names()
            D.reset(self.out)
            if self.on_events is not None and n:
                self.on_events(self.events[:n])
        return int(np.count_nonzero(status[:count]))

    def _flush_to_listener(self) -> None:
        n = self.flush()
        if self.on_events is not None and n:
            self.on_events(self.events[:n])

    def flush(self) -> int:
        """Run the compiled feed over the decoded packets; returns how many ``self.events`` it wrote."""
        n = int(feed_step(self.out, self.state, self.table.arr, self.books.px, self.books.qty, self.books.state,
                          self.events))
        self._learn_names()
        D.reset(self.out)
        return n

    def _learn_names(self) -> None:
        fs = self.state
        for rec in self.out.instruments[:self.out.fill[D.F_INSTRUMENTS]]:
            iid = int(rec["instrument_id"])
            slot = int(fs.slot_of[iid]) if iid < ID_LIMIT else -1
            if slot < 0 or slot in self.names:
                continue
            name = D.text(rec["name"], int(rec["name_len"]))
            self.names[slot] = name
            if slot < len(self.table.arr):  # add it, or update its units: the exchange's instrument message rules
                tick, lot = repr(float(rec["tick_size"])), repr(float(rec["min_trade_amount"]))
                try:
                    added = self.table.add(name, tick, lot)
                except ValueError:  # a name the table cannot hold (> 48 bytes): keep the slot numbering
                    added = self.table.add(f"mcast-{iid}", tick, lot)
                if added != slot:
                    raise RuntimeError(f"instrument table changed under the multicast feed: {name} got slot "
                                       f"{added}, the feed uses {slot}")

    @property
    def stats(self) -> dict[str, int]:
        """Feed counters (sequence, books, recovery) and decoder counters (``decode_*``)."""
        d = {name: int(self.state.stats[i]) for i, name in enumerate(T.MCF_STAT_NAMES)}
        d.update({f"decode_{k}": v for k, v in D.error_counts(self.out.stats).items()})
        d["decode_packets"] = int(self.out.stats[T.SBE_STAT_PACKETS])
        d["decode_messages"] = int(self.out.stats[T.SBE_STAT_MESSAGES])
        return d

    def slot(self, name: str) -> int:
        """Slot of an instrument by name (KeyError when not seen yet)."""
        for slot, known in self.names.items():
            if known == name:
                return slot
        raise KeyError(name)

    def synced(self, slot: int) -> bool:
        """True when the book is valid and not suspect (nothing may have been missed)."""
        return bool(self.books.state[slot]["valid"]) and not self.state.suspect[slot]

    def report(self) -> dict[str, dict[str, Any]]:
        """Per instrument name: synced flag, top of book (ticks/lots and prices/amounts), level counts, last
        change_id, trades seen."""
        result = {}
        for slot, name in sorted(self.names.items(), key=lambda kv: kv[1]):
            summary = self.books.summary(slot)
            tick, lot = float(self.state.tick[slot]), float(self.state.lot[slot])
            exact_tick, exact_lot = self.table.tick_size(slot), self.table.lot_size(slot)  # Decimal: 25625.94, not ...02
            prices = {f"{k}_price": (None if summary[k] == T.BOOK_NO_PRICE else float(summary[k] * exact_tick))
                      for k in ("best_bid", "best_ask")}
            prices.update({f"{k}_amount_units": float(summary[f"{k}_amount"] * exact_lot) for k in ("best_bid", "best_ask")})
            result[name] = {"instrument_id": int(self.state.inst_id[slot]), "synced": self.synced(slot),
                            "trades": int(self.state.trades[slot]), **summary, **prices, "tick_size": tick,
                            "lot_size": lot}
        return result


def replay_capture(path: str, n_slots: int = 512, depth: int = 1024, batch: int = 4096) -> McastFeed:
    """Run a pcap/pcapng capture of Deribit multicast traffic through the feed; returns it (books, stats)."""
    from tickwire.netstack.mcast import capture_batches

    feed = McastFeed(n_slots=n_slots, depth=depth)
    skipped = 0
    for payloads in capture_batches(path, batch):
        feed.on_batch(payloads.buf, payloads.offsets, payloads.lengths, payloads.rx_ns, len(payloads))
        skipped += payloads.skipped
    feed.flush()
    feed.frames_skipped = skipped
    return feed


class SbeUdpHandler:
    """``tickwire replay --udp sbe``: the multicast UDP packets of a replayed capture through the feed handler."""

    name = "sbe"

    def __init__(self, n_slots: int = 512, depth: int = 1024) -> None:
        self.feed = McastFeed(n_slots=n_slots, depth=depth)

    def handle(self, batch: Any, packets: np.ndarray, index: np.ndarray) -> None:
        """Take the multicast UDP payloads among ``packets[index]`` (payload offsets point into ``batch.buf``)."""
        from tickwire.netstack.mcast import udp_mask

        chosen = packets[index]
        chosen = chosen[udp_mask(chosen)]
        if len(chosen):
            self.feed.on_batch(batch.buf, chosen["payload_off"].astype(np.int64),
                               chosen["payload_len"].astype(np.int64), chosen["ts_ns"].astype(np.int64), len(chosen))

    def report(self) -> dict[str, Any]:
        """Feed counters (non-zero ones) and, per instrument, the final book and trade count."""
        self.feed.flush()
        stats = {k: v for k, v in self.feed.stats.items() if v}
        return {"stats": stats, "instruments": self.feed.report()}


class McastMarketData:
    """The engine's multicast market-data source: kernel multicast sockets -> decoder -> feed -> books + events.

    For ``tickwire run --md multicast`` (orders stay on WebSocket)::

        md = McastMarketData(ChannelMap(), channels=[1, 2, 3], table=engine_table, books=engine_books)
        md.attach(loop, on_events)     # asyncio driver: on every readable socket, poll + feed + on_events(events)
        ...                            # or a spin driver: events = md.poll(timeout_ms=0)
        md.close()

    ``table``/``books`` are the engine's: instruments it already has keep their slots, and the book events in
    ``on_events`` are already applied to ``books`` (the engine must not apply them again, nor subscribe to
    ``book.*`` over WebSocket). Events are ``EVENT_DTYPE`` exactly as the JSON path writes them; the view is valid
    until the next poll.
    """

    def __init__(self, channel_map: Any, channels: list[int], table: InstrumentTable | None = None,
                 books: Books | None = None, interface: str = "127.0.0.1", busy_poll_us: int = 50) -> None:
        from tickwire.netstack.mcast import McastSocketSource

        self.feed = McastFeed(table=table, books=books)
        self.source = McastSocketSource(channel_map.endpoints(channels), interface=interface,
                                        busy_poll_us=busy_poll_us)
        self._loop: Any = None

    def receive(self, timeout_ms: int = 0) -> int:
        """Receive what is ready (blocking up to ``timeout_ms``) and feed it; events go to the attached callback.
        Returns the datagrams received."""
        n = self.source.poll(timeout_ms=timeout_ms)
        if n:
            self.feed.on_batch(self.source.buf, self.source.offsets, self.source.lengths, self.source.rx_ns, n)
        return n

    def poll(self, timeout_ms: int = 0) -> np.ndarray:
        """Spin driver: receive what is ready (blocking up to ``timeout_ms``), run the feed; returns the events
        (a copy: one poll may span several compiled calls)."""
        batches: list[np.ndarray] = []
        self.feed.on_events = lambda events: batches.append(events.copy())
        self.receive(timeout_ms)
        return np.concatenate(batches) if batches else self.feed.events[:0]

    def attach(self, loop: Any, on_events: Any) -> None:
        """Asyncio driver: each readable socket triggers a receive; ``on_events(events)`` per compiled call (the
        view is valid during the callback)."""
        self.feed.on_events = on_events
        self._loop = loop
        for s in self.source.sockets:
            loop.add_reader(s.fileno(), self.receive, 0)

    def close(self) -> None:
        """Detach from the loop and close the sockets."""
        if self._loop is not None:
            for s in self.source.sockets:
                self._loop.remove_reader(s.fileno())
            self._loop = None
        self.source.close()
