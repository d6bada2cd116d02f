"""The seed's load, shared by both clients of the before/after benchmark: what to send and when.

- :class:`OpenLoopTicker`: a thread that wakes at each scheduled time (``rate`` per second) and hands the
  scheduled time to the client's event loop. The schedule never waits for answers (open loop): when a client
  falls behind, due orders are sent late and their latency, measured from the scheduled time, says so (no
  coordinated omission). Both clients use this ticker, so they differ only in how they process an order.
- :func:`order_kind`: the order mix, in a cycle of ``MIX_CYCLE``: limit orders on alternating sides on the first
  instrument, immediate-or-cancel ``LIMIT_OFFSET_TICKS`` away from the touch (never fill, never rest), and one
  market buy and one market sell of one lot per cycle (5 %; the position stays flat) on the instrument
  :func:`market_instrument` names, each instrument in turn. Market orders take liquidity the simulator's
  synthetic flow must put back: at 100 book events/s over three instruments, 100 one-lot market orders/s on one
  instrument left a side of its touch empty 18 % of the time (the simulator's own flow, replayed in-process:
  0.1 % without our orders); 50/s spread over the three, 0.4 %. For those moments :class:`LastTouch` prices
  a limit order from the last two-sided touch instead of skipping it (every scheduled order is sent: a skipped
  order would be a hole in the schedule).
- :class:`LoadSpec`: rates, instruments and durations, and the JSON result both clients write.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from tickwire.bench.hdr import StreamingLatency

INSTRUMENTS = ("BTC-PERPETUAL", "ETH-PERPETUAL", "BTC-26MAR27")  # orders on the first, positions on all
LIMIT_OFFSET_TICKS = 10
LIMIT_BUY, MARKET_BUY, LIMIT_SELL, MARKET_SELL = range(4)
METRICS = ("Order Placement", "Market Data", "Position Query")


MIX_CYCLE = 40


def order_kind(k: int) -> int:
    """The kind of the k-th scheduled order: market buy at 19, market sell at 39 (of each cycle of 40), limit
    buy / limit sell alternating otherwise."""
    i = k % MIX_CYCLE
    if i == MIX_CYCLE // 2 - 1:
        return MARKET_BUY
    if i == MIX_CYCLE - 1:
        return MARKET_SELL
    return LIMIT_BUY if i % 2 == 0 else LIMIT_SELL


def market_instrument(k: int, n_inst: int) -> int:
    """The instrument (index) of the k-th scheduled order if it is a market order: one cycle's buy and sell on
    the same instrument, the cycles taking the instruments in turn."""
    return (k // MIX_CYCLE) % n_inst


class LastTouch:
    """The touch an order is priced from: the current one when both sides are there, else the last two-sided
    one seen (``stale`` counts the orders priced that way); None only before the book was ever two-sided."""

    def __init__(self) -> None:
        self.touch: tuple[float, float] | None = None
        self.stale = 0

    def price_from(self, bid: float, ask: float) -> tuple[float, float] | None:
        """``bid``/``ask`` as the book shows them now (0 or less: that side is empty)."""
        if bid > 0 and ask > 0:
            self.touch = (bid, ask)
        elif self.touch is not None:
            self.stale += 1
        return self.touch


@dataclass
class LoadSpec:
    """One client's share of the load (the parent passes it as JSON)."""

    url: str
    http: str
    duration_s: float
    order_rate: float = 1000.0
    poll_ms: int = 100
    cpu: int = -1
    instruments: tuple[str, ...] = INSTRUMENTS
    send_times_every_s: float = 5.0
    drain_s: float = 3.0
    ready_path: str = ""  # the client creates this file when its load starts, and ``<it>.done`` when it ends

    def mark_ready(self) -> None:
        """Say that the load starts now (compiles and connects are over)."""
        if self.ready_path:
            open(self.ready_path, "w").close()

    def mark_done(self) -> None:
        """Say that the load is over (what follows is draining and shutting down)."""
        if self.ready_path:
            open(self.ready_path + ".done", "w").close()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LoadSpec:
        d = dict(d)
        d["instruments"] = tuple(d["instruments"])
        return cls(**d)


@dataclass
class ClientOutcome:
    """What one client measured: streaming latencies and counters (orders scheduled/sent/answered/lost...)."""

    latency: dict[str, StreamingLatency] = field(default_factory=lambda: {m: StreamingLatency(m) for m in METRICS})
    counters: dict[str, int] = field(default_factory=dict)
    refusals: dict[str, int] = field(default_factory=dict)  # venue error code -> count

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def refused(self, code: int) -> None:
        self.refusals[str(code)] = self.refusals.get(str(code), 0) + 1

    def to_json(self) -> dict[str, Any]:
        for s in self.latency.values():
            s.finish()
        return {"latency": {m: {"hist": s.total.encode().decode(), "windows": s.windows}
                            for m, s in self.latency.items()},
                "counters": self.counters, "refusals": self.refusals}


def decode_hist(text: str) -> HdrHistogram:
    """The inverse of the ``hist`` field of :meth:`ClientOutcome.to_json`."""
    return HdrHistogram.decode(text.encode())


class OpenLoopTicker:
    """Calls ``fire(scheduled_ns)`` on ``loop`` at ``rate``/s from ``time.monotonic_ns`` start + k / rate, for
    ``duration_s`` (every due time exactly once, late ones as soon as possible)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, rate: float, duration_s: float,
                 fire: Callable[[int, int], None]) -> None:
        self.loop, self.rate, self.duration_s, self.fire = loop, rate, duration_s, fire
        self.scheduled = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="open-loop-ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        period_ns = int(1e9 / self.rate)
        start = time.monotonic_ns()
        total = int(self.duration_s * self.rate)
        k = 0
        while k < total and not self._stop.is_set():
            due = start + k * period_ns
            wait = due - time.monotonic_ns()
            if wait > 0:
                time.sleep(wait / 1e9)
            now = time.monotonic_ns()
            while k < total and start + k * period_ns <= now:
                self.loop.call_soon_threadsafe(self.fire, k, start + k * period_ns)
                k += 1
        self.scheduled = k
