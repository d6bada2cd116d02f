"""Helpers of the engine system tests (imported as a plain module: tests/ has no packages)."""
from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request
from typing import Any

from tickwire.config import load
from tickwire.engine.run import RunResult, run_async
from tickwire.engine.strategy import Strategy
from tickwire.deribit.venue import Venue


def engine_run(venue: Venue, on_ready: Any = None, **overrides: Any) -> RunResult:
    """One engine run against ``venue`` (duration and strategy from ``overrides``), bounded in time."""
    cfg = load(None, {"duration_s": 4.0, **overrides})
    return asyncio.run(asyncio.wait_for(run_async(cfg, venue, on_ready=on_ready), cfg.duration_s + 90))


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


async def wait_until(predicate: Any, timeout_s: float = 10.0, step_s: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout_s`` passes (bounded)."""
    for _ in range(int(timeout_s / step_s)):
        if predicate():
            return True
        await asyncio.sleep(step_s)
    return bool(predicate())


def book_levels(engine: Any, inst: int, side: int) -> list[list[float]]:
    """The engine's book side as Deribit [price, amount] pairs, best first."""
    i = engine.inst[inst]
    return [[p * i.tick_size, q * i.lot_size] for p, q in engine.books.levels(inst, side)]
