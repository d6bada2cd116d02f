"""Order state machine over a preallocated order table (one record per live client order).

Client ids are integers; on the wire they travel in Deribit's ``label`` as ``<run prefix><cid>``. The venue's
notifications race with our request's response (user.orders may arrive before or after the private/buy answer,
twice, or stale), so every venue update goes through :func:`apply_venue` which only moves forward:

- terminal states (filled, cancelled, rejected) are sticky;
- ``filled`` never decreases; an update with less filled than we know, or an equal fill but an older
  ``last_update_timestamp``, is stale and ignored;
- while a cancel or an edit is pending, a non-terminal "open" update does not undo the pending state.

A request without an answer in time is resolved with private/get_order_state, never resent blindly.
:func:`apply_venue` and :func:`apply_local` are ``@njit`` kernels; ``tickwire.engine._ref`` holds the readable
reference of their state transitions (``ref_next_state_venue``, ``ref_next_state_local``).

The order table and the exposure per instrument form the account view (:class:`Account`) that strategy kernels
and risk read. The table is the record array of a pool (tickwire.engine.pool, reuse "oldest"): a new order
takes a free slot from the pool (:func:`take_slot`, from the compiled order path) and its client id carries the
slot in its low bits (``slot = cid & (capacity - 1)`` everywhere, ids growing); a
finished order gives its slot back (:func:`retire`) and its record stays readable for late venue messages until
every other free slot has been used. A live order is never overwritten: when every slot holds one, the new
order is refused and counted (the pool's refusals).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from tickwire.engine.pool import S_HEAD, Pool, pool_acquire, pool_release
from tickwire.types import (
    ORD_CANCELLED,
    ORD_FILLED,
    ORD_FREE,
    ORD_OPEN,
    ORD_PARTIALLY_FILLED,
    ORD_PENDING_CANCEL,
    ORD_PENDING_NEW,
    ORD_PENDING_REPLACE,
    ORD_REJECTED,
    ORDER_DTYPE,
    EXPOSURE_DTYPE,
    OST_CANCELLED,
    OST_FILLED,
    OST_NAMES,
    OST_OPEN,
    OST_REJECTED,
)

# Venue order_state values: the compiled decoder's OST_* codes (tickwire.types), also used for orjson'd orders.
V_OPEN, V_FILLED, V_REJECTED, V_CANCELLED = OST_OPEN, OST_FILLED, OST_REJECTED, OST_CANCELLED
VENUE_STATES = {name: code for code, name in enumerate(OST_NAMES) if code}

# Local events: what we did, or a request the venue refused.
L_CANCEL_SENT, L_EDIT_SENT, L_NEW_REFUSED, L_CANCEL_REFUSED, L_EDIT_DONE = 1, 2, 3, 4, 5

STATE_NAMES = {ORD_FREE: "free", ORD_PENDING_NEW: "pending_new", ORD_OPEN: "open",
               ORD_PARTIALLY_FILLED: "partially_filled", ORD_FILLED: "filled", ORD_CANCELLED: "cancelled",
               ORD_REJECTED: "rejected", ORD_PENDING_CANCEL: "pending_cancel",
               ORD_PENDING_REPLACE: "pending_replace"}


class Account(NamedTuple):
    """The position/orders view: our order table and our exposure per instrument, and the order-slot pool."""

    orders: np.ndarray  # ORDER_DTYPE[capacity], slot = cid & (capacity - 1): the slot pool's records
    expo: np.ndarray  # EXPOSURE_DTYPE[n_inst]: position, live buy and live sell lots
    slot_free: np.ndarray  # the slot pool's free ring (tickwire.engine.pool)
    slot_used: np.ndarray  # uint8[capacity]: 1 while the slot belongs to an order not yet retired
    slot_state: np.ndarray  # the slot pool's counters (tickwire.engine.pool.S_*: refusals, high water, ...)


def new_account(n_inst: int, capacity: int = 1024) -> Account:
    """An empty order table (``capacity`` a power of two) and zero exposure on ``n_inst`` instruments."""
    check_capacity(capacity)
    pool = Pool(capacity, ORDER_DTYPE, reuse="oldest")
    pool.state[S_HEAD] = 1 % capacity  # slot 0 last: the first client id is 1 (0 means "no order")
    return Account(pool.records, np.zeros(n_inst, EXPOSURE_DTYPE), pool.free, pool.in_use, pool.state)


@njit(cache=True, _nrt=False)
def take_slot(acct: Account, last_cid: int) -> int:
    """The client id of a new order: the smallest id above ``last_cid`` (the previous one given out) whose low
    bits name a slot taken from the pool; -1 when every slot belongs to an order not yet finished (a refusal,
    counted by the pool). Ids only grow; while orders finish in the order they were sent they are 1, 2, 3..."""
    slot = pool_acquire(acct.slot_free, acct.slot_used, acct.slot_state)
    if slot < 0:
        return -1
    step = (slot - last_cid) & (acct.orders.shape[0] - 1)
    return last_cid + (step if step > 0 else acct.orders.shape[0])


@njit(cache=True, _nrt=False)
def retire(acct: Account, slot: int) -> bool:
    """Give a finished order's slot back to the pool (call after any update that may finish it). False when the
    order is not finished or its slot was already given back."""
    if acct.slot_used[slot] == 0 or not is_terminal(acct.orders[slot].state):
        return False
    return pool_release(acct.slot_free, acct.slot_used, acct.slot_state, slot)


@njit(cache=True, inline="always", _nrt=False)
def side_sign(side: int) -> int:
    """+1 for SIDE_BUY, -1 for SIDE_SELL: the sign of that side's fills on a position."""
    return 1 - 2 * side


