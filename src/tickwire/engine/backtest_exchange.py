"""The backtest's venue model, compiled: what :class:`~tickwire.engine.backtest_venue.VenueModel` does, over
preallocated arrays, so that a whole chunk of the capture runs in one compiled loop (``backtest_pass`` in
tickwire.engine.passes) even for a strategy that sends an order on most messages.

``VenueModel`` stays the model of record (readable, the reference a differential test compares this one with);
every rule here is the same rule, applied in the same order, so the two give identical fills, PnL and positions:

- requests are read from the frames the engine's encoder wrote (their JSON-RPC id names the client order and the
  request kind, tickwire.engine.hotpath.order_req_id; price and amount are the order table's, as just encoded) and
  reach the venue ``entry`` ns after they were sent (local clock), matched at the venue's clock (exchange time);
- answers (a request's reply, ``user.orders`` and ``user.trades`` notifications) reach the engine ``response`` ns
  after the venue time they happened at and are applied by tickwire.engine.backtest_account, as the live engine's
  slow path applies the JSON ones;
- latencies are taken in turn from the cyclic sequences :class:`~tickwire.engine.backtest_venue.Latency` draws once
  (both models take them in the same order), so measured latencies give identical runs too;
- queue position, fills from trades and from the opposite side reaching our price, taking liquidity, post-only
  re-pricing (or rejection) and fees are ``VenueModel``'s (see its module docstring).

Venue orders live at their engine order-table slot (``cid & (capacity - 1)``): the engine never gives a slot to a
new order before the venue finished the old one.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from tickwire.deribit.errors import NOT_OPEN_ORDER, POST_ONLY_REJECT
from tickwire.engine.hotpath import ORDER_ID_BASE, REQ_CANCEL, REQ_CANCEL_ALL, REQ_EDIT, REQ_NEW
from tickwire.md.book import book_side_count
from tickwire.types import (
    ACT_NEW, BOOK_NO_PRICE, EV_TRADE, OST_CANCELLED, OST_FILLED, OST_OPEN, OST_REJECTED, OT_MARKET, SIDE_BUY,
    TIF_FOK, TIF_IOC,
)

# A_*: what an answer is (ANSWER_DTYPE.what)
A_REPLY, A_ORDER, A_TRADE, A_IGNORED = 0, 1, 2, 3

REQUEST_DTYPE = np.dtype([
    ("at", np.int64),  # venue ns it arrives at
    ("kind", np.int64),  # REQ_*
    ("cid", np.int64), ("side", np.int64), ("otype", np.int64), ("tif", np.int64), ("post_only", np.int64),
    ("price", np.int64), ("amount", np.int64),  # ticks, lots
], align=True)

ANSWER_DTYPE = np.dtype([
    ("at", np.int64),  # local ns it reaches the engine at
    ("what", np.int64),  # A_*
    ("req_kind", np.int64), ("cid", np.int64), ("err", np.int64),  # A_REPLY: REQ_* of the request, error code
    ("state", np.int64), ("filled", np.int64), ("ts_ms", np.int64), ("oid", np.int64),  # the order (reply, A_ORDER)
    ("side", np.int64), ("price", np.int64), ("lots", np.int64), ("fee", np.float64),  # A_TRADE: one fill
    ("last", np.int64),  # A_TRADE: the last fill of its user.trades message
], align=True)

VENUE_ORDER_DTYPE = np.dtype([
    ("cid", np.int64), ("oid", np.int64), ("side", np.int64), ("price", np.int64), ("amount", np.int64),
    ("filled", np.int64), ("ahead", np.float64), ("level", np.int64), ("state", np.int64), ("updated", np.int64),
], align=True)

FILL_DTYPE = np.dtype([("ts_ns", np.int64), ("oid", np.int64), ("side", np.int64), ("price", np.int64),
                       ("amount", np.int64), ("maker", np.int64)], align=True)

# ctl slots (ExchangeState.ctl)
(X_SEQ_OID, X_SEQ_TID, X_REQ_HEAD, X_REQ_TAIL, X_ANS_HEAD, X_ANS_TAIL, X_ENTRY_POS, X_RESP_POS, X_N_FILLS,
 X_N_OPEN, X_OVERFLOW, X_BAD, X_REFUSED_FILLS, X_TRADES_CHANGED, X_BREACH) = range(15)
N_CTL = 15
# cfg slots (ExchangeState.cfg)
F_TICK, F_LOT, F_MAKER_FEE, F_TAKER_FEE, F_PROB, F_REJECT_POST_ONLY = range(6)
# the position (ExchangeState.pos, what tickwire.engine.positions.Position holds)
P_SIZE, P_AVG, P_REALIZED, P_FEES, P_FILLS = range(5)


class ExchangeState(NamedTuple):
    """The compiled venue model's arrays (see the module docstring); made by :func:`new_exchange`."""

    cfg: np.ndarray  # float64[6]: F_*
    ctl: np.ndarray  # int64[N_CTL]: X_* counters, queue heads and tails
    entry: np.ndarray  # int64: entry latencies, ns, taken in turn (cyclic)
    response: np.ndarray  # int64: response latencies, ns
    requests: np.ndarray  # REQUEST_DTYPE, sorted by arrival between head and tail
    answers: np.ndarray  # ANSWER_DTYPE, sorted by delivery between head and tail
    orders: np.ndarray  # VENUE_ORDER_DTYPE[order table capacity], at the engine's slot
    open_slots: np.ndarray  # int64[2 * capacity, 2]: (slot, oid) of orders created open, oldest first (finished
    # ones dropped lazily)
    fills: np.ndarray  # FILL_DTYPE: our fills since Python last took them
    pos: np.ndarray  # float64[5]: P_* (the engine's position, settlement coin)
    fill_cid: np.ndarray  # int64[capacity]: which client id fill_lots[slot] counts for
    fill_lots: np.ndarray  # float64[capacity]: lots of accepted fills per order slot


