"""The compiled venue model's answers applied to the engine's order table and position, as the live engine's slow
path (tickwire.engine.answers, tickwire.engine.positions) applies the JSON ones, rule for rule: the order state
machine (tickwire.engine.orders), the order's slot given back when it finishes, a fill accepted only for a live
order of ours and within what it has left, inverse-perpetual PnL and fees in the settlement coin, and exposure
(live lots, position, the breach kill switch) refreshed after the answers.

The answers are those of tickwire.engine.backtest_exchange; after the run the position goes back into the engine's
:class:`~tickwire.engine.positions.Position` (``Backtest`` does it), so the report reads it as for a Python run.
"""
from __future__ import annotations

from numba import njit

from tickwire.deribit.errors import ALREADY_CLOSED, ALREADY_FILLED, NOT_OPEN_ORDER, ORDER_NOT_FOUND
from tickwire.engine import orders as om
from tickwire.engine.backtest_exchange import (
    A_ORDER, A_REPLY, A_TRADE, F_LOT, F_TICK, P_AVG, P_FEES, P_FILLS, P_REALIZED, P_SIZE, X_ANS_HEAD, X_ANS_TAIL,
    X_BAD, X_BREACH, X_REFUSED_FILLS, X_TRADES_CHANGED, pop_due,
)
from tickwire.engine.hotpath import REQ_CANCEL, REQ_EDIT, REQ_NEW
from tickwire.engine.risk import recompute_exposure
from tickwire.types import C_FILLS, C_KILLS, C_REJECTS, ORD_FREE, SIDE_BUY


@njit(cache=True, _nrt=False)
def deliver(s, x, until_ns):
    """Apply the answers due by local time ``until_ns``, oldest first. The live engine refreshes its exposure
    after each answer; nothing reads it before the next decision, so the live lots are recomputed once, after the
    last of them (the same values), and the position and its breach check after each user.trades message."""
    ctl = x.ctl
    applied = False
    while True:
        k = pop_due(x.answers, ctl, X_ANS_HEAD, X_ANS_TAIL, until_ns)
        if k < 0:
            break
        a = x.answers[k]
        applied = True
        if a.what == A_REPLY:
            _on_reply(s, x, a)
        elif a.what == A_ORDER:
            slot = _slot_of(s.acct.orders, a.cid)
            if slot >= 0:
                _venue_update(s, x, slot, a.state, a.filled, a.ts_ms, a.oid)
        elif a.what == A_TRADE:
            _on_trade(s, x, a)
            if a.last != 0 and ctl[X_TRADES_CHANGED] != 0:
                ctl[X_TRADES_CHANGED] = 0
                _refresh_position(s, x)
        else:
            ctl[X_BAD] += 1  # the count a cancel_all answers with is not an order: the live slow path refuses it
    if applied:
        recompute_exposure(s.acct.orders, s.risk.state, s.acct.expo)


@njit(cache=True, _nrt=False)
def _slot_of(orders, cid):
    slot = cid & (orders.shape[0] - 1)
    return slot if orders[slot].cid == cid and orders[slot].state != ORD_FREE else -1


@njit(cache=True, _nrt=False)
def _not_open(code):
    return code == NOT_OPEN_ORDER or code == ORDER_NOT_FOUND or code == ALREADY_CLOSED or code == ALREADY_FILLED


@njit(cache=True, _nrt=False)
def _on_reply(s, x, a):
    """The answer to one of our requests (answers._on_order_answer)."""
    orders = s.acct.orders
    slot = _slot_of(orders, a.cid)
    if slot < 0:
        return
    error = a.err != 0
    if a.req_kind == REQ_NEW:
        if error:
            s.counters[C_REJECTS] += 1
            om.apply_local(orders, slot, om.L_NEW_REFUSED)
            om.retire(s.acct, slot)
        else:
            _venue_update(s, x, slot, a.state, a.filled, a.ts_ms, a.oid)
    elif a.req_kind == REQ_CANCEL:
        if error:
            if not _not_open(a.err):
                s.counters[C_REJECTS] += 1
            om.apply_local(orders, slot, om.L_CANCEL_REFUSED)
        else:
            _venue_update(s, x, slot, a.state, a.filled, a.ts_ms, a.oid)
    elif a.req_kind == REQ_EDIT:
        if error:
            s.counters[C_REJECTS] += 1
        else:
            _venue_update(s, x, slot, a.state, a.filled, a.ts_ms, a.oid)
        om.apply_local(orders, slot, om.L_EDIT_DONE)