@njit(cache=True, _nrt=False)
def is_terminal(state: int) -> bool:
    return state == ORD_FILLED or state == ORD_CANCELLED or state == ORD_REJECTED


@njit(cache=True, _nrt=False)
def is_live(state: int) -> bool:
    """Counts against max open orders: sent and not known to be finished."""
    return state != ORD_FREE and not is_terminal(state)


@njit(cache=True, _nrt=False)
def _resting(filled: int) -> int:
    return ORD_PARTIALLY_FILLED if filled > 0 else ORD_OPEN


@njit(cache=True, _nrt=False)
def next_state_venue(state: int, filled: int, last_ts: int, vstate: int, vfilled: int, vts: int) -> int:
    """New state after a venue update (order_state, filled lots, last_update_timestamp ms)."""
    if state == ORD_FREE or is_terminal(state):
        return state
    if vfilled < filled or (vfilled == filled and vts < last_ts):
        return state  # stale notification
    if vstate == V_FILLED:
        return ORD_FILLED
    if vstate == V_CANCELLED:
        return ORD_CANCELLED
    if vstate == V_REJECTED:
        return ORD_REJECTED
    if state == ORD_PENDING_CANCEL or state == ORD_PENDING_REPLACE:
        return state  # the open update may predate our request: wait for the answer
    return _resting(vfilled)


@njit(cache=True, _nrt=False)
def next_state_local(state: int, filled: int, event: int) -> int:
    """New state after a local event (request sent, or our request refused by the venue)."""
    if state == ORD_FREE or is_terminal(state):
        return state
    if event == L_CANCEL_SENT:
        return ORD_PENDING_CANCEL
    if event == L_EDIT_SENT:
        return ORD_PENDING_CANCEL if state == ORD_PENDING_CANCEL else ORD_PENDING_REPLACE
    if event == L_NEW_REFUSED:
        return ORD_REJECTED if state == ORD_PENDING_NEW else state
    if event == L_CANCEL_REFUSED:
        return _resting(filled) if state == ORD_PENDING_CANCEL else state
    if event == L_EDIT_DONE:
        return _resting(filled) if state == ORD_PENDING_REPLACE else state
    return state


@njit(cache=True, _nrt=False)
def apply_venue(orders: np.ndarray, slot: int, vstate: int, vfilled: int, vts: int) -> int:
    """Apply a venue update to ``orders[slot]``; returns the fill increment in lots (0 when stale)."""
    o = orders[slot]
    before = o["filled"]
    new = next_state_venue(o["state"], before, o["last_ts"], vstate, vfilled, vts)
    if o["state"] == ORD_FREE or is_terminal(o["state"]) or vfilled < before:
        return 0
    o["state"] = new
    if vts > o["last_ts"]:
        o["last_ts"] = vts
    o["filled"] = vfilled
    return vfilled - before


@njit(cache=True, _nrt=False)
def apply_local(orders: np.ndarray, slot: int, event: int) -> None:
    o = orders[slot]
    o["state"] = next_state_local(o["state"], o["filled"], event)


@njit(cache=True, _nrt=False)
def count_live(orders: np.ndarray) -> int:
    n = 0
    for i in range(orders.shape[0]):
        if is_live(orders[i]["state"]):
            n += 1
    return n


def check_capacity(capacity: int) -> None:
    """An order table's capacity must be a power of two (slot = cid & (capacity - 1))."""
    if capacity <= 0 or capacity & (capacity - 1):
        raise ValueError(f"order table capacity must be a power of two, got {capacity}")


def new_order_table(capacity: int = 1024) -> np.ndarray:
    """A zeroed order table without a slot pool (scratch tables, tests of the state machine)."""
    check_capacity(capacity)
    return np.zeros(capacity, dtype=ORDER_DTYPE)
