"""Compiled decoder of Deribit's UDP multicast market data (SBE, schema ``com.deribit.multicast`` id 1).

One UDP payload = an 8-byte frame header (packetLength, channelId, sequenceNumber) + 1..N SBE messages, each with a
12-byte header. :func:`decode_packet` walks every message of a packet, skips by the wire blockLength (forward
compatible: unknown templates and trailing fields are skipped by their header), and writes fixed numpy records
(``SBE_*_DTYPE`` in :mod:`tickwire.types`) into an :class:`SbeOut` of preallocated arrays. A packet is all or
nothing: when any message is malformed the packet is rejected with an ``SBE_ERR_*`` status and none of its records
are kept, so a consumer sees either the whole packet or a sequence gap.

Nulls: doubles are NaN when null; ``iv`` is NaN when the wire has 0 or NaN; ``block_trade_id``/``combo_trade_id``
are 0 when null; u8 enums keep 255 (``SBE_NULL_U8``). The plain-Python twin is :mod:`._sbe_ref`.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from tickwire import types as T
from tickwire.deribit._sbe_load import load_f64, load_i32, load_u16, load_u32, load_u64

# Indices into SbeOut.fill: fill[k] = records committed in array k; fill[N_ARRAYS + k] is the in-packet cursor.
F_PACKETS, F_MSGS, F_BOOKS, F_SNAPSHOTS, F_LEVELS, F_TRADES, F_TICKERS, F_INSTRUMENTS, F_TICK_STEPS, \
    F_PRICE_INDEXES, F_RFQS, F_COMBO_LEGS = range(12)
N_ARRAYS = 12


class SbeOut(NamedTuple):
    """Preallocated output of the decoder; ``fill[k]`` says how many records of array ``k`` are valid."""

    packets: np.ndarray
    msgs: np.ndarray
    books: np.ndarray
    snapshots: np.ndarray
    levels: np.ndarray
    trades: np.ndarray
    tickers: np.ndarray
    instruments: np.ndarray
    tick_steps: np.ndarray
    price_indexes: np.ndarray
    rfqs: np.ndarray
    combo_legs: np.ndarray
    fill: np.ndarray  # int64[2 * N_ARRAYS]
    stats: np.ndarray  # int64[SBE_STATS_LEN], cumulative (see SBE_STAT_*)


def new_out(packets: int = 1024, msgs: int = 4096, levels: int = 16384, trades: int = 2048,
            instruments: int = 512) -> SbeOut:
    """Allocate an SbeOut able to hold at least ``packets`` packets (smaller arrays fill first: then flush)."""
    return SbeOut(
        np.zeros(packets, T.SBE_PACKET_DTYPE), np.zeros(msgs, T.SBE_MSG_DTYPE), np.zeros(msgs, T.SBE_BOOK_DTYPE),
        np.zeros(max(msgs // 4, 64), T.SBE_SNAPSHOT_DTYPE), np.zeros(levels, T.SBE_LEVEL_DTYPE),
        np.zeros(trades, T.SBE_TRADE_DTYPE), np.zeros(msgs, T.SBE_TICKER_DTYPE),
        np.zeros(instruments, T.SBE_INSTRUMENT_DTYPE), np.zeros(instruments, T.SBE_TICK_STEP_DTYPE),
        np.zeros(msgs, T.SBE_PRICE_INDEX_DTYPE), np.zeros(max(msgs // 4, 64), T.SBE_RFQ_DTYPE),
        np.zeros(max(msgs // 4, 64), T.SBE_COMBO_LEG_DTYPE), np.zeros(2 * N_ARRAYS, np.int64),
        np.zeros(T.SBE_STATS_LEN, np.int64))


def reset(out: SbeOut) -> None:
    """Forget the decoded records (after the consumer processed them); cumulative stats are kept."""
    out.fill[:] = 0


_NULL_U64 = np.uint64(T.SBE_NULL_U64)
_NULL_U32 = np.uint32(T.SBE_NULL_U32)
_NAME_MAX = T.SBE_NAME_MAX


# Compiled without the numba runtime (_nrt=False: nothing here allocates): with it, numba increfs every array
# argument on entry to each function and decrefs it on return, ~60 atomic operations (400-1000 ns) per packet.


@njit(cache=True, inline="always", _nrt=False)
def _take(fill, k, n, cap):  # noqa: ANN001, ANN202
    """Reserve n records of array k (capacity cap); -1 when full."""
    cur = fill[N_ARRAYS + k]
    if cur + n > cap:
        return -1
    fill[N_ARRAYS + k] = cur + n
    return cur


@njit(cache=True, inline="always", _nrt=False)
def _null_u64_to_zero(v):  # noqa: ANN001, ANN202
    return np.uint64(0) if v == _NULL_U64 else v


@njit(cache=True, _nrt=False)
def _levels(buf, p, gbl, gn, levels, fill, snapshot):  # noqa: ANN001, ANN202
    """Decode the levels group of a Book changes or Snapshot message."""
    first = _take(fill, F_LEVELS, gn, len(levels))
    if first < 0:
        return -T.SBE_ERR_CAPACITY
    for i in range(gn):
        e = p + i * gbl
        lv = levels[first + i]
        side = buf[e]
        change = np.uint8(T.SBE_CHANGE_CREATED) if snapshot else buf[e + 1]
        off = 1 if snapshot else 2
        if side > 1 or change > 2:
            return -T.SBE_ERR_ENUM
        lv.side = side
        lv.change = change
        lv.price = load_f64(buf, e + off)
        lv.amount = load_f64(buf, e + off + 8)
    return first


@njit(cache=True, _nrt=False)
def _instrument(buf, root, v2, instruments, fill):  # noqa: ANN001, ANN202
    """Decode the root block of an Instrument (1000) or InstrumentV2 (1010) message."""
    idx = _take(fill, F_INSTRUMENTS, 1, len(instruments))
    if idx < 0:
        return -T.SBE_ERR_CAPACITY
    r = instruments[idx]
    s = 1 if v2 else 0  # instrumentV2 drops the rfq byte: later fields shift by -1
    r.instrument_id = load_u32(buf, root)
    r.state = buf[root + 4]
    r.kind = buf[root + 5]
    r.future_type = buf[root + 6]
    r.option_type = buf[root + 7]
    r.rfq = np.uint8(T.SBE_NULL_U8) if v2 else buf[root + 8]
    r.settlement_period = buf[root + 9 - s]
    r.settlement_period_count = load_u16(buf, root + 10 - s)
    for j in range(8):
        r.base_currency[j] = buf[root + 12 - s + j]
        r.quote_currency[j] = buf[root + 20 - s + j]
        r.counter_currency[j] = buf[root + 28 - s + j]
        r.settlement_currency[j] = buf[root + 36 - s + j]
        r.size_currency[j] = buf[root + 44 - s + j]
    r.creation_timestamp_ms = load_u64(buf, root + 52 - s)
    r.expiration_timestamp_ms = load_u64(buf, root + 60 - s)
    d = root + 68 - s
    r.strike_price = load_f64(buf, d)
    r.contract_size = load_f64(buf, d + 8)
    r.min_trade_amount = load_f64(buf, d + 16)
    r.tick_size = load_f64(buf, d + 24)
    r.maker_commission = load_f64(buf, d + 32)
    r.taker_commission = load_f64(buf, d + 40)
    r.block_trade_commission = load_f64(buf, d + 48)
    r.max_liquidation_commission = load_f64(buf, d + 56)
    r.max_leverage = load_f64(buf, d + 64)
    r.n_tick_steps = 0
    r.first_tick_step = -1
    return idx


@njit(cache=True, _nrt=False)
def _message(buf, tpl, root, g0, gbl, gn, var0, msg, fill, books, snapshots, levels, trades, tickers,  # noqa: ANN001, ANN202
             instruments, tick_steps, price_indexes, rfqs, combo_legs):
    """Write the records of one message; returns an SBE_ERR_* (0 ok). ``msg`` is its SBE_MSG_DTYPE record."""
    if tpl == T.SBE_TPL_BOOK:
        idx = _take(fill, F_BOOKS, 1, len(books))
        if idx < 0:
            return T.SBE_ERR_CAPACITY
        b = books[idx]
        b.instrument_id = load_u32(buf, root)
        b.timestamp_ms = load_u64(buf, root + 4)
        b.prev_change_id = load_u64(buf, root + 12)
        b.change_id = load_u64(buf, root + 20)
        b.is_last = buf[root + 28]
        if b.is_last > 1:
            return T.SBE_ERR_ENUM
        first = _levels(buf, g0, gbl, gn, levels, fill, False)
        if first < 0:
            return -first
        b.first_level = first
        b.n_levels = gn
        msg.ref = idx
        msg.instrument_id = b.instrument_id
    elif tpl == T.SBE_TPL_TICKER:
        idx = _take(fill, F_TICKERS, 1, len(tickers))
        if idx < 0:
            return T.SBE_ERR_CAPACITY
        t = tickers[idx]
        t.instrument_id = load_u32(buf, root)
        t.state = buf[root + 4]
        t.timestamp_ms = load_u64(buf, root + 5)
        d = root + 13
        t.open_interest = load_f64(buf, d)
        t.min_sell_price = load_f64(buf, d + 8)
        t.max_buy_price = load_f64(buf, d + 16)
        t.last_price = load_f64(buf, d + 24)
        t.index_price = load_f64(buf, d + 32)
        t.mark_price = load_f64(buf, d + 40)
        t.best_bid_price = load_f64(buf, d + 48)
        t.best_bid_amount = load_f64(buf, d + 56)
        t.best_ask_price = load_f64(buf, d + 64)
        t.best_ask_amount = load_f64(buf, d + 72)
        t.current_funding = load_f64(buf, d + 80)
        t.funding_8h = load_f64(buf, d + 88)
        t.estimated_delivery_price = load_f64(buf, d + 96)
        t.delivery_price = load_f64(buf, d + 104)
        t.settlement_price = load_f64(buf, d + 112)
        msg.ref = idx
        msg.instrument_id = t.instrument_id
    elif tpl == T.SBE_TPL_TRADES:
        first = _take(fill, F_TRADES, gn, len(trades))
        if first < 0:
            return T.SBE_ERR_CAPACITY
        iid = load_u32(buf, root)
        for i in range(gn):
            e = g0 + i * gbl
            t = trades[first + i]
            t.instrument_id = iid
            t.direction = buf[e]
            t.price = load_f64(buf, e + 1)
            t.amount = load_f64(buf, e + 9)
            t.timestamp_ms = load_u64(buf, e + 17)
            t.mark_price = load_f64(buf, e + 25)
            t.index_price = load_f64(buf, e + 33)
            t.trade_seq = load_u64(buf, e + 41)
            t.trade_id = load_u64(buf, e + 49)
            t.tick_direction = buf[e + 57]
            t.liquidation = buf[e + 58]
            iv = load_f64(buf, e + 59)
            t.iv = np.nan if iv == 0.0 else iv  # null is 0 in the schema, NaN on the wire; NaN stays NaN
            t.block_trade_id = _null_u64_to_zero(load_u64(buf, e + 67))
            t.combo_trade_id = _null_u64_to_zero(load_u64(buf, e + 75))
        msg.ref = first
        msg.aux = gn
        msg.instrument_id = iid
    elif tpl == T.SBE_TPL_SNAPSHOT:
        idx = _take(fill, F_SNAPSHOTS, 1, len(snapshots))
        if idx < 0:
            return T.SBE_ERR_CAPACITY
        s = snapshots[idx]
        s.instrument_id = load_u32(buf, root)
        s.timestamp_ms = load_u64(buf, root + 4)
        s.change_id = load_u64(buf, root + 12)
        s.is_book_complete = buf[root + 20]
        s.is_last_in_book = buf[root + 21]
        if s.is_book_complete > 1 or s.is_last_in_book > 1:
            return T.SBE_ERR_ENUM
        first = _levels(buf, g0, gbl, gn, levels, fill, True)
        if first < 0:
            return -first
        s.first_level = first
        s.n_levels = gn
        msg.ref = idx
        msg.instrument_id = s.instrument_id
    elif tpl == T.SBE_TPL_INSTRUMENT or tpl == T.SBE_TPL_INSTRUMENT_V2:
        idx = _instrument(buf, root, tpl == T.SBE_TPL_INSTRUMENT_V2, instruments, fill)
        if idx < 0:
            return -idx
        r = instruments[idx]
        r.template = tpl
        if tpl == T.SBE_TPL_INSTRUMENT_V2 and gn > 0:
            first = _take(fill, F_TICK_STEPS, gn, len(tick_steps))
            if first < 0:
                return T.SBE_ERR_CAPACITY
            for i in range(gn):
                tick_steps[first + i].above_price = load_f64(buf, g0 + i * gbl)
                tick_steps[first + i].tick_size = load_f64(buf, g0 + i * gbl + 8)
            r.first_tick_step = first
            r.n_tick_steps = gn
        n = buf[var0]
        if n > _NAME_MAX:
            return T.SBE_ERR_BLOCK
        r.name_len = n
        for j in range(n):
            r.name[j] = buf[var0 + 1 + j]
        for j in range(n, _NAME_MAX):
            r.name[j] = 0
        msg.ref = idx
        msg.instrument_id = r.instrument_id
    elif tpl == T.SBE_TPL_PRICE_INDEX:
        idx = _take(fill, F_PRICE_INDEXES, 1, len(price_indexes))
        if idx < 0:
            return T.SBE_ERR_CAPACITY
        p = price_indexes[idx]
        for j in range(16):
            p.index_name[j] = buf[root + j]
        p.price = load_f64(buf, root + 16)
        p.timestamp_ms = load_u64(buf, root + 24)
        msg.ref = idx
    elif tpl == T.SBE_TPL_SNAPSHOT_START:
        msg.aux = load_u32(buf, root)
    elif tpl == T.SBE_TPL_RFQ:
        idx = _take(fill, F_RFQS, 1, len(rfqs))
        if idx < 0:
            return T.SBE_ERR_CAPACITY
        q = rfqs[idx]
        q.instrument_id = load_u32(buf, root)
        q.state = buf[root + 4]
        q.side = buf[root + 5]
        q.amount = load_f64(buf, root + 6)
        q.timestamp_ms = load_u64(buf, root + 14)
        msg.ref = idx
        msg.instrument_id = q.instrument_id
    elif tpl == T.SBE_TPL_COMBO_LEGS:
        first = _take(fill, F_COMBO_LEGS, gn, len(combo_legs))
        if first < 0:
            return T.SBE_ERR_CAPACITY
        iid = load_u32(buf, root)
        for i in range(gn):
            leg = combo_legs[first + i]
            leg.instrument_id = iid
            leg.leg_instrument_id = load_u32(buf, g0 + i * gbl)
            leg.leg_size = load_i32(buf, g0 + i * gbl + 4)
        msg.ref = first
        msg.aux = gn
        msg.instrument_id = iid
    return T.SBE_OK


# Per template (index templateId - 1000): minimum root block, groups, entry length, var fields that we read.
_MIN_BLOCK = np.array([T.SBE_MIN_BLOCK[1000 + i] for i in range(11)], np.int64)
_MIN_ENTRY = np.array([T.SBE_MIN_ENTRY.get(1000 + i, 0) for i in range(11)], np.int64)
_MIN_GROUPS = np.array([1 if (1000 + i) in T.SBE_MIN_ENTRY else 0 for i in range(11)], np.int64)
_MIN_VARS = np.array([1 if i in (0, 10) else 0 for i in range(11)], np.int64)


@njit(cache=True, inline="always", _nrt=False)
def _walk(buf, base, end, pkt_index, channel, msgs, fill, books, snapshots, levels, trades, tickers,  # noqa: ANN001, ANN202
          instruments, tick_steps, price_indexes, rfqs, combo_legs):
    """Decode every message of the packet at ``buf[base:end]``; returns (status, number of messages)."""
    off = base + T.SBE_FRAME_HEADER_LEN
    n_msgs = 0
    while off < end:
        if off + T.SBE_MESSAGE_HEADER_LEN > end:
            return T.SBE_ERR_BOUNDS, n_msgs
        bl = np.int64(load_u16(buf, off))
        tpl = np.int64(load_u16(buf, off + 2))
        if load_u16(buf, off + 4) != T.SBE_SCHEMA_ID:
            return T.SBE_ERR_SCHEMA, n_msgs
        version = load_u16(buf, off + 6)
        n_groups = np.int64(load_u16(buf, off + 8))
        n_vars = np.int64(load_u16(buf, off + 10))
        root = off + T.SBE_MESSAGE_HEADER_LEN
        p = root + bl
        g0 = p
        gbl = np.int64(0)
        gn = np.int64(0)
        for g in range(n_groups):  # groups are self-describing: walk them all, keep the first one
            if p + T.SBE_GROUP_HEADER_LEN > end:
                return T.SBE_ERR_BOUNDS, n_msgs
            if g == 0:
                gbl = np.int64(load_u16(buf, p))
                gn = np.int64(load_u16(buf, p + 2))
                g0 = p + T.SBE_GROUP_HEADER_LEN
            p += T.SBE_GROUP_HEADER_LEN + np.int64(load_u16(buf, p)) * np.int64(load_u16(buf, p + 2))
        var0 = p
        for v in range(n_vars):  # varString: u8 length + bytes
            if p >= end:
                return T.SBE_ERR_BOUNDS, n_msgs
            p += 1 + np.int64(buf[p])
        if p > end:
            return T.SBE_ERR_BOUNDS, n_msgs
        known = T.SBE_TPL_INSTRUMENT <= tpl <= T.SBE_TPL_INSTRUMENT_V2
        if known:
            k = tpl - T.SBE_TPL_INSTRUMENT
            if bl < _MIN_BLOCK[k] or n_groups < _MIN_GROUPS[k] or n_vars < _MIN_VARS[k] or (
                    gn > 0 and gbl < _MIN_ENTRY[k]):
                return T.SBE_ERR_BLOCK, n_msgs
        mi = _take(fill, F_MSGS, 1, len(msgs))
        if mi < 0:
            return T.SBE_ERR_CAPACITY, n_msgs
        msg = msgs[mi]
        msg.packet = pkt_index
        msg.ref = -1
        msg.instrument_id = _NULL_U32
        msg.aux = 0
        msg.template = tpl
        msg.version = version
        msg.channel = channel
        if known:
            err = _message(buf, tpl, root, g0, gbl, gn, var0, msg, fill, books, snapshots, levels, trades, tickers,
                           instruments, tick_steps, price_indexes, rfqs, combo_legs)
            if err != T.SBE_OK:
                return err, n_msgs
        n_msgs += 1
        off = p
    return T.SBE_OK, n_msgs


@njit(cache=True, _nrt=False)
def _decode(buf, base, length, rx_ns, packets, msgs, books, snapshots, levels, trades, tickers,  # noqa: ANN001, ANN202
            instruments, tick_steps, price_indexes, rfqs, combo_legs, fill, stats):
    # invariant between packets: the in-packet cursors fill[N_ARRAYS + k] equal the committed counts fill[k]
    end = base + length
    status = T.SBE_OK
    n_msgs = 0
    if length < T.SBE_FRAME_HEADER_LEN or end > len(buf) or base < 0:
        status = T.SBE_ERR_TRUNCATED
    elif np.int64(load_u16(buf, base)) + T.SBE_FRAME_HEADER_LEN != length:
        status = T.SBE_ERR_TRUNCATED
    else:
        pi = _take(fill, F_PACKETS, 1, len(packets))
        if pi < 0:
            return T.SBE_ERR_CAPACITY  # cursors untouched
        channel = load_u16(buf, base + 2)
        status, n_msgs = _walk(buf, base, end, pi, channel, msgs, fill, books, snapshots, levels, trades, tickers,
                               instruments, tick_steps, price_indexes, rfqs, combo_legs)
        if status == T.SBE_OK:
            pk = packets[pi]
            pk.rx_ns = rx_ns
            pk.seq = load_u32(buf, base + 4)
            pk.channel = channel
            pk.status = T.SBE_OK
            pk.n_msgs = n_msgs
            pk.first_msg = fill[F_MSGS]
    if status != T.SBE_OK:
        for k in range(N_ARRAYS):  # forget the rejected packet's records
            fill[N_ARRAYS + k] = fill[k]
    if status == T.SBE_ERR_CAPACITY:
        return status
    if status != T.SBE_OK:
        stats[T.SBE_STAT_ERRORS] += 1
        stats[T.SBE_STAT_ERR_BASE + status] += 1
        return status
    first = fill[F_MSGS]
    for i in range(n_msgs):
        tpl = msgs[first + i].template
        if T.SBE_TPL_INSTRUMENT <= tpl <= T.SBE_TPL_INSTRUMENT_V2:
            stats[T.SBE_STAT_TPL_BASE + tpl - T.SBE_TPL_INSTRUMENT] += 1
        else:
            stats[T.SBE_STAT_UNKNOWN] += 1
    stats[T.SBE_STAT_PACKETS] += 1
    stats[T.SBE_STAT_MESSAGES] += n_msgs
    for k in range(N_ARRAYS):
        fill[k] = fill[N_ARRAYS + k]
    return T.SBE_OK


@njit(cache=True, _nrt=False)
def decode_packet(buf, base, length, rx_ns, out):  # noqa: ANN001, ANN201
    """Decode the UDP payload ``buf[base:base+length]`` (uint8) into ``out``; returns its SBE_* status.

    On SBE_OK the packet's records are committed and stats updated. On SBE_ERR_CAPACITY nothing is written: process
    and :func:`reset` the output, then decode the same packet again. Any other status rejects the packet (counted).
    """
    (packets, msgs, books, snapshots, levels, trades, tickers, instruments, tick_steps, price_indexes, rfqs,
     combo_legs, fill, stats) = out
    return _decode(buf, base, length, rx_ns, packets, msgs, books, snapshots, levels, trades, tickers, instruments,
                   tick_steps, price_indexes, rfqs, combo_legs, fill, stats)


@njit(cache=True, _nrt=False)
def decode_batch(buf, offsets, lengths, rx_ns, start, count, out, status):  # noqa: ANN001, ANN201
    """Decode packets ``start..start+count`` of a batch (``buf[offsets[i]:offsets[i]+lengths[i]]``) into ``out``.

    Writes each packet's status into ``status[i]``; stops early when ``out`` is full and returns the index of the
    first packet not decoded (== start + count when all were).
    """
    (packets, msgs, books, snapshots, levels, trades, tickers, instruments, tick_steps, price_indexes, rfqs,
     combo_legs, fill, stats) = out
    for i in range(start, start + count):
        s = _decode(buf, offsets[i], lengths[i], rx_ns[i], packets, msgs, books, snapshots, levels, trades, tickers,
                    instruments, tick_steps, price_indexes, rfqs, combo_legs, fill, stats)
        if s == T.SBE_ERR_CAPACITY:
            return i
        status[i] = s
    return start + count


def template_counts(stats: np.ndarray) -> dict[str, int]:
    """Messages decoded per template name, from a decoder stats array."""
    return {name: int(stats[T.SBE_STAT_TPL_BASE + tpl - T.SBE_TPL_INSTRUMENT])
            for tpl, name in T.SBE_TEMPLATE_NAMES.items()}


def error_counts(stats: np.ndarray) -> dict[str, int]:
    """Rejected packets per SBE_ERR_* kind, from a decoder stats array."""
    return {T.SBE_ERROR_NAMES[k]: int(stats[T.SBE_STAT_ERR_BASE + k]) for k in range(1, T.SBE_ERR_CAPACITY)}


def text(field: np.ndarray, length: int | None = None) -> str:
    """ASCII text of a NUL-padded uint8 field (instrument name with ``length``, currencies, index names)."""
    raw = bytes(field[:length]) if length is not None else bytes(field)
    return raw.split(b"\0", 1)[0].decode("ascii", "replace")