@njit(cache=True, _nrt=False)
def _venue_update(s, x, slot, vstate, vfilled, ts_ms, oid):
    """answers._apply_record / _venue_update: the venue's order id (``BT-<oid>``) kept once, then the state."""
    o = s.acct.orders[slot]
    if o.oid_len == 0:
        o.oid_len = _write_oid(o.oid, oid)
    if vfilled > o.amount:
        x.ctl[X_BAD] += 1
        return
    if om.apply_venue(s.acct.orders, slot, vstate, vfilled, ts_ms) != 0:
        s.counters[C_FILLS] += 1
    om.retire(s.acct, slot)


@njit(cache=True, _nrt=False)
def _write_oid(out, oid):
    """``BT-<oid>`` into ``out`` (the venue model's order ids); returns its length."""
    out[0], out[1], out[2] = 66, 84, 45
    n, t = 1, oid
    while t >= 10:
        t //= 10
        n += 1
    for k in range(n):
        out[2 + n - k] = 48 + oid % 10
        oid //= 10
    return 3 + n


@njit(cache=True, _nrt=False)
def _on_trade(s, x, a):
    """One of our fills (answers._apply_trades, _fill_slot and PositionBook.on_trade)."""
    orders, lot = s.acct.orders, x.cfg[F_LOT]
    slot = _slot_of(orders, a.cid)
    if slot < 0:
        x.ctl[X_REFUSED_FILLS] += 1
        return
    o = orders[slot]
    if x.fill_cid[slot] != o.cid:  # the slot holds a new order: its count starts afresh
        x.fill_cid[slot], x.fill_lots[slot] = o.cid, 0.0
    usd, price = a.lots * lot, a.price * x.cfg[F_TICK]
    if a.side != o.side or usd / lot > o.amount - x.fill_lots[slot] + 1e-9 or not (usd > 0 and price > 0):
        x.ctl[X_REFUSED_FILLS] += 1
        return
    apply_fill(x.pos, a.side, price, usd, a.fee)
    x.fill_lots[slot] += usd / lot
    x.ctl[X_TRADES_CHANGED] = 1


@njit(cache=True, _nrt=False)
def apply_fill(pos, side, price, amount, fee):
    """Position.apply_fill over ``pos`` (P_*): an inverse perpetual's USD size, harmonic entry, coin PnL."""
    signed = amount if side == SIDE_BUY else -amount
    pos[P_FEES] += fee
    pos[P_FILLS] += 1
    size = pos[P_SIZE]
    if size == 0 or (size > 0) == (signed > 0):  # opening or growing
        coins = abs(size) / pos[P_AVG] if size != 0 else 0.0
        pos[P_AVG] = (abs(size) + amount) / (coins + amount / price)
        pos[P_SIZE] = size + signed
        return
    closed = min(abs(size), amount)
    direction = 1.0 if size > 0 else -1.0
    pos[P_REALIZED] += direction * closed * (1.0 / pos[P_AVG] - 1.0 / price)
    pos[P_SIZE] = size + signed
    if abs(pos[P_SIZE]) < 1e-9:
        pos[P_SIZE], pos[P_AVG] = 0.0, 0.0
    elif (pos[P_SIZE] > 0) != (direction > 0):  # flipped: the rest opens at this price
        pos[P_AVG] = price


@njit(cache=True, _nrt=False)
def _refresh_position(s, x):
    """Engine._refresh_exposure's position part: the position in lots and the breach kill switch (once: Backtest
    reports it as the live engine's "breach" kill)."""
    lots = round(x.pos[P_SIZE] / x.cfg[F_LOT])
    s.acct.expo[0].position = lots
    if abs(lots) > s.risk.limits[0].max_position_lots and x.ctl[X_BREACH] == 0:
        x.ctl[X_BREACH] = 1
        s.risk.state[0].killed = 1
        s.counters[C_KILLS] += 1
