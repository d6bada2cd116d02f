"""Synthetic market participants: a mid-price random walk with Poisson-timed limit orders, cancels and takers.

Each event changes the book (one book message on ``book.{i}.raw``): a limit order near the mid, a cancel of a
random resting synthetic order, or (rarely) a marketable order that trades. Arrivals are a Poisson process of
``rate`` events per second per instrument (exponential gaps, the instrument of each arrival drawn uniformly);
the timer runs every arrival that is due. The sequence of events is deterministic for a seed; only how many
have happened by a given moment depends on the clock.
"""
from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

import numpy as np

from tickwire.sim.exchange import Exchange
from tickwire.sim.matching import BUY, SELL

TAKER_SHARE = 0.04    # share of events that are marketable orders
CANCEL_SHARE = 0.44   # share of events that cancel (more when the book is over-full)
MOVE_SHARE = 0.03     # share of events preceded by a one-tick mid move
MAX_CATCH_UP_S = 0.1  # after a stall, do at most this much backlog at once
_DRAWS = 4096         # uniforms drawn per refill (numpy, then plain floats: cheap to index)


class _Participants:
    """The synthetic order flow of one instrument."""

    def __init__(self, exchange: Exchange, name: str, seed: int, depth: int) -> None:
        self.exchange = exchange
        self.name = name
        self.gen = np.random.Generator(np.random.PCG64(seed))
        self.rows: list[list[float]] = []
        self.i = 0
        self.depth = depth
        st = exchange.states[name]
        self.st = st
        self.inst = st.inst
        self.mid = max(depth + 2, round(st.inst.reference_price / st.inst.tick_size))
        self.max_lots = 50 if st.inst.kind == "future" else 20
        self.resting: list[int] = []

    def _row(self) -> list[float]:
        if self.i >= len(self.rows):
            self.rows = self.gen.random((_DRAWS, 6)).tolist()
            self.i = 0
        row = self.rows[self.i]
        self.i += 1
        return row

    def seed(self) -> None:
        """Fill ``depth`` levels per side around the mid (happens before anyone can subscribe)."""
        for k in range(1, self.depth + 1):
            for side in (BUY, SELL):
                self._add(side, k, self._row()[5])
        self._set_mark()

    def _set_mark(self) -> None:
        self.st.set_mark(self.mid * self.inst.tick_size)

    def _add(self, side: int, offset: int, u: float) -> None:
        price = max(1, self.mid - side * offset)
        order = self.exchange.flow_submit(self.name, side, 1 + int(u * self.max_lots), price)
        if order.state == "open":
            self.resting.append(order.oid)

    def step(self) -> None:
        """One event (always a book change)."""
        move, up, kind, side_u, x, size = self._row()
        if move < MOVE_SHARE:
            self.mid = max(self.depth + 2, self.mid + (1 if up < 0.5 else -1))
            self._set_mark()
        side = BUY if side_u < 0.5 else SELL
        if kind < TAKER_SHARE and self.st.book.best(-side) is not None:
            self.exchange.flow_submit(self.name, side, 1 + int(size * self.max_lots), None, "immediate_or_cancel")
            return
        resting = self.resting
        if resting and (len(resting) > 3 * self.depth or kind < TAKER_SHARE + CANCEL_SHARE):
            while resting:
                i = int(x * len(resting))
                resting[i], resting[-1] = resting[-1], resting[i]
                if self.exchange.flow_cancel(self.name, resting.pop()):
                    return
        offset = 1 + min(self.depth - 1, int(-math.log(1.0 - x) * 4.0))  # exponential, mean 4 ticks
        self._add(side, offset, size)


class MarketFlow:
    """Drives every instrument's participants: Poisson arrivals at ``rate`` events per second each."""

    def __init__(self, exchange: Exchange, rate: float, seed: int, depth: int = 20,
                 batched: Callable[[Callable[[], None]], Callable[[], None]] | None = None) -> None:
        self.rate = rate
        self.parts = [_Participants(exchange, name, seed * 1000 + i, depth) for i, name in enumerate(exchange.states)]
        self.events = 0
        self.skipped = 0  # arrivals given up after stalls, estimated from the backlog (a sign of saturation)
        self._arrivals = np.random.Generator(np.random.PCG64(seed * 1000 + 999))
        self._gaps: list[float] = []
        self._picks: list[int] = []
        self._next = 0.0   # time of the next arrival, seconds after start
        self._pick = 0     # the instrument of that arrival
        self._handle: asyncio.TimerHandle | None = None
        self._t0 = 0.0
        self._tick_fn = batched(self._tick) if batched is not None else self._tick

    def seed_books(self) -> None:
        for part in self.parts:
            part.seed()

    def run_events(self, n: int) -> None:
        """``n`` events on every instrument, now (benchmarks and tests)."""
        parts = self.parts
        for _ in range(n):
            for part in parts:
                part.step()
        self.events += n * len(parts)

    def start(self) -> None:
        """Schedule the flow on the running loop (nothing when rate is 0)."""
        if self.rate <= 0:
            return
        self._t0 = time.monotonic()
        self._next = self._gap()
        self._schedule()

    def _gap(self) -> float:
        """The next exponential inter-arrival time of the merged process (all instruments)."""
        if not self._gaps:
            total = self.rate * len(self.parts)
            self._gaps = self._arrivals.exponential(1.0 / total, _DRAWS).tolist()
            self._picks = self._arrivals.integers(0, len(self.parts), _DRAWS).tolist()
        self._pick = self._picks.pop()
        return self._gaps.pop()

    def _schedule(self) -> None:
        period = 0.01 if self.rate <= 2000 else 0.001
        self._handle = asyncio.get_running_loop().call_later(period, self._tick_fn)

    def _tick(self) -> None:
        now = time.monotonic() - self._t0
        behind = now - self._next - MAX_CATCH_UP_S
        if behind > 0:  # fell behind (stall or saturation): give up the backlog instead of bursting
            # in O(1): skipping arrival by arrival burnt a fifth of a saturated simulator's CPU
            self.skipped += int(behind * self.rate * len(self.parts))
            self._next = now - MAX_CATCH_UP_S
        parts = self.parts
        events = 0
        while self._next <= now:
            parts[self._pick].step()
            events += 1
            self._next += self._gap()
        self.events += events
        self._schedule()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
