"""The "after" client of the seed benchmark: the tickwire engine (compiled path, latency socket profile, pinned)
under the seed's load, measured without a sample cap.

Orders come from the shared open-loop ticker (tickwire.bench.load) and go through ``Engine.submit``: the same
risk check, credit budget, encoder and direct send as any strategy. An order's latency is its lateness at
submit (scheduled -> submitted, CLOCK_MONOTONIC) plus send -> first answer (the engine's TSC stamps). The engine's
probe rings are drained every ``DRAIN_EVERY_S`` into streaming histograms; book messages applied are joined with
the simulator's send times every ``send_times_every_s``. The engine logs each pass's stage stamps through the
binary log (tickwire.engine.binlog: a ring drained and formatted by a writer process).
"""
from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import numpy as np

from tickwire.bench.gcpause import GcPauses
from tickwire.bench.load import (
    LIMIT_BUY, LIMIT_OFFSET_TICKS, LIMIT_SELL, MARKET_BUY, ClientOutcome, LastTouch, LoadSpec, OpenLoopTicker,
    market_instrument, order_kind,
)
from tickwire.clock import monotonic_ns, tsc_hz
from tickwire.config import CreditConfig, EngineConfig, RiskConfig, SessionConfig
from tickwire.deribit.session import Credentials, DeribitSession, SessionClosed, VenueError
from tickwire.deribit.venue import Venue
from tickwire.engine.binlog import BinLogWriter
from tickwire.engine.engine import Engine
from tickwire.engine.hotpath import no_strategy
from tickwire.types import RTT_ORDER, RTT_POSITION
from tickwire.engine.run import run_async
from tickwire.engine.strategy import NumbaStrategy, buy, market, sell
from tickwire.types import SIDE_BUY, SIDE_SELL, TIF_IOC

DRAIN_EVERY_S = 0.2


class Idle(NumbaStrategy):
    """Decides nothing on book updates: the benchmark's ticker places the orders."""

    kernel = no_strategy


def engine_config(spec: LoadSpec) -> EngineConfig:
    """The engine at the seed's load: credits mirroring the simulator's "mm" tier, risk limits above the load."""
    return EngineConfig(
        instruments=spec.instruments, strategy="tickwire.bench.client_after:Idle",
        duration_s=spec.duration_s + spec.drain_s + 30.0, position_poll_ms=spec.poll_ms,
        session=SessionConfig(book_interval="raw", socket_profile="latency"),
        # limits above what the load can reach even while answers are seconds late: max_position is in the
        # instrument's currency (1000 USD was 100 lots of BTC-PERPETUAL, reached by the pending one-lot limit
        # orders of a stall, then refusing most of the load and firing the kill switch); open orders up to the
        # order table's 1024 slots
        risk=RiskConfig(max_orders_per_s=spec.order_rate * 2, max_open_orders=1000, max_position=1e7),
        credits=CreditConfig(matching_rate_per_s=2000.0, matching_burst=4000, non_matching_refill_per_s=50_000,
                             non_matching_max=250_000))


class _Meter:
    """Drains the engine's probe rings into the outcome (no sample is dropped: the rings are read well before
    they wrap)."""

    def __init__(self, engine: Engine, out: ClientOutcome, t0_ns: int) -> None:
        self.engine, self.out, self.t0_ns = engine, out, t0_ns
        self.ns_per_tick = 1e9 / tsc_hz()
        self.lateness: dict[int, int] = {}  # sent_tsc -> scheduled -> submitted ns
        self.seen = {"order": 0, "position": 0, "md": 0}
        self.md_pending: list[tuple[int, int, int]] = []

    def _new(self, kind: str) -> np.ndarray:
        p = self.engine.probes
        counts = p.count[0]
        count = int(counts["md"] if kind == "md" else counts["rtt"][RTT_ORDER if kind == "order" else RTT_POSITION])
        start = self.seen[kind]
        if count - start > p.capacity:
            self.out.count(f"probe_overwritten_{kind}", count - start - p.capacity)
            start = count - p.capacity
        self.seen[kind] = count
        idx = np.arange(start, count) % p.capacity
        return p.md[idx] if kind == "md" else p.rtt[RTT_ORDER if kind == "order" else RTT_POSITION, idx]

    def drain(self) -> None:
        at = (monotonic_ns() - self.t0_ns) / 1e9
        orders = []
        for start, end in self._new("order"):
            late = self.lateness.pop(int(start), None)
            if late is None:
                self.out.count("answers_unmatched")
                continue
            orders.append(late + (int(end) - int(start)) * self.ns_per_tick)
        self.out.count("orders_answered", len(orders))
        self.out.latency["Order Placement"].add(orders, at)
        pos = self._new("position")
        ok = (pos[:, 1] > pos[:, 0]) & (pos[:, 0] > 0)
        self.out.latency["Position Query"].add((pos[ok, 1] - pos[ok, 0]) * self.ns_per_tick, at)
        md = self._new("md")
        self.md_pending.extend(zip(md["inst"].tolist(), md["change_id"].tolist(), md["applied_ns"].tolist()))

    async def join_md(self, session: DeribitSession) -> None:
        """sim send -> applied for the book messages applied since the last join."""
        pending, self.md_pending = self.md_pending, []
        at = (monotonic_ns() - self.t0_ns) / 1e9
        for k, name in enumerate(self.engine.instruments):
            mine = [(c, t) for i, c, t in pending if i == k]
            if not mine:
                continue
            sent = await session.request("sim/get_send_times", {"channel": f"book.{name}.raw",
                                                                "since": min(c for c, _ in mine) - 1, "ids": [],
                                                                "count": 1_000_000}, timeout_s=30.0)
            table = {int(c): int(ns) for c, ns in (sent or {}).get("book", [])}
            lat = [t - table[c] for c, t in mine if c in table and t >= table[c]]
            self.out.count("md_unjoined", len(mine) - len(lat))
            self.out.latency["Market Data"].add(lat, at)