def new_exchange(tick: float, lot: float, maker_fee: float, taker_fee: float, prob: bool, reject_post_only: bool,
                 entry: np.ndarray, response: np.ndarray, capacity: int, queue: int = 1 << 14,
                 n_fills: int = 1 << 16) -> ExchangeState:
    """An empty venue for one instrument; ``capacity`` is the engine's order-table capacity."""
    return ExchangeState(np.array([tick, lot, maker_fee, taker_fee, float(prob), float(reject_post_only)]),
                         np.zeros(N_CTL, np.int64), entry.astype(np.int64), response.astype(np.int64),
                         np.zeros(queue, REQUEST_DTYPE), np.zeros(queue, ANSWER_DTYPE),
                         np.zeros(capacity, VENUE_ORDER_DTYPE), np.zeros((2 * capacity, 2), np.int64),
                         np.zeros(n_fills, FILL_DTYPE), np.zeros(5), np.full(capacity, -1, np.int64),
                         np.zeros(capacity))


@njit(cache=True, _nrt=False)
def must_stop(x) -> bool:
    """Whether the loop must hand over to Python before the next message: half the fill buffer used (Python
    takes the fills) or a queue overflowed (the run fails)."""
    return x.ctl[X_N_FILLS] * 2 >= x.fills.shape[0] or x.ctl[X_OVERFLOW] != 0


# --- latency and queues ------------------------------------------------------------------------------------
@njit(cache=True, _nrt=False)
def _draw(seq, ctl, k):
    v = seq[ctl[k] % seq.shape[0]]
    ctl[k] += 1
    return v


@njit(cache=True, _nrt=False)
def _room(q, ctl, head, tail):
    """Index of a free record at the tail of queue ``q`` (moved to the front when it reached the end); -1: full."""
    if ctl[tail] == q.shape[0]:
        n = ctl[tail] - ctl[head]
        if n == q.shape[0]:
            return -1
        for k in range(n):
            q[k] = q[ctl[head] + k]
        ctl[head], ctl[tail] = 0, n
    return ctl[tail]


