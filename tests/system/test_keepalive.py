"""Keep-alive against the real simulator: test_request answered, so a quiet session stays up (the simulator
closes a connection whose test_request goes unanswered for one interval), and tokens refreshed before expiry."""
from __future__ import annotations

import pytest
from engine_sys import engine_run, position_answers

from tickwire.deribit.venue import start_sim

# the first engine in a process compiles the compiled path (minutes on a cold numba cache)
pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]


def test_quiet_session_answers_test_request_and_stays_up():
    seen: dict = {}

    def second_test_request(engine, session) -> bool:
        seen["session"] = session
        return session.test_requests >= 2

    with start_sim(("BTC-PERPETUAL",), rate=0.0) as venue:
        # no traffic of ours (position poll once a minute, idle strategy): the simulator sends test_request after
        # 10 s of silence and closes the connection 10 s later unless we answered it. A second test_request on
        # the same connection means the first answer kept it up.
        result = engine_run(venue, until=second_test_request, strategy="engine_sys:Idle",
                            position_poll_ms=60_000, session={"heartbeat_s": 10})
    assert seen["session"].test_requests >= 2
    assert result.counters["reconnects"] == 0


def test_token_is_refreshed_before_it_expires():
    seen: dict = {}

    def refreshed_and_working(engine, session) -> bool:
        seen["session"] = session
        return session.refreshes >= 2 and position_answers(engine) > 20

    with start_sim(("BTC-PERPETUAL",), rate=0.0, extra=("--token-ttl", "2")) as venue:
        result = engine_run(venue, until=refreshed_and_working, strategy="engine_sys:Idle")
    assert seen["session"].refreshes >= 2  # 2 s tokens refreshed at 80 % of their life
    assert result.counters["reconnects"] == 0 and result.latency[2].count > 20  # private calls kept working
