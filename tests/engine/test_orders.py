"""Order state machine: compiled kernels equal their references; duplicates and reordering never go backwards."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tickwire.engine import orders as om
from tickwire.engine._ref import ref_next_state_local, ref_next_state_venue
from tickwire.types import (
    ORD_CANCELLED,
    ORD_FILLED,
    ORD_OPEN,
    ORD_PARTIALLY_FILLED,
    ORD_PENDING_CANCEL,
    ORD_PENDING_NEW,
    ORD_REJECTED,
)

states = st.integers(0, 8)
vstates = st.sampled_from(sorted(om.VENUE_STATES.values()))


@settings(max_examples=300, deadline=None)
@given(states, st.integers(0, 5), st.integers(0, 5), vstates, st.integers(0, 5), st.integers(0, 5))
def test_venue_kernel_equals_twin(state, filled, last_ts, vstate, vfilled, vts):
    assert om.next_state_venue(state, filled, last_ts, vstate, vfilled, vts) == \
        ref_next_state_venue(state, filled, last_ts, vstate, vfilled, vts)


@settings(max_examples=200, deadline=None)
@given(states, st.integers(0, 5), st.integers(0, 6))
def test_local_kernel_equals_twin(state, filled, event):
    assert om.next_state_local(state, filled, event) == ref_next_state_local(state, filled, event)


def _updates_for(amount: int):
    """The venue's true history of one order: open, partial fills, then filled or cancelled."""
    return st.tuples(st.integers(0, amount), st.booleans()).map(
        lambda t: [(om.V_OPEN, 0, 1)] + [(om.V_OPEN, f, 2 + f) for f in range(1, t[0])]
        + [(om.V_FILLED, amount, 100) if t[1] else (om.V_CANCELLED, max(0, t[0] - 1), 100)])


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_delivery_order_with_duplicates_ends_in_the_true_final_state(data):
    amount = data.draw(st.integers(1, 6))
    history = data.draw(_updates_for(amount))
    delivered = data.draw(st.permutations(history + data.draw(st.lists(st.sampled_from(history), max_size=4))))
    table = om.new_order_table(8)
    table[3]["state"] = ORD_PENDING_NEW
    total = 0
    for vstate, vfilled, vts in delivered:
        total += om.apply_venue(table, 3, vstate, vfilled, vts)
    final_state, final_filled, _ = history[-1]
    # the final update carries the most fill and the latest timestamp, so it always wins
    assert table[3]["state"] == (ORD_FILLED if final_state == om.V_FILLED else ORD_CANCELLED)
    assert table[3]["filled"] == final_filled == total


def test_cancel_race_open_update_after_cancel_keeps_pending_cancel():
    table = om.new_order_table(4)
    table[1]["state"] = ORD_PENDING_NEW
    om.apply_venue(table, 1, om.V_OPEN, 0, 10)
    assert table[1]["state"] == ORD_OPEN
    om.apply_local(table, 1, om.L_CANCEL_SENT)
    om.apply_venue(table, 1, om.V_OPEN, 0, 11)  # a late user.orders "open"
    assert table[1]["state"] == ORD_PENDING_CANCEL
    om.apply_local(table, 1, om.L_CANCEL_REFUSED)  # e.g. 11044 not_open_order: back to resting, then query
    assert table[1]["state"] == ORD_OPEN
    assert om.apply_venue(table, 1, om.V_OPEN, 2, 12) == 2 and table[1]["state"] == ORD_PARTIALLY_FILLED


def test_refused_new_order_is_rejected_and_not_live():
    table = om.new_order_table(4)
    table[0]["state"] = ORD_PENDING_NEW
    assert om.count_live(table) == 1
    om.apply_local(table, 0, om.L_NEW_REFUSED)
    assert table[0]["state"] == ORD_REJECTED and om.count_live(table) == 0


def test_table_capacity_must_be_power_of_two():
    import pytest

    with pytest.raises(ValueError, match="power of two"):
        om.new_order_table(1000)