@njit(cache=True, _nrt=False)
def _insert(q, ctl, head, tail, at):
    """A new record in queue ``q`` kept sorted by ``at`` (after those with the same time); its index, -1: full."""
    w = _room(q, ctl, head, tail)
    if w < 0:
        ctl[X_OVERFLOW] = 1
        return -1
    while w > ctl[head] and q[w - 1].at > at:
        q[w] = q[w - 1]
        w -= 1
    ctl[tail] += 1
    q[w].at = at
    return w


@njit(cache=True, _nrt=False)
def pop_due(q, ctl, head, tail, until):
    """Index of the first record of queue ``q`` if it is due by ``until`` (taken off the queue), else -1."""
    k = ctl[head]
    if k < ctl[tail] and q[k].at <= until:
        ctl[head] = k + 1
        return k
    return -1


@njit(cache=True, _nrt=False)
def _answer(x, venue_ns, what):
    """A new answer created at venue time ``venue_ns``, due after a response latency (its record, -1: full)."""
    w = _insert(x.answers, x.ctl, X_ANS_HEAD, X_ANS_TAIL, venue_ns + _draw(x.response, x.ctl, X_RESP_POS))
    if w >= 0:
        a = x.answers[w]
        a.what = what
        a.err = 0
        a.last = 0
    return w


@njit(cache=True, _nrt=False)
def _order_answer(x, venue_ns, what, o, ts_ms):
    w = _answer(x, venue_ns, what)
    if w >= 0:
        a = x.answers[w]
        a.cid, a.state, a.filled, a.ts_ms, a.oid = o.cid, o.state, o.filled, ts_ms, o.oid
    return w


