"""Helpers of the engine system tests (imported as a plain module: tests/ has no packages)."""
from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request
from typing import Any

from tickwire.config import load
from tickwire.engine.probes import RTT_POSITION
from tickwire.engine.run import RunResult, run_async
from tickwire.engine.strategy import Strategy
from tickwire.deribit.venue import Venue


# Start-up bound on top of the run itself: the first engine in a process compiles the compiled pass (minutes on a
# cold numba cache and a busy machine).
START_UP_S = 600.0


def engine_run(venue: Venue, on_ready: Any = None, until: Any = None, timeout_s: float = 120.0,
               **overrides: Any) -> RunResult:
    """One engine run against ``venue`` (strategy and config from ``overrides``), bounded in time.

    With ``until`` (a predicate ``until(engine, session)``, checked every 50 ms once ``on_ready`` returned) the run
    stops as soon as it holds, or after ``timeout_s``: the test then asserts what it waited for, so a slow machine
    makes the run longer, not the test fail. Without it the run lasts ``duration_s`` (default 4 s)."""
    if until is None:
        cfg = load(None, {"duration_s": 4.0, **overrides})
        return asyncio.run(asyncio.wait_for(run_async(cfg, venue, on_ready=on_ready), cfg.duration_s + START_UP_S))
    cfg = load(None, {**overrides, "duration_s": timeout_s})

    async def main() -> RunResult:
        stop = asyncio.Event()
        watchers: list[asyncio.Task[None]] = []

        async def watch(engine: Any, session: Any) -> None:
            while not until(engine, session):
                await asyncio.sleep(0.05)
            stop.set()

        async def ready(engine: Any, session: Any) -> None:
            if on_ready is not None:
                await on_ready(engine, session)
            watchers.append(asyncio.get_running_loop().create_task(watch(engine, session)))

        try:
            return await run_async(cfg, venue, stop, ready)
        finally:
            for task in watchers:
                task.cancel()

    return asyncio.run(asyncio.wait_for(main(), timeout_s + START_UP_S))


def counters(engine: Any) -> dict[str, int]:
    """The engine's live counters by name (what RunResult.counters holds after the run)."""
    return engine.counter_dict()


def position_answers(engine: Any) -> int:
    """private/get_positions round trips measured so far."""
    return len(engine.probes.rtt_samples_ns(RTT_POSITION))


def venue_call(venue: Venue, method: str, **params: Any) -> Any:
    """An independent HTTP JSON-RPC client (urllib + json, not the engine) for checking the venue's state."""
    def get(m: str, p: dict[str, Any], token: str | None = None) -> Any:
        req = urllib.request.Request(f"{venue.http}/{m}?{urllib.parse.urlencode(p)}")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback simulator
            return json.loads(resp.read())["result"]

    token = get("public/auth", {"grant_type": "client_credentials", "client_id": venue.creds.client_id,
                                "client_secret": venue.creds.client_secret})["access_token"]
    return get(method, params, token)


class Idle(Strategy):
    """A Python-tier strategy that never trades (the fault tests drive orders themselves)."""


async def wait_until(predicate: Any, timeout_s: float = 60.0, step_s: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout_s`` passes (bounded; generous: a busy machine is slow)."""
    for _ in range(int(timeout_s / step_s)):
        if predicate():
            return True
        await asyncio.sleep(step_s)
    return bool(predicate())


def book_levels(engine: Any, inst: int, side: int) -> list[list[float]]:
    """The engine's book side as Deribit [price, amount] pairs, best first."""
    i = engine.inst[inst]
    return [[p * i.tick_size, q * i.lot_size] for p, q in engine.books.levels(inst, side)]
