"""`tickwire run`: start the venue, run the engine with a strategy for a duration, return the figures.

Market Data latency joins the book messages we applied (change_id, CLOCK_REALTIME at apply) with the
simulator's own send time of each change_id (``sim/get_send_times``, same host clock). Order Placement is
send -> answer, Position Query is private/get_positions request -> answer, both by the TSC.

The engine pins itself to its own CPU, the simulator to the others, and locks its memory (engine.placement);
while it trades the GC collects only at the slow path's safe points. With ``capture`` the run is recorded on lo
(tcpdump, kernel timestamps) and the wire figures come from that capture (tickwire.md.wire).
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
import orjson

from tickwire.config import EngineConfig
from tickwire.deribit import venue as venues
from tickwire.deribit.auth import Credentials, auth_params
from tickwire.engine.engine import Engine, Instrument
from tickwire.engine.driver import choose_driver
from tickwire.engine.placement import GcSafePoints, place
from tickwire.engine.probes import RTT_ORDER, RTT_POSITION, Summary, stage_deltas_ns, summarize
from tickwire.deribit.session import DeribitSession, describe
from tickwire.engine.reconcile import VENUE_TROUBLE
from tickwire.engine.strategy import load_strategy
from tickwire.engine.warm import apply_cache_dir, measure_warm_up
from tickwire.types import (
    ST_BOOK, ST_DECODED, ST_ENCODED, ST_KERNEL_RX, ST_RECV, ST_RISK, ST_SENT, ST_STRATEGY,
)

log = logging.getLogger("tickwire.run")

LATENCY_ROWS = ("Order Placement", "Market Data", "Position Query")


class RunFailed(RuntimeError):
    """A background task of the run died (session loop, timers, an engine task): the run stops, loudly."""


@dataclass
class RunResult:
    """Everything a run measured: latency summaries, per-stage hot-path times, counters, positions."""

    latency: list[Summary]
    stages: list[Summary]
    counters: dict[str, int]
    positions: dict[str, dict[str, float]]
    venue_positions: dict[str, float]
    open_orders_left: int
    duration_s: float
    kill_reasons: list[str] = field(default_factory=list)
    books: dict[str, dict[str, Any]] = field(default_factory=dict)
    samples: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    driver: str = ""  # which driver ran the hot path, and where
    rtt_by_id: dict[str, dict[int, float]] = field(default_factory=dict, repr=False)  # "order"/"position"
    wire: list[Summary] = field(default_factory=list)  # from the run's capture (empty without one)
    wire_counts: dict[str, int] = field(default_factory=dict)
    wire_note: str = ""  # why there are no wire figures, or what limited them
    placement: dict[str, Any] = field(default_factory=dict)
    header: str = ""
    gc: dict[str, float] = field(default_factory=dict)
    live: dict[str, Any] = field(default_factory=dict)  # venue, url, account, scope, tls, limits
    warm_up: dict[str, Any] = field(default_factory=dict)  # seconds to a compiled pass, and from where (warm.WarmUp)

    def as_dict(self) -> dict[str, Any]:
        return {"header": self.header, "placement": self.placement,
                "latency_us": [s.as_dict() for s in self.latency], "hot_path_stages_us": [s.as_dict() for s in
                self.stages], "wire_us": [s.as_dict() for s in self.wire], "wire_counts": self.wire_counts,
                "wire_note": self.wire_note, "counters": self.counters, "positions": self.positions,
                "venue_positions": self.venue_positions, "open_orders_left": self.open_orders_left,
                "duration_s": round(self.duration_s, 3), "kill_reasons": self.kill_reasons, "driver": self.driver,
                "books": self.books, "gc": self.gc, "live": self.live,
                "warm_up": self.warm_up}


def label_prefix() -> str:
    """A label prefix unique to this run (client ids travel in Deribit's ``label``)."""
    n = int(time.time() * 1000) % 36**6
    digits = ""
    for _ in range(6):
        n, r = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + digits
    return f"tw{digits}-"


async def _md_latency(session: DeribitSession, engine: Engine) -> np.ndarray:
    """sim send -> book applied, ns, for every applied change_id the simulator still remembers."""
    md = engine.probes.md_samples()
    if md.shape[0] == 0:
        return np.zeros(0)
    out = []
    for k, name in enumerate(engine.instruments):
        mine = md[md["inst"] == k]
        if mine.shape[0] == 0:
            continue
        since = int(mine["change_id"].min()) - 1
        channel = f"book.{name}.{engine.cfg.session.book_interval}"
        sent = await session.request("sim/get_send_times", {"channel": channel, "since": since, "ids": [],
                                                            "count": 1_000_000}, timeout_s=30.0)  # book only
        table = dict((int(c), int(ns)) for c, ns in (sent or {}).get("book", []))
        for change_id, applied in zip(mine["change_id"], mine["applied_ns"]):
            t0 = table.get(int(change_id))
            if t0 is not None and applied >= t0:
                out.append(applied - t0)
    return np.asarray(out, dtype=np.float64)


async def run_async(cfg: EngineConfig, venue: venues.Venue, stop: asyncio.Event | None = None,
                    on_ready: Any = None, capture: bool = False, capture_cpus: list[int] | None = None,
                    network: Any = None) -> RunResult:
    """Run the engine against ``venue`` for ``cfg.duration_s`` (or until ``stop``); returns the figures. With
    ``capture`` the run is recorded on lo (the capture process on ``capture_cpus``) for the wire figures. With a
    ``network`` (a UtcpNetwork, ``--stack dpdk``) the session runs over the userspace stack on its port."""
    creds = Credentials.load(default=venue.creds)  # systemd credentials or TICKWIRE_CLIENT_* win over the sim's keys
    session_cfg = cfg.session
    if venue.cafile and not session_cfg.cafile:  # the certificate of the simulator we started with TLS
        session_cfg = msgspec.structs.replace(session_cfg, cafile=venue.cafile)
    live = live_header(cfg, venue, creds)
    print(f"tickwire run: {describe_live(live)}", file=sys.stderr, flush=True)
    infos = await asyncio.to_thread(venues.fetch_instruments, venue.http, cfg.instruments, 10.0, session_cfg.cafile)
    apply_cache_dir(cfg)
    started = time.monotonic()
    engine = Engine(cfg, [Instrument(i) for i in infos], load_strategy(cfg.strategy), label_prefix())
    await asyncio.to_thread(engine.warm_up)
    spin = await _spin_driver(cfg, venue, engine, network)
    warm_up = measure_warm_up(engine, started)
    recording = _start_capture(venue, capture_cpus) if capture else None
    try:
        with GcSafePoints() as gc_points:
            result = await _trade(cfg, venue, engine, stop, on_ready, gc_points, spin, creds, session_cfg, live,
                                  network)
    finally:
        wire = await asyncio.to_thread(recording.stop) if recording is not None else None
    result.gc = gc_points.as_dict()
    result.warm_up = warm_up.as_dict()
    if wire is not None:
        _add_wire_figures(result, wire)
    elif capture:
        result.wire_note = "no wire figures: recording lo needs tcpdump or CAP_NET_RAW"
    return result


async def _trade(cfg: EngineConfig, venue: venues.Venue, engine: Engine, stop: asyncio.Event | None,
                 on_ready: Any, gc_points: GcSafePoints, spin: Any, creds: Credentials, session_cfg: Any,
                 live: dict[str, Any], network: Any = None) -> RunResult:
    detach_md = _attach_multicast(engine, venue, cfg.md == "multicast-process") if engine.multicast else None
    stamper = (asyncio.get_running_loop().create_task(_send_time_stamper(venue.url, creds, engine,
                                                                         session_cfg.cafile))
               if detach_md is not None else None)
    session = DeribitSession(venue.url, creds, engine.channels(), engine, session_cfg, cfg.credits,
                             network.open if network is not None else None)
    engine.session = session
    stop = stop or asyncio.Event()
    runner = session.start()
    timers = asyncio.get_running_loop().create_task(engine.run_timers(), name="engine-timers")
    spinning = (asyncio.get_running_loop().create_task(spin.run(), name="spin-driver") if spin is not None
                else None)
    collector = asyncio.get_running_loop().create_task(_gc_safe_points(gc_points), name="gc-safe-points")
    t0 = time.monotonic()
    try:
        await session.wait_ready(cfg.session.ready_timeout_s)
        live.update(scope=session.scope, tls=session.transport.tls if session.transport is not None else "")
        if on_ready is not None:
            await on_ready(engine, session)
        supervised = (runner, timers) + ((spinning,) if spinning is not None else ())
        await _supervise(engine, stop, supervised, cfg.duration_s)
        elapsed = time.monotonic() - t0
        left = await engine.shutdown()
        md = np.zeros(0)
        venue_pos: dict[str, float] = {}
        try:
            if venue.is_sim:
                md = await _md_latency(session, engine)
            for ccy in sorted({i.currency for i in engine.inst}):
                for p in await session.request("private/get_positions", {"currency": ccy, "kind": "future"}) or []:
                    if p.get("instrument_name") in engine.index:
                        venue_pos[p["instrument_name"]] = float(p.get("size", 0.0))
        except VENUE_TROUBLE as exc:
            log.warning("after-run queries failed: %s", describe(exc))
    finally:
        timers.cancel()
        if spinning is not None:
            spinning.cancel()
        collector.cancel()
        await session.stop()
        if detach_md is not None:
            detach_md()
        if stamper is not None:
            stamper.cancel()
            await asyncio.gather(stamper, return_exceptions=True)
    result = _result(engine, md, venue_pos, left, elapsed)
    result.driver = spin.describe() if spin is not None else engine_driver_note(cfg, venue)
    result.counters["token_refreshes"] = session.refreshes
    if network is not None:  # retransmissions, out-of-order, duplicates, resets of the userspace stack
        result.counters.update({f"utcp_{name}": n for name, n in network.counters().items()})
    result.live = live
    return result


async def _spin_driver(cfg: EngineConfig, venue: venues.Venue, engine: Engine, network: Any = None) -> Any:
    """The spin driver when it runs (compiled and warmed; over the userspace stack with a ``network``), else
    None; says which driver runs and why."""
    note = engine_driver_note(cfg, venue)
    if not note.startswith("spin"):
        (log.warning if cfg.driver == "spin" else log.info)("hot path: %s", note)
        return None
    from tickwire.engine.spin import SpinDriver, arm_kill_flag

    spin = SpinDriver(engine, network=network)
    await asyncio.to_thread(spin.warm_up)
    if not arm_kill_flag():
        log.warning("spin driver: SIGUSR1 cannot reach the compiled loop; the kill switch acts between slices")
    log.info("hot path: %s", note)
    return spin


def engine_driver_note(cfg: EngineConfig, venue: venues.Venue) -> str:
    """"spin (why)" or "async (why)": the driver ``cfg.driver`` gives on this host and venue."""
    driver, why = choose_driver(cfg.driver)
    if driver == "spin" and venue.url.startswith("wss:"):
        driver, why = "async", "TLS: the spin driver reads the plaintext socket"
    return f"{driver} ({why})"


GC_SAFE_POINT_S = 1.0


async def _gc_safe_points(points: GcSafePoints) -> None:
    """The slow path's GC safe point: the young generation, once a second, between two reads (automatic
    collection is off while trading, see GcSafePoints)."""
    while True:
        await asyncio.sleep(GC_SAFE_POINT_S)
        points.collect()


def _start_capture(venue: venues.Venue, cpus: list[int] | None) -> Any:
    """A WireRecording of the venue's port on lo, or None (and a log line) when capturing is not allowed."""
    from urllib.parse import urlsplit

    from tickwire.md.record import RecordError
    from tickwire.md.wire import WireRecording

    try:
        return WireRecording(urlsplit(venue.url).port or 80, cpus)
    except RecordError as exc:
        log.warning("no wire figures: %s", exc)
        return None


def _add_wire_figures(result: RunResult, wire: Any) -> None:
    """The wire rows (tick-to-trade on the wire; venue part and ours of every round trip) of ``result``."""
    from tickwire.md.wire import wire_samples

    samples, counts = wire_samples(wire, result.rtt_by_id["order"], result.rtt_by_id["position"])
    result.wire = [summarize(name, ns) for name, ns in samples.items()]
    result.wire_counts = counts
    result.wire_note = wire.capture_error or ""


async def _supervise(engine: Engine, stop: asyncio.Event, tasks: tuple[asyncio.Task[Any], ...],
                     duration_s: float) -> None:
    """Until ``stop`` or ``duration_s``; raises RunFailed as soon as a background task dies (the session loop,
    the timers or the spin driver ending, or an engine task recording a failure): a run never ends 0 with a dead
    task."""
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(engine.failed.wait())]
    try:
        await asyncio.wait([*waiters, *tasks], timeout=duration_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
    for task in tasks:
        if task.done():
            cause = task.exception() if not task.cancelled() else None
            engine.kill("task died")
            raise RunFailed(f"background task {task.get_name()} ended: "
                            f"{describe(cause) if cause is not None else 'returned'}") from cause
    if engine.failure is not None:
        engine.kill("task died")
        raise RunFailed(f"an engine task died: {describe(engine.failure)}") from engine.failure


def live_header(cfg: EngineConfig, venue: venues.Venue, creds: Credentials) -> dict[str, Any]:
    """Which venue, account and limits this run trades with (the API key's id, never its secret)."""
    return {"venue": cfg.venue, "url": venue.url, "account": creds.client_id, "auth": cfg.session.auth,
            "scope": cfg.session.scope, "tls": "", "limits": msgspec.structs.asdict(cfg.risk)}


def describe_live(live: dict[str, Any]) -> str:
    """One line for the operator, e.g. ``LIVE MONEY venue deribit wss://... account AbC (client_signature)...``."""
    limits = ", ".join(f"{k}={v:g}" for k, v in live["limits"].items())
    money = "LIVE MONEY " if live["venue"] == "deribit" else ""
    return (f"{money}venue {live['venue']} {live['url']}, account {live['account']} ({live['auth']}"
            f"{', scope ' + live['scope'] if live['scope'] else ''}), risk limits: {limits}")


MCAST_CHANNELS = range(1, 22)  # Deribit's incremental channels: all joined, only the engine's instruments kept


def _attach_multicast(engine: Engine, venue: venues.Venue, own_process: bool = False) -> Any:
    """``--md multicast``: the simulator's SBE feed on loopback fills the engine's books and drives its hot pass
    (:meth:`Engine.on_md_events`); orders stay on the WebSocket session. Returns the function that detaches and
    closes it."""
    from tickwire.md.mcast_feed import McastMarketData
    from tickwire.netstack.mcast import ChannelMap

    if not venue.mcast_port:
        raise venues.VenueError("md = multicast: this venue publishes no multicast feed (start the simulator "
                                "with multicast)")
    port = venue.mcast_port
    if own_process:
        return _attach_feed_process(engine, port)
    feed = McastMarketData(ChannelMap(port_incremental=port, port_snapshot=port + 1), list(MCAST_CHANNELS),
                           table=engine.insts, books=engine.books)
    feed.feed.on_events = engine.on_md_events
    loop, src = asyncio.get_running_loop(), feed.source

    def on_readable() -> None:
        # one receive round per wake-up: McastMarketData.receive spins 64 idle rounds, a recv per joined socket
        # each (~2,700 syscalls with 42 sockets), which would add ~0.5 ms to every packet here
        n = src.poll(timeout_ms=0, spin_polls=1)
        if n:
            feed.feed.on_batch(src.buf, src.offsets, src.lengths, src.rx_ns, n)

    def close() -> None:
        for s in src.sockets:
            loop.remove_reader(s.fileno())
        feed.close()

    for s in src.sockets:
        loop.add_reader(s.fileno(), on_readable)
    return close


def _attach_feed_process(engine: Engine, port: int) -> Any:
    """``--md multicast-process``: the feed handler in its own process (on its own CPU when this process may use
    two), its book events through a shared-memory ring (tickwire.md.feed_process); its death fires the kill
    switch. Returns the function that detaches and stops it."""
    from tickwire.md.feed_process import FeedProcess, FeedReader

    allowed = sorted(os.sched_getaffinity(0))
    feed = FeedProcess((port, port + 1), list(MCAST_CHANNELS),
                       [(i.name, repr(i.tick_size), repr(i.lot_size)) for i in engine.inst],
                       cpu=allowed[-1] if len(allowed) > 1 else -1)
    reader = FeedReader(feed, engine.books, engine.on_md_events, engine.kill)
    reader.attach(asyncio.get_running_loop())

    def close() -> None:
        reader.detach()
        feed.close()

    return close


async def _send_time_stamper(url: str, creds: Credentials, engine: Engine, cafile: str) -> None:
    """With multicast market data the engine subscribes to no book channel, and the simulator stamps a book
    change's send time (``sim/get_send_times``) only when a WebSocket client takes it: this measurement-only
    client authenticates, subscribes to the engine's ``book.*`` channels and discards what it reads, off the hot
    path. The simulator stamps before writing to it and publishes the multicast packet after, so the Market Data
    figure includes that write (conservative for multicast)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import WebSocketException

    import ssl

    iv = engine.cfg.session.book_interval
    auth = {"jsonrpc": "2.0", "id": 1, "method": "public/auth", "params": auth_params(creds)}
    sub = {"jsonrpc": "2.0", "id": 2, "method": "private/subscribe",
           "params": {"channels": [f"book.{name}.{iv}" for name in engine.instruments]}}
    try:
        context = ssl.create_default_context(cafile=cafile or None) if url.startswith("wss:") else None
        async with connect(url, max_size=None, compression=None, ssl=context) as conn:
            await conn.send(orjson.dumps(auth).decode())
            answer = orjson.loads(await conn.recv())
            if "error" in answer:  # the venue's error object never holds the request's params
                log.warning("send-time stamper: public/auth refused (%s): no Market Data figures",
                            answer["error"].get("code"))
                return
            await conn.send(orjson.dumps(sub).decode())
            async for _ in conn:
                pass
    except (OSError, WebSocketException, orjson.JSONDecodeError) as exc:
        log.warning("send-time stamper stopped (%s): no Market Data figures after this", type(exc).__name__)


def _result(engine: Engine, md: np.ndarray, venue_pos: dict[str, float], left: int, elapsed: float) -> RunResult:
    p = engine.probes
    orders = p.rtt_samples_ns(RTT_ORDER)
    positions_q = p.rtt_samples_ns(RTT_POSITION)
    n = p.passes
    stage_pairs = (("kernel rx -> user read", ST_KERNEL_RX, ST_RECV),
                   ("recv -> decoded", ST_RECV, ST_DECODED), ("decoded -> book applied", ST_DECODED, ST_BOOK),
                   ("book -> strategy decided", ST_BOOK, ST_STRATEGY), ("strategy -> risk passed", ST_STRATEGY,
                   ST_RISK), ("risk -> encoded", ST_RISK, ST_ENCODED), ("encoded -> sent", ST_ENCODED, ST_SENT),
                   ("tick to trade (recv -> sent)", ST_RECV, ST_SENT),
                   ("tick to trade (kernel rx -> sent)", ST_KERNEL_RX, ST_SENT))
    stages = [summarize(name, stage_deltas_ns(p.stages, n, a, b)) for name, a, b in stage_pairs]
    return RunResult(
        latency=[summarize(LATENCY_ROWS[0], orders), summarize(LATENCY_ROWS[1], md),
                 summarize(LATENCY_ROWS[2], positions_q)],
        stages=stages, counters=engine.counter_dict(),
        positions={name: {"size": _round(pos.size), "average_price": _round(pos.average_price),
                          "realized_pnl": _round(pos.realized_pnl), "floating_pnl": _round(pos.floating_pnl(
                              _mid(engine, k))), "fees": _round(pos.fees), "fills": pos.fills}
                   for k, (name, pos) in enumerate(engine.positions.positions.items())},
        venue_positions={k: _round(v) for k, v in venue_pos.items()}, open_orders_left=left, duration_s=elapsed,
        kill_reasons=sorted(engine.kill_reasons - {"shutdown"}), books=_books(engine),
        samples={"order_ns": orders, "md_ns": md, "position_ns": positions_q,
                 "tick_to_trade_ns": stage_deltas_ns(p.stages, n, ST_RECV, ST_SENT)},
        rtt_by_id={"order": p.rtt_by_id_ns(RTT_ORDER), "position": p.rtt_by_id_ns(RTT_POSITION)})


def _round(x: float) -> float:
    """Sums of fills are binary floats (2999.6000000000004): 10 significant digits are all they carry."""
    return float(f"{x:.10g}")


def _books(engine: Engine) -> dict[str, dict[str, Any]]:
    """The final book of each instrument: top of book in price units, validity, chain and error counts."""
    out = {}
    for k, inst in enumerate(engine.inst):
        s = engine.books.summary(k)
        out[inst.name] = {
            "best_bid": _round(s["best_bid"] * inst.tick_size) if s["bids"] else None,
            "best_ask": _round(s["best_ask"] * inst.tick_size) if s["asks"] else None,
            "bid_levels": s["bids"], "ask_levels": s["asks"], "valid": bool(s["valid"]),
            "last_change_id": s["last_change_id"], "gaps": s["gaps"], "errors": s["errors"]}
    return out


def _mid(engine: Engine, k: int) -> float:
    b, a = int(engine.bid[k]), int(engine.ask[k])
    return (a + b) / 2 * engine.inst[k].tick_size if a > 0 and b > 0 else 0.0


def check_stack(cfg: EngineConfig) -> None:
    """ConfigError when ``--stack dpdk`` cannot work with these settings (before anything is started)."""
    from tickwire.config import ConfigError
    from tickwire.netstack.utcp_endpoint import check_stack as check_endpoint

    if cfg.stack != "dpdk":
        return
    if not cfg.url:
        raise ConfigError("--stack dpdk needs --url ws://A.B.C.D:PORT/ws/api/v2: a venue reached through the "
                          "DPDK port (the embedded simulator listens on loopback, which the port does not reach)")
    if cfg.md != "websocket":
        raise ConfigError("--stack dpdk carries the WebSocket session only: use --md websocket")
    try:
        check_endpoint(cfg.url, cfg.port_spec, cfg.stack_ip, cfg.stack_gw)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def open_network(cfg: EngineConfig) -> Any:
    """The userspace stack on its DPDK port for ``--stack dpdk`` (None for kernel TCP)."""
    if cfg.stack != "dpdk":
        return None
    from tickwire.deribit.transport import TransportError
    from tickwire.deribit.transport_utcp import UtcpNetwork
    from tickwire.netstack.dpdk import DpdkError, DpdkUnavailableError

    try:
        network = UtcpNetwork(cfg.port_spec, cfg.stack_ip, cfg.stack_gw)
    except (DpdkError, DpdkUnavailableError) as exc:
        raise TransportError(f"--stack dpdk: the port {cfg.port_spec} cannot be opened: {exc}") from None
    log.info("session transport: %s", network.describe)
    return network


def run(cfg: EngineConfig) -> RunResult:
    """Blocking `tickwire run`: starts the simulator for ``venue = "sim"`` (without ``url``), pins itself (and
    that simulator), locks memory; SIGUSR1 fires the kill switch, SIGINT/SIGTERM stop the run early (orders are
    cancelled either way). With ``stack = "dpdk"`` the session runs over the userspace stack on a DPDK port."""
    import uvloop

    check_stack(cfg)

    async def main() -> RunResult:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        holder: dict[str, Engine] = {}

        async def remember(engine: Engine, session: DeribitSession) -> None:
            holder["engine"] = engine

        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGUSR1, lambda: holder["engine"].kill("signal") if holder else None)
        if cfg.venue == "sim" and not cfg.url:
            venue = await asyncio.to_thread(venues.start_sim, cfg.instruments, float(cfg.sim_rate),
                                            multicast=cfg.md.startswith("multicast"), tls=cfg.sim_tls)
            if venue.process is not None:
                placement.pin_child(venue.process.pid)
        else:
            venue = venues.remote(cfg.venue, cfg.url)
        try:
            pid_file = _pid_file()
            pid_file.write_text(str(os.getpid()))
            return await run_async(cfg, venue, stop, remember, capture=capture,
                                   capture_cpus=placement.cpus.others if placement.pinned else None,
                                   network=network)
        finally:
            pid_file.unlink(missing_ok=True)
            await asyncio.to_thread(venue.close)

    placement = place(None if cfg.cpu < 0 else cfg.cpu, cfg.lock_memory, cfg.pin)
    capture = cfg.capture and cfg.venue == "sim" and cfg.stack == "kernel"  # the recording is of lo
    try:
        network = open_network(cfg)  # on this thread: the EAL's main lcore is the engine's thread
        try:
            result = uvloop.run(main())
        finally:
            if network is not None:
                network.close()
    finally:
        placement.restore()
    if cfg.capture and cfg.venue != "sim":
        result.wire_note = "no wire figures: the testnet session is TLS and not on lo"
    elif cfg.capture and cfg.stack == "dpdk":
        result.wire_note = "no wire figures: the session runs over the DPDK port, not lo"
    result.placement, result.header = placement.as_dict(), placement.header()
    return result


def _pid_file():
    """Where `tickwire run` leaves its pid for `tickwire kill` (TICKWIRE_RUNTIME_DIR, XDG_RUNTIME_DIR or /tmp)."""
    from pathlib import Path

    base = Path(os.environ.get("TICKWIRE_RUNTIME_DIR") or os.environ.get("XDG_RUNTIME_DIR") or "/tmp")
    return base / f"tickwire-engine-{os.getuid()}.pid"


def kill_running() -> int:
    """`tickwire kill`: fire the kill switch of the running engine (SIGUSR1); returns its pid."""
    path = _pid_file()
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        raise RuntimeError(f"no running engine (no pid file at {path})") from None
    try:
        os.kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        path.unlink(missing_ok=True)
        raise RuntimeError(f"no running engine (pid {pid} is gone)") from None
    return pid