@njit(cache=True, _nrt=False)
def _reply(x, r, t, o):
    """The reply to request ``r`` handled at venue time ``t``, with order ``o``'s state as it is now."""
    w = _order_answer(x, t, A_REPLY, o, t // 1000 // 1000)  # the engine takes the time from usOut (µs)
    if w >= 0:
        x.answers[w].req_kind = r.kind
        x.answers[w].cid = r.cid


@njit(cache=True, _nrt=False)
def _reply_error(x, r, t, code):
    w = _answer(x, t, A_REPLY)
    if w >= 0:
        a = x.answers[w]
        a.req_kind, a.cid, a.err = r.kind, r.cid, code


@njit(cache=True, _nrt=False)
def _notify(x, o, t):
    """A user.orders notification of ``o`` as it is now."""
    _order_answer(x, t, A_ORDER, o, o.updated // 1_000_000)


# --- the strategy side: requests the engine framed ---------------------------------------------------------
@njit(cache=True, _nrt=False)
def _request_id(tx, p, n, key_at):
    """The JSON-RPC id of one masked request frame (payload ``tx[p:p + n]``, key at ``key_at``): the digits after
    ``{"jsonrpc":"2.0","id":`` (22 bytes, as tickwire.deribit.json_encode writes them). -1 when there are none."""
    rid = -1
    for i in range(22, n):
        c = tx[p + i] ^ tx[key_at + (i & 3)]
        if c < 48 or c > 57:
            break
        rid = (0 if rid < 0 else rid * 10) + (c - 48)
    return rid


@njit(cache=True, _nrt=False)
def submit(s, x, n_act, tx_len, now):
    """The requests framed in ``s.op.tx[:tx_len]`` at local time ``now``: each reaches the venue an entry latency
    later. Returns how many; a frame that is not one of our order requests is counted in X_BAD and dropped."""
    tx, orders = s.op.tx, s.acct.orders
    mask = orders.shape[0] - 1
    o, n = 0, 0
    while o + 2 <= tx_len:
        ln, q = tx[o + 1] & 0x7F, o + 2
        if ln == 126:
            ln, q = (np.int64(tx[o + 2]) << 8) | tx[o + 3], o + 4
        elif ln == 127:
            ln, q = 0, o + 10
            for k in range(8):
                ln = (ln << 8) | np.int64(tx[o + 2 + k])
        rid = _request_id(tx, q + 4, ln, q)
        o = q + 4 + ln
        if rid < ORDER_ID_BASE:
            x.ctl[X_BAD] += 1
            continue
        cid, kind = (rid - ORDER_ID_BASE) // 4, (rid - ORDER_ID_BASE) % 4
        w = _insert(x.requests, x.ctl, X_REQ_HEAD, X_REQ_TAIL, now + _draw(x.entry, x.ctl, X_ENTRY_POS))
        if w < 0:
            return n
        r = x.requests[w]
        r.kind, r.cid, r.tif = kind, cid, 0
        so = orders[cid & mask]  # a new order's or an edit's price and amount: what was just encoded
        r.side, r.otype, r.post_only, r.price, r.amount = so.side, so.otype, so.post_only, so.price, so.amount
        if kind == REQ_NEW:
            for k in range(n_act):
                if s.op.act[k].kind == ACT_NEW and s.op.act[k].cid == cid:
                    r.tif = s.op.act[k].tif
        n += 1
    return n


# --- the venue side ----------------------------------------------------------------------------------------
@njit(cache=True, _nrt=False)
def best_price(px, st, side):
    """Best price of one side of the traded book (slot 0) in ticks (BOOK_NO_PRICE: empty side or invalid book)."""
    n = book_side_count(st, 0, side)
    if n == 0 or st[0].valid == 0:
        return BOOK_NO_PRICE
    return px[0, side, n - 1]


@njit(cache=True, _nrt=False)
def level_amount(px, qty, st, side, price):
    """The amount (lots) resting at ``price`` on one side of the traded book (0: no such level)."""
    for k in range(book_side_count(st, 0, side)):
        if px[0, side, k] == price:
            return qty[0, side, k]
    return 0


@njit(cache=True, _nrt=False)
def arrive_until(s, x, venue_ns):
    """Handle the requests that reached the venue by ``venue_ns``, against the book as it stands."""
    while True:
        k = pop_due(x.requests, x.ctl, X_REQ_HEAD, X_REQ_TAIL, venue_ns)
        if k < 0:
            return
        r = x.requests[k]
        if r.kind == REQ_NEW:
            _new(s, x, r, r.at)
        elif r.kind == REQ_CANCEL or r.kind == REQ_EDIT:
            slot = r.cid & (x.orders.shape[0] - 1)
            o = x.orders[slot]
            if o.cid != r.cid or o.oid == 0 or (r.kind == REQ_EDIT and o.state != OST_OPEN):
                _reply_error(x, r, r.at, NOT_OPEN_ORDER)
            elif r.kind == REQ_CANCEL:
                if o.state == OST_OPEN:
                    o.state, o.updated = OST_CANCELLED, r.at
                _reply(x, r, r.at, o)  # a finished order answers with its final state
            else:
                _edit(s, x, r, o, r.at)
        else:  # REQ_CANCEL_ALL: every open order, then the reply (a count, which the engine does not use)
            for k in range(_compact_open(x)):
                o = x.orders[x.open_slots[k, 0]]
                o.state, o.updated = OST_CANCELLED, r.at
                _notify(x, o, r.at)
            _answer(x, r.at, A_IGNORED)


@njit(cache=True, _nrt=False)
def _new(s, x, r, t):
    mkt, cfg = s.mkt, x.cfg
    slot = r.cid & (x.orders.shape[0] - 1)
    o = x.orders[slot]
    x.ctl[X_SEQ_OID] += 1
    o.cid, o.oid, o.side, o.amount, o.filled, o.updated = r.cid, x.ctl[X_SEQ_OID], r.side, r.amount, 0, t
    o.price = r.price if r.otype != OT_MARKET else 0
    o.ahead, o.level, o.state = 0.0, 0, OST_OPEN
    opp_best = best_price(mkt.px, mkt.st, 1 - r.side)
    crosses = opp_best != BOOK_NO_PRICE and (r.otype == OT_MARKET or (o.price >= opp_best if r.side == SIDE_BUY
                                                                       else o.price <= opp_best))
    if crosses and r.post_only != 0 and r.otype != OT_MARKET:
        if cfg[F_REJECT_POST_ONLY] != 0:  # as Deribit with reject_post_only (and a GTX order elsewhere)
            o.state = OST_REJECTED
            _reply_error(x, r, t, POST_ONLY_REJECT)
            return
        o.price = opp_best - 1 if r.side == SIDE_BUY else opp_best + 1  # re-priced one tick inside, as Deribit does
        crosses = False
    _add_open(x, slot, o.oid)
    first_fill = x.ctl[X_N_FILLS]
    if crosses:
        _take(x, mkt, o, r.otype == OT_MARKET, t)
    if o.filled == o.amount:
        o.state = OST_FILLED
    elif r.otype == OT_MARKET or r.tif == TIF_IOC or r.tif == TIF_FOK:
        o.state = OST_CANCELLED
    else:
        o.level = level_amount(mkt.px, mkt.qty, mkt.st, o.side, o.price)
        o.ahead = o.level
    _reply(x, r, t, o)
    _user_trades(x, o, first_fill, t)


@njit(cache=True, _nrt=False)
def _edit(s, x, r, o, t):
    """A new price goes to the back of its level; a smaller amount keeps its place."""
    if r.price != o.price:
        o.price = r.price
        o.level = level_amount(s.mkt.px, s.mkt.qty, s.mkt.st, o.side, r.price)
        o.ahead = o.level
    o.amount = max(r.amount, o.filled)
    o.updated = t
    if o.filled == o.amount:
        o.state = OST_FILLED
    _reply(x, r, t, o)


@njit(cache=True, _nrt=False)
def _take(x, mkt, o, market, t):
    """Fill ``o`` as a taker from the opposite side's levels, best first, up to its limit price."""
    opp = 1 - o.side
    for k in range(book_side_count(mkt.st, 0, opp) - 1, -1, -1):
        if o.filled == o.amount:
            break
        px, qty = mkt.px[0, opp, k], mkt.qty[0, opp, k]
        if not market and (px > o.price if o.side == SIDE_BUY else px < o.price):
            break
        _fill(x, o, px, min(qty, o.amount - o.filled), 0, t)


@njit(cache=True, _nrt=False)
def _fill(x, o, price, lots, maker, t):
    o.filled += lots
    o.updated = t
    if o.filled == o.amount:
        o.state = OST_FILLED
    k = x.ctl[X_N_FILLS]
    if k == x.fills.shape[0]:
        x.ctl[X_OVERFLOW] = 1
        return
    x.ctl[X_N_FILLS] = k + 1
    f = x.fills[k]
    f.ts_ns, f.oid, f.side, f.price, f.amount, f.maker = t, o.oid, o.side, price, lots, maker


@njit(cache=True, _nrt=False)
def _user_trades(x, o, first, t):
    """One user.trades notification of ``o``'s fills ``x.fills[first:]`` (nothing when there are none)."""
    n = x.ctl[X_N_FILLS]
    if first == n:
        return
    at = t + _draw(x.response, x.ctl, X_RESP_POS)  # one message: one latency for all its trades
    tick, lot = x.cfg[F_TICK], x.cfg[F_LOT]
    for k in range(first, n):
        f = x.fills[k]
        w = _insert(x.answers, x.ctl, X_ANS_HEAD, X_ANS_TAIL, at)
        if w < 0:
            return
        a = x.answers[w]
        usd, px = f.amount * lot, f.price * tick
        a.what, a.oid, a.side, a.price, a.lots, a.last = A_TRADE, f.oid, f.side, f.price, f.amount, k == n - 1
        a.fee = usd / px * (x.cfg[F_MAKER_FEE] if f.maker != 0 else x.cfg[F_TAKER_FEE])
        a.cid = o.cid


@njit(cache=True, _nrt=False)
def _add_open(x, slot, oid):
    if x.ctl[X_N_OPEN] == x.open_slots.shape[0]:
        _compact_open(x)
    x.open_slots[x.ctl[X_N_OPEN], 0] = slot
    x.open_slots[x.ctl[X_N_OPEN], 1] = oid
    x.ctl[X_N_OPEN] += 1


@njit(cache=True, _nrt=False)
def _compact_open(x):
    """Drop finished orders from ``open_slots`` (the rest keep their order; an entry whose slot now holds a
    newer order is finished too); returns how many are open."""
    n = 0
    for k in range(x.ctl[X_N_OPEN]):
        slot, oid = x.open_slots[k, 0], x.open_slots[k, 1]
        if x.orders[slot].oid == oid and x.orders[slot].state == OST_OPEN:
            x.open_slots[n, 0] = slot
            x.open_slots[n, 1] = oid
            n += 1
    x.ctl[X_N_OPEN] = n
    return n


@njit(cache=True, _nrt=False)
def _maker_fill(x, o, lots, t):
    if lots <= 0:
        return
    first = x.ctl[X_N_FILLS]
    _fill(x, o, o.price, lots, 1, t)
    _notify(x, o, t)
    _user_trades(x, o, first, t)


@njit(cache=True, _nrt=False)
def _traded_at(events, lo, hi, side, price):
    """Lots traded in ``events[lo:hi]`` against makers on ``side`` at ``price``."""
    n = 0
    for k in range(lo, hi):
        ev = events[k]
        if ev.kind == EV_TRADE and 1 - ev.side == side and ev.price == price:
            n += ev.amount
    return n


@njit(cache=True, _nrt=False)
def on_market(s, x, events, lo, hi, venue_ns):
    """One replayed message (``events[lo:hi]``, its book events already applied): queues and fills of our
    resting orders, trade by trade, then against the book as it now stands."""
    n_open = _compact_open(x)
    if n_open == 0:
        return
    mkt = s.mkt
    for k in range(lo, hi):
        ev = events[k]
        if ev.kind != EV_TRADE:
            continue
        maker_side = 1 - ev.side
        for j in range(n_open):
            o = x.orders[x.open_slots[j, 0]]
            if o.side != maker_side or o.state != OST_OPEN:
                continue
            if ev.price < o.price if o.side == SIDE_BUY else ev.price > o.price:  # a trade through our price
                _maker_fill(x, o, o.amount - o.filled, venue_ns)
            elif ev.price == o.price:
                o.ahead -= ev.amount
                if o.ahead < 0:
                    _maker_fill(x, o, min(o.amount - o.filled, int(-o.ahead)), venue_ns)
                    o.ahead = 0.0
    for j in range(n_open):
        o = x.orders[x.open_slots[j, 0]]
        if o.state != OST_OPEN:
            continue
        opp = best_price(mkt.px, mkt.st, 1 - o.side)
        if opp != BOOK_NO_PRICE and (opp <= o.price if o.side == SIDE_BUY else opp >= o.price):
            _maker_fill(x, o, o.amount - o.filled, venue_ns)  # the market moved through our price
            continue
        level = level_amount(mkt.px, mkt.qty, mkt.st, o.side, o.price)
        if x.cfg[F_PROB] != 0 and level < o.level and o.level > 0:
            cancelled = max(0, o.level - level - _traded_at(events, lo, hi, o.side, o.price))
            o.ahead -= cancelled * o.ahead / o.level
        o.ahead = max(0.0, min(o.ahead, level))
        o.level = level
