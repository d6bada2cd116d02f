"""Risk: the compiled admit equals its twin, and random strategy actions can never breach a limit."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tickwire.config import CreditConfig, RiskConfig
from tickwire.engine import risk
from tickwire.deribit import credits
from tickwire.engine import orders as om
from tickwire.types import (
    ACT_CANCEL,
    ACT_NEW,
    ACTION_DTYPE,
    ORD_CANCELLED,
    ORD_FILLED,
    ORD_OPEN,
    OT_LIMIT,
    OT_MARKET,
    RISK_KILLED,
    RISK_MAX_AMOUNT,
    RISK_MAX_OPEN,
    RISK_MAX_POSITION,
    RISK_OK,
    RISK_PRICE_BAND,
)

CFG = RiskConfig(max_order_amount=50, max_position=100, max_open_orders=3, price_band_bps=50, max_orders_per_s=1e6)
LOT = 10.0
BID, ASK = np.array([100_000], np.int64), np.array([100_002], np.int64)  # ticks

actions = st.builds(
    lambda kind, side, otype, price, amount: (kind, side, otype, price, amount),
    st.sampled_from([ACT_NEW, ACT_NEW, ACT_NEW, ACT_CANCEL, 3, 7]), st.sampled_from([1, -1, 0]),
    st.sampled_from([OT_LIMIT, OT_MARKET]), st.integers(99_000, 101_000), st.integers(-1, 8))


def _action(kind, side, otype, price, amount):
    a = np.zeros(1, ACTION_DTYPE)
    a[0] = (kind, 0, side, otype, 0, 0, price, amount, 0)
    return a


def _set(table, i, **fields):
    for name, value in fields.items():
        table[name][i] = value


def _fresh():
    cs, cc = credits.new_budget(CreditConfig(matching_rate_per_s=1e6, matching_burst=10**6), 0)
    return (risk.new_limits(CFG, [LOT]), risk.new_state(CFG, 0), np.zeros((1, 3), np.int64), cs, cc)


@settings(max_examples=150, deadline=None)
@given(st.lists(actions, max_size=30))
def test_kernel_equals_twin(seq):
    a_side, b_side = _fresh(), _fresh()
    for i, act in enumerate(seq):
        arr = _action(*act)
        got = risk.admit(arr[0], *a_side[:3], BID, ASK, *a_side[3:], i * 1000)
        want = risk.admit_py(arr[0], *b_side[:3], BID, ASK, *b_side[3:], i * 1000)
        assert got == want
        for x, y in zip(a_side, b_side):
            np.testing.assert_array_equal(x, y)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(actions, st.integers(0, 3), st.booleans()), max_size=40))
def test_random_actions_never_breach(steps):
    """Admitted orders fill or cancel at random: position and open orders stay within the limits."""
    limits, rstate, expo, cs, cc = _fresh()
    table = om.new_order_table(64)
    for t, (act, pick, fill) in enumerate(steps):
        arr = _action(*act)
        if risk.admit(arr[0], limits, rstate, expo, BID, ASK, cs, cc, t * 1000) == RISK_OK and act[0] == ACT_NEW:
            assert act[4] <= CFG.max_order_amount / LOT
            _set(table, t, side=act[1], state=ORD_OPEN, amount=act[4])
        live = np.flatnonzero(table["state"] == ORD_OPEN)
        if len(live):  # one live order fills completely or is cancelled
            o = table[live[pick % len(live)]]
            if fill:
                expo[0, risk.E_POS] += o["side"] * o["amount"]
            o["state"] = ORD_FILLED if fill else ORD_CANCELLED
        risk.recompute_exposure(table, rstate, expo)
        assert abs(expo[0, risk.E_POS]) <= CFG.max_position / LOT
        assert rstate[risk.R_OPEN] <= CFG.max_open_orders


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 1), st.sampled_from([1, -1]), st.integers(0, 5),
                          st.integers(0, 5)), max_size=20))
def test_recompute_exposure_kernel_equals_twin(rows):
    table = om.new_order_table(32)
    for i, (state, inst, side, amount, filled) in enumerate(rows):
        _set(table, i, state=state, inst=inst, side=side, amount=amount, filled=filled)
    a_r, a_e = np.zeros(4), np.zeros((2, 3), np.int64)
    b_r, b_e = np.zeros(4), np.zeros((2, 3), np.int64)
    risk.recompute_exposure(table, a_r, a_e)
    risk.recompute_exposure_py(table, b_r, b_e)
    np.testing.assert_array_equal(a_r, b_r)
    np.testing.assert_array_equal(a_e, b_e)


def test_each_limit_has_its_verdict():
    limits, rstate, expo, cs, cc = _fresh()
    check = lambda *a: risk.admit(_action(*a)[0], limits, rstate, expo, BID, ASK, cs, cc, 1)  # noqa: E731
    assert check(ACT_NEW, 1, OT_LIMIT, 100_000, 6) == RISK_MAX_AMOUNT
    assert check(ACT_NEW, 1, OT_LIMIT, 98_000, 1) == RISK_PRICE_BAND
    expo[0, risk.E_POS] = 9
    assert check(ACT_NEW, 1, OT_LIMIT, 100_000, 2) == RISK_MAX_POSITION
    assert check(ACT_NEW, -1, OT_LIMIT, 100_000, 2) == RISK_OK
    for _ in range(2):
        assert check(ACT_NEW, -1, OT_MARKET, 0, 1) == RISK_OK
    assert check(ACT_NEW, -1, OT_MARKET, 0, 1) == RISK_MAX_OPEN
    risk.kill(rstate)
    assert check(ACT_NEW, -1, OT_LIMIT, 100_000, 1) == RISK_KILLED
    assert check(ACT_CANCEL, 0, 0, 0, 0) == RISK_OK  # cancels still pass


def test_credit_budget_mirrors_deribit_defaults():
    state, cost = credits.new_budget(CreditConfig(), 0)
    assert sum(credits.take(state, cost, credits.NON_MATCHING, 0) for _ in range(120)) == 100  # burst 100
    assert credits.wait_ns(state, cost, credits.NON_MATCHING, 0) == 50_000_001  # 500 credits at 10k/s
    assert credits.take(state, cost, credits.NON_MATCHING, 50_000_001)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 10**8)), max_size=40))
def test_credit_kernel_equals_twin(steps):
    a, ca = credits.new_budget(CreditConfig(matching_burst=5, non_matching_max=2000), 0)
    b, cb = a.copy(), ca.copy()
    now = 0
    for cls, dt in steps:
        now += dt
        assert credits.take(a, ca, cls, now) == credits.take_py(b, cb, cls, now)
        np.testing.assert_allclose(a, b)
