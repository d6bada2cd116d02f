"""Risk: the compiled admit equals its reference (written from the rules) under real rate and credit limits, and
random strategy actions can never breach a limit."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tickwire.config import CreditConfig, RiskConfig
from tickwire.engine import risk
from tickwire.deribit import credits
from tickwire.engine import orders as om
from tickwire.engine._ref import ref_admit, ref_credit_take, ref_recompute_exposure
from tickwire.types import (
    ACT_CANCEL,
    ACT_EDIT,
    ACT_NEW,
    ACTION_DTYPE,
    EXPOSURE_DTYPE,
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
    RISK_CREDITS,
    RISK_PRICE_BAND,
    RISK_RATE,
    SIDE_BUY,
    SIDE_SELL,
)

# real limits: Deribit tier-2 matching credits (20/s, burst 50) and a local order rate below them
CFG = RiskConfig(max_order_amount=50, max_position=100, max_open_orders=3, price_band_bps=50, max_orders_per_s=10)
CREDITS = CreditConfig(matching_rate_per_s=20.0, matching_burst=5)
LOT = 10.0
BID, ASK = np.array([100_000], np.int64), np.array([100_002], np.int64)  # ticks

actions = st.builds(
    lambda kind, side, otype, price, amount: (kind, side, otype, price, amount),
    st.sampled_from([ACT_NEW, ACT_NEW, ACT_NEW, ACT_CANCEL, ACT_EDIT, 7]), st.sampled_from([SIDE_BUY, SIDE_SELL, 5]),
    st.sampled_from([OT_LIMIT, OT_MARKET]), st.integers(99_000, 101_000), st.integers(-1, 8))
gaps_ns = st.integers(0, 300_000_000)  # time between two actions: bursts and refills of both buckets


def _action(kind, side, otype, price, amount):
    a = np.zeros(1, ACTION_DTYPE)
    a[0] = (kind, 0, side, otype, 0, 0, price, amount, 0)
    return a


def _set(table, i, **fields):
    for name, value in fields.items():
        table[name][i] = value


def _fresh():
    """(risk record, exposure) of one instrument, everything full at t = 0."""
    return risk.new_risk(CFG, CREDITS, [LOT], 0), np.zeros(1, EXPOSURE_DTYPE)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(actions, gaps_ns), max_size=40), st.integers(-3, 3))
def test_kernel_equals_reference(seq, position):
    """Every verdict and every reservation (open orders, live lots, rate and credit buckets) agree."""
    (a_rk, a_expo), (b_rk, b_expo) = _fresh(), _fresh()
    a_expo[0]["position"] = b_expo[0]["position"] = position * 4
    now = 0
    for act, gap in seq:
        now += gap
        arr = _action(*act)
        got = risk.admit(arr[0], a_rk, a_expo, BID, ASK, now)
        assert got == ref_admit(arr[0], b_rk, b_expo, BID, ASK, now)
        assert a_expo.tobytes() == b_expo.tobytes()
        for name in ("killed", "open_orders", "rate_last_ns"):
            assert a_rk.state[name][0] == b_rk.state[name][0], name
        # the bucket levels are floats summed in another order by the reference: equal to rounding
        np.testing.assert_allclose(a_rk.state["rate_level"], b_rk.state["rate_level"], rtol=1e-12)
        np.testing.assert_allclose(a_rk.credit["level"], b_rk.credit["level"], rtol=1e-12)


def test_rate_and_credit_limits_bind_at_their_configured_rates():
    """A burst of small orders: the local order rate (10/s, burst 10) and the credit bucket (burst 5, 20/s)
    refuse what exceeds them, and the same actions pass again once the buckets refilled."""
    rk, expo = _fresh()
    cfg = RiskConfig(max_order_amount=50, max_position=10_000, max_open_orders=1000, price_band_bps=50,
                     max_orders_per_s=10)
    rk = risk.RiskState(risk.new_limits(cfg, [LOT]), risk.new_state(cfg, 0), rk.credit)
    buy = _action(ACT_NEW, SIDE_BUY, OT_LIMIT, 100_001, 1)[0]
    verdicts = [risk.admit(buy, rk, expo, BID, ASK, 0) for _ in range(12)]
    assert verdicts == [RISK_OK] * 5 + [RISK_CREDITS] * 5 + [RISK_RATE] * 2  # credits first: burst 5
    # 0.25 s later: 2.5 rate tokens came back and 5 credits (20/s): two more pass, then the rate binds
    verdicts = [risk.admit(buy, rk, expo, BID, ASK, 250_000_000) for _ in range(4)]
    assert verdicts == [RISK_OK, RISK_OK, RISK_RATE, RISK_RATE]
    assert rk.state[0]["open_orders"] == 7 and expo[0]["live_buy"] == 7


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(actions, st.integers(0, 3), st.booleans(), gaps_ns), max_size=40))
def test_random_actions_never_breach(steps):
    """Admitted orders fill or cancel at random: position and open orders stay within the limits."""
    rk, expo = _fresh()
    table = om.new_order_table(64)
    now = 0
    for t, (act, pick, fill, gap) in enumerate(steps):
        now += gap
        arr = _action(*act)
        if risk.admit(arr[0], rk, expo, BID, ASK, now) == RISK_OK and act[0] == ACT_NEW:
            assert act[4] <= CFG.max_order_amount / LOT
            _set(table, t, side=act[1], state=ORD_OPEN, amount=act[4])
        live = np.flatnonzero(table["state"] == ORD_OPEN)
        if len(live):  # one live order fills completely or is cancelled
            o = table[live[pick % len(live)]]
            if fill:
                expo[0]["position"] += (1 if o["side"] == SIDE_BUY else -1) * o["amount"]
            o["state"] = ORD_FILLED if fill else ORD_CANCELLED
        risk.recompute_exposure(table, rk.state, expo)
        assert abs(expo[0]["position"]) <= CFG.max_position / LOT
        assert rk.state[0]["open_orders"] <= CFG.max_open_orders


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 1), st.sampled_from([SIDE_BUY, SIDE_SELL]),
                          st.integers(0, 5), st.integers(0, 5)), max_size=20))
def test_recompute_exposure_kernel_equals_reference(rows):
    table = om.new_order_table(32)
    for i, (state, inst, side, amount, filled) in enumerate(rows):
        _set(table, i, state=state, inst=inst, side=side, amount=amount, filled=filled)
    a_r, a_e = risk.new_state(CFG, 0), np.zeros(2, EXPOSURE_DTYPE)
    b_r, b_e = risk.new_state(CFG, 0), np.zeros(2, EXPOSURE_DTYPE)
    risk.recompute_exposure(table, a_r, a_e)
    ref_recompute_exposure(table, b_r, b_e)
    assert a_r.tobytes() == b_r.tobytes() and a_e.tobytes() == b_e.tobytes()


def test_each_limit_has_its_verdict():
    rk, expo = _fresh()
    check = lambda *a: risk.admit(_action(*a)[0], rk, expo, BID, ASK, 1)  # noqa: E731
    assert check(ACT_NEW, SIDE_BUY, OT_LIMIT, 100_000, 6) == RISK_MAX_AMOUNT
    assert check(ACT_NEW, SIDE_BUY, OT_LIMIT, 98_000, 1) == RISK_PRICE_BAND
    expo[0]["position"] = 9
    assert check(ACT_NEW, SIDE_BUY, OT_LIMIT, 100_000, 2) == RISK_MAX_POSITION
    assert check(ACT_NEW, SIDE_SELL, OT_LIMIT, 100_000, 2) == RISK_OK
    for _ in range(2):
        assert check(ACT_NEW, SIDE_SELL, OT_MARKET, 0, 1) == RISK_OK
    assert check(ACT_NEW, SIDE_SELL, OT_MARKET, 0, 1) == RISK_MAX_OPEN
    risk.kill(rk.state)
    assert check(ACT_NEW, SIDE_SELL, OT_LIMIT, 100_000, 1) == RISK_KILLED
    assert check(ACT_CANCEL, 0, 0, 0, 0) == RISK_OK  # cancels still pass


def test_credit_budget_mirrors_deribit_defaults():
    buckets = credits.new_budget(CreditConfig(), 0)
    assert sum(credits.take(buckets, credits.NON_MATCHING, 0) for _ in range(120)) == 100  # burst 100
    assert credits.wait_ns(buckets, credits.NON_MATCHING, 0) == 50_000_001  # 500 credits at 10k/s
    assert credits.take(buckets, credits.NON_MATCHING, 50_000_001)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 10**8)), max_size=40))
def test_credit_kernel_equals_reference(steps):
    a = credits.new_budget(CreditConfig(matching_burst=5, non_matching_max=2000), 0)
    b = a.copy()
    now = 0
    for cls, dt in steps:
        now += dt
        assert credits.take(a, cls, now) == ref_credit_take(b, cls, now)
        np.testing.assert_allclose(a["level"], b["level"], rtol=1e-12)
        assert (a["last_ns"] == b["last_ns"]).all()