def _action(k: int, bid: int, ask: int, n_inst: int):
    kind = order_kind(k)
    if kind == LIMIT_BUY:
        return buy(0, bid - LIMIT_OFFSET_TICKS, 1, tif=TIF_IOC)
    if kind == LIMIT_SELL:
        return sell(0, ask + LIMIT_OFFSET_TICKS, 1, tif=TIF_IOC)
    return market(market_instrument(k, n_inst), SIDE_BUY if kind == MARKET_BUY else SIDE_SELL, 1)


async def run_after(spec: LoadSpec, creds: Credentials) -> ClientOutcome:
    """Run the engine under the load for ``spec.duration_s``; returns what it measured."""
    if spec.cpu >= 0:
        os.sched_setaffinity(0, {spec.cpu})
    out = ClientOutcome()
    stop = asyncio.Event()
    tasks: list[asyncio.Task] = []

    async def on_ready(engine: Engine, session: DeribitSession) -> None:
        tasks.append(asyncio.get_running_loop().create_task(_drive(engine, session, spec, out, stop)))

    venue = Venue(spec.url, spec.http, creds, True)
    with tempfile.TemporaryDirectory(prefix="tickwire-binlog-") as tmp:
        binlog = BinLogWriter(Path(tmp) / "engine.log")

        engines: list[Engine] = []

        async def attach_binlog(engine: Engine, session: DeribitSession) -> None:
            engine.binlog = binlog
            engines.append(engine)
            await on_ready(engine, session)

        try:
            result = await run_async(engine_config(spec), venue, stop, attach_binlog)
        finally:
            for t in tasks:
                if not t.done():
                    t.cancel()
                await asyncio.gather(t, return_exceptions=True)
            for engine in engines:
                engine.binlog = None  # the ring goes with close()
            binlog.close()
        out.counters["binlog_dropped"] = binlog.dropped()
        out.counters["binlog_bytes"] = (Path(tmp) / "engine.log").stat().st_size
    out.counters.update({f"engine_{k}": v for k, v in result.counters.items()})
    out.counters["open_orders_left"] = result.open_orders_left
    out.counters["kills"] = len(result.kill_reasons)
    return out


async def _drive(engine: Engine, session: DeribitSession, spec: LoadSpec, out: ClientOutcome,
                 stop: asyncio.Event) -> None:
    t0 = monotonic_ns()
    meter = _Meter(engine, out, t0)
    mask = engine.orders.shape[0] - 1
    touch = LastTouch()

    def fire(k: int, scheduled_ns: int) -> None:
        out.count("orders_scheduled")
        top = touch.price_from(int(engine.bid[0]), int(engine.ask[0]))
        if top is None:
            out.count("orders_skipped_no_book")
            return
        seq = int(engine.op.ids[0])
        late = monotonic_ns() - scheduled_ns
        engine.submit([_action(k, int(top[0]), int(top[1]), len(engine.instruments))])
        if int(engine.op.ids[0]) == seq:
            out.count("orders_refused_locally")  # risk, credit budget or a full order table said no (counted)
            return
        out.count("orders_sent")
        meter.lateness[int(engine.orders[int(engine.op.ids[2]) & mask]["sent_tsc"])] = late  # ids[2]: its cid

    ticker = OpenLoopTicker(asyncio.get_running_loop(), spec.order_rate, spec.duration_s, fire)
    pauses = GcPauses()  # the engine runs with automatic collection off (GcSafePoints): its safe points show
    pauses.install()
    ticker.start()
    spec.mark_ready()
    next_join = t0 + int(spec.send_times_every_s * 1e9)
    try:
        while ticker.running() or (meter.lateness and monotonic_ns() < t0 + (spec.duration_s +
                                                                                  spec.drain_s) * 1e9):
            await asyncio.sleep(DRAIN_EVERY_S)
            meter.drain()
            if not ticker.running():
                spec.mark_done()
            if monotonic_ns() >= next_join:
                next_join += int(spec.send_times_every_s * 1e9)
                await _join(meter, session, out)
        meter.drain()
        await _join(meter, session, out)
        out.count("orders_lost", len(meter.lateness))  # sent, never answered
        out.count("orders_priced_from_last_touch", touch.stale)
    finally:
        pauses.remove()
        out.counters.update(pauses.counters())
        ticker.stop()
        stop.set()


async def _join(meter: _Meter, session: DeribitSession, out: ClientOutcome) -> None:
    try:
        await meter.join_md(session)
    except (VenueError, SessionClosed, asyncio.TimeoutError) as exc:
        out.count(f"send_times_failed_{type(exc).__name__}")
