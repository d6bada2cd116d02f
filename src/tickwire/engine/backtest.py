"""``tickwire backtest``: a capture replayed through the live engine's compiled pass against a venue model.

    result = Backtest(BacktestConfig("session.pcap", "tickwire.engine.strategies.market_maker:MarketMaker")).run()
    result.summary()     # PnL, fills, counts, fill ratio: the same for the same inputs

The capture's messages are decoded by the replay pipeline (tickwire.md.replay) in chunks of up to 64k events and
run, at their capture times, through the engine's ``replay_pass`` (tickwire.engine.hotpath): the same book code,
the same strategy kernel (or Python tier), the same risk check and the same request encoder as ``tickwire run``. The
framed requests go to :class:`~tickwire.engine.backtest_venue.VenueModel`, whose answers go back through the live
engine's slow path (order states, positions, inverse-perpetual PnL and fees). Local time is the capture clock:
kernel timers, the risk order-rate bucket and the credit mirror all run on it, so a run is deterministic.

With a numba strategy a chunk runs in one compiled loop (``backtest_pass`` in tickwire.engine.passes) against
the compiled venue model (tickwire.engine.backtest_exchange, its answers applied by
tickwire.engine.backtest_account): no message goes back to Python, however actively the strategy trades. The
result is the same as handing the pass one message at a time with the Python venue model
(``BacktestConfig.batch=False``, the reference the tests compare it with).

One instrument is traded per run (``instrument``; default: the first one with a book snapshot in the capture);
its tick and lot sizes come from the built-in table or from a ``public/get_instruments`` answer in the capture.

Two kinds of capture (``feed``): a Deribit WebSocket session (``tickwire record``: TCP -> WebSocket -> JSON,
decoded by the replay pipeline) and Deribit's multicast SBE feed (UDP to a multicast group, through the multicast
feed handler tickwire.md.mcast_feed, which writes the same events; its instrument messages give the tick and lot
sizes). ``auto`` takes whichever of the two first brings a book snapshot of the traded instrument.
"""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tickwire.config import load
from tickwire.engine import backtest_exchange as bx
from tickwire.engine.backtest_venue import Fill, Latency, VenueModel
from tickwire.engine.engine import Engine, Instrument
from tickwire.engine.strategy import Strategy, load_strategy, write_actions
from tickwire.deribit.instruments import InstrumentTable, is_inverse
from tickwire.md.book import book_top
from tickwire.md.mcast_feed import SbeUdpHandler
from tickwire.md.replay import PcapSource, Replay
from tickwire.types import (
    BOOK_NO_PRICE, C_CANCELS_SENT, C_ORDERS_SENT, C_REJECTS, C_RISK_REFUSED, COUNTER_NAMES, EV_BOOK, EV_TRADE,
    EVF_SNAPSHOT,
)


FEEDS = ("auto", "ws", "sbe")


class BacktestError(ValueError):
    """The capture or the configuration cannot be backtested (the message says why)."""


@dataclass(frozen=True)
class BacktestConfig:
    """What to run: a capture, a strategy (``pkg.mod:Name``) and the venue model's settings."""

    capture: str | Path
    strategy: str
    params: dict[str, float] = field(default_factory=dict)
    latency: str = "constant:1000"
    queue: str = "riskaverse"
    maker_fee: float = 0.0
    taker_fee: float = 0.0005
    # a crossing post-only order: "reprice" one tick inside the spread (Deribit's default) or "reject" (Deribit's
    # reject_post_only, other venues' GTX)
    post_only: str = "reprice"
    instrument: str | None = None
    feed: str = "auto"  # the capture's market data: "ws" (WebSocket session), "sbe" (multicast) or "auto"
    # numba strategies: run the capture in one compiled loop with the compiled venue model (False: one message per
    # call from Python with the Python venue model, the reference the compiled loop is tested against)
    batch: bool = True
    # the engine's risk section (tickwire.config.RiskConfig, USD); the rest of the engine config is the default
    risk: dict[str, float] = field(default_factory=lambda: {"max_order_amount": 1e9, "max_position": 1e9,
                                                            "price_band_bps": 10000.0})
    # the engine's credit mirror (tickwire.config.CreditConfig: Deribit's rate limits; default: tier 2)
    credits: dict[str, float] = field(default_factory=dict)
    # the engine's order table (a power of two; the live engine's default): a kernel that scans it every call
    # (the demo market maker does) runs faster on a smaller one; risk's max_open_orders bounds the live orders
    order_capacity: int = 1024


def pnl_model(instrument: str) -> str:
    """How the PnL fields were computed: the engine's positions are those of inverse contracts, so on a linear or
    spot instrument the fills, orders and lots are right but the PnL is not."""
    if is_inverse(instrument):
        return "inverse"
    return f"inverse formula on a linear/spot instrument ({instrument}): the PnL fields are not meaningful"


@dataclass
class BacktestResult:
    """What a run produced: counts, fills, PnL and the position/equity samples (one per fill and at the end)."""

    instrument: str
    messages: int = 0
    book_events: int = 0
    trades: int = 0
    gaps: int = 0
    orders: int = 0
    cancels: int = 0
    risk_refused: int = 0
    rejects: int = 0
    strategy_errors: int = 0
    fills: list[dict[str, Any]] = field(default_factory=list)
    position_lots: int = 0
    realized_pnl: float = 0.0
    floating_pnl: float = 0.0
    fees: float = 0.0
    curve: list[tuple[int, int, float]] = field(default_factory=list)  # (capture ns, position lots, equity)
    counters: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    run_s: float = 0.0  # of wall_s: in the engine and venue model (the rest: reading and decoding the capture)
    python_messages: int = 0  # messages handled one at a time in Python (the rest ran in the compiled loop)

    @property
    def pnl(self) -> float:
        """Realized + floating (at the last mid) - fees, settlement coin."""
        return self.realized_pnl + self.floating_pnl - self.fees

    def summary(self) -> dict[str, Any]:
        """The deterministic part of the result (everything but the wall time), for ``--json`` and tests."""
        fill_lots = sum(f["amount"] for f in self.fills)
        return {"instrument": self.instrument, "messages": self.messages, "book_events": self.book_events,
                "trades": self.trades, "gaps": self.gaps, "orders": self.orders, "cancels": self.cancels,
                "risk_refused": self.risk_refused, "rejects": self.rejects,
                "strategy_errors": self.strategy_errors, "fills": len(self.fills), "filled_lots": fill_lots,
                "fill_ratio": len(self.fills) / self.orders if self.orders else 0.0,
                "position_lots": self.position_lots, "realized_pnl": self.realized_pnl,
                "floating_pnl": self.floating_pnl, "fees": self.fees, "pnl": self.pnl,
                "pnl_model": pnl_model(self.instrument)}


class BacktestEngine(Engine):
    """The live engine with the venue model in place of a session: what it frames (Python-tier actions, the
    kill switch) is collected in ``outbox`` for the venue, risk runs on the replayed clock ``now_ns``, and the
    state queries the live engine would send after a refused cancel or edit are not needed (the model always
    answers with the order's state)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.now_ns = 0
        self.outbox = bytearray()
        self._admit = self.hot.entry("admit", 0, 0)

    def submit(self, actions: Any) -> int:
        n = write_actions(actions, self.act)
        if n == 0:
            return 0
        tx_len = self._admit(n, self.now_ns)
        self.outbox += self.op.tx[:tx_len].tobytes()
        return tx_len

    def _spawn(self, coro: Any) -> None:
        coro.close()


class Backtest:
    """One run of :class:`BacktestConfig` (see the module docstring)."""

    def __init__(self, cfg: BacktestConfig) -> None:
        self.cfg = cfg
        self.strategy_cls = load_strategy(cfg.strategy)
        self.latency = Latency.parse(cfg.latency)
        if cfg.post_only not in ("reprice", "reject"):
            raise BacktestError(f"post_only {cfg.post_only!r}: expected reprice or reject")
        if cfg.feed not in FEEDS:
            raise BacktestError(f"feed {cfg.feed!r}: expected one of {', '.join(FEEDS)}")
        self.sbe = SbeUdpHandler()
        self.sbe.feed.on_events = lambda events: self._on_events(events, "sbe", self.sbe.feed.table)
        self.replay = Replay(sink=lambda events: self._on_events(events, "ws", self.replay.table),
                             udp_handlers=(self.sbe,) if cfg.feed != "ws" else ())
        self.feed = ""  # the kind of market data traded on ("ws" / "sbe"), once chosen
        self.engine: BacktestEngine | None = None
        self.venue: VenueModel | None = None
        self.slot = -1  # the traded instrument's slot in the replay's instrument table
        self.result = BacktestResult(cfg.instrument or "")
        self._pass: Any = None
        self._py: Strategy | None = None
        self._batch: Any = None  # the compiled loop (numba strategies), see _batched
        self._exchange: bx.ExchangeState | None = None  # its venue model
        self.fills: list[Fill] = []  # our fills, from either venue model

    # --- setup on the first snapshot of the traded instrument ----------------------------------------------
    def _start(self, table: InstrumentTable, slot: int, first_ns: int) -> None:
        name = table.names[slot]
        tick, lot = float(table.tick_size(slot)), float(table.lot_size(slot))
        if not (tick > 0 and lot > 0):
            raise BacktestError(f"{name}: no tick/lot size (no get_instruments answer in the capture)")
        cfg = load(None, {"strategy_params": self.cfg.params, "risk": self.cfg.risk, "credits": self.cfg.credits})
        info = {"instrument_name": name, "tick_size": tick, "min_trade_amount": lot,
                "base_currency": name.split("-")[0]}
        e = BacktestEngine(cfg, [Instrument(info)], self.strategy_cls, "bt-", order_capacity=self.cfg.order_capacity)
        e.rstate[0]["rate_last_ns"] = first_ns  # the risk and credit clocks run on the capture clock
        e.cstate["last_ns"] = first_ns
        self.engine, self.slot, self.result.instrument = e, slot, name
        reject = self.cfg.post_only == "reject"
        self.venue = VenueModel(e.books, 0, name, tick, lot, self.latency, self.cfg.queue, self.cfg.maker_fee,
                                self.cfg.taker_fee, reject)
        self.fills = self.venue.fills
        self._pass = e.hot.entry("replay", e.events[:0], 0, 0)
        self._py = e.strategy if isinstance(e.strategy, Strategy) else None
        if self._py is None and self.cfg.batch:
            x = bx.new_exchange(tick, lot, self.cfg.maker_fee, self.cfg.taker_fee, self.cfg.queue == "prob", reject,
                                self.latency.entry_seq, self.latency.response_seq, e.orders.shape[0])
            self._exchange, self.fills = x, []
            self._batch = e.hot.entry("backtest", e.events[:0], np.zeros(1, np.int64), 0, 0, x)
            self._batch_finish = e.hot.entry("backtest_finish", x, 0)

    def _pick(self, events: np.ndarray, table: InstrumentTable) -> None:
        """Choose the traded instrument: the configured one, else the first with a book snapshot."""
        if self.cfg.instrument is not None:
            slot = table.slot(self.cfg.instrument)
            if slot < 0 or not (events["inst"] == slot).any():
                return
        else:
            snaps = events[(events["kind"] == EV_BOOK) & (events["flags"] & EVF_SNAPSHOT != 0)]
            if snaps.size == 0:
                return
            slot = int(snaps[0]["inst"])
        self._start(table, slot, int(events[events["inst"] == slot][0]["recv_ts"]))

    # --- the replay loop -----------------------------------------------------------------------------------
    def _on_events(self, events: np.ndarray, feed: str, table: InstrumentTable) -> None:
        """One decoded chunk of the capture (up to 64k events, in message order) from ``feed`` ("ws" / "sbe",
        instrument slots of ``table``): the traded instrument's messages, through the compiled loop where it can
        run, else one message at a time."""
        if self.cfg.feed not in ("auto", feed) or self.feed not in ("", feed):
            return
        if self.engine is None:
            self._pick(events, table)  # builds the engine and compiles its pass: not part of run_s
            if self.engine is None:
                return
            self.feed = feed
        t0 = time.perf_counter()
        try:
            self._chunk(events)
        finally:
            self.result.run_s += time.perf_counter() - t0

    def _chunk(self, events: np.ndarray) -> None:
        mine = events[events["inst"] == self.slot]
        if mine.size == 0:
            return
        mine["inst"] = 0
        starts = np.concatenate(([0], np.flatnonzero(np.diff(mine["msg"])) + 1, [mine.shape[0]]))
        r, kinds = self.result, mine["kind"]
        r.messages += starts.shape[0] - 1
        r.book_events += int((kinds == EV_BOOK).sum())
        r.trades += int((kinds == EV_TRADE).sum())
        if self._batch is not None:
            self._batched(mine, starts)
            return
        for i in range(starts.shape[0] - 1):
            self._message(mine[starts[i]:starts[i + 1]])
            r.python_messages += 1

    def _batched(self, mine: np.ndarray, starts: np.ndarray) -> None:
        """The chunk in the compiled loop, handing over only to take the venue model's fills."""
        i, n_msgs = 0, starts.shape[0] - 1
        while i < n_msgs:
            i = self._batch(mine, starts, n_msgs, i, self._exchange)
            self._take_fills()

    def _take_fills(self) -> None:
        """The compiled venue model's fills (as the Python model's), its fill buffer emptied for more."""
        x = self._exchange
        assert x is not None
        if x.ctl[bx.X_OVERFLOW]:
            raise BacktestError("backtest venue model: more requests, answers or fills in flight than it holds")
        n = int(x.ctl[bx.X_N_FILLS])
        self.fills += [Fill(int(f["ts_ns"]), f"BT-{int(f['oid'])}", int(f["side"]), int(f["price"]),
                            int(f["amount"]), bool(f["maker"])) for f in x.fills[:n]]
        x.ctl[bx.X_N_FILLS] = 0

    def _message(self, msg: np.ndarray) -> None:
        """One replayed message in Python: answers and timers due by its capture time, requests reaching the
        venue by its exchange time, the pass, then the venue's queues and fills."""
        e, venue = self.engine, self.venue
        assert e is not None and venue is not None
        now, venue_ns = int(msg[0]["recv_ts"]), int(msg[-1]["exch_ts"])
        self._deliver(now)
        self._timers(now)
        venue.arrive_until(venue_ns)
        _, tx_len = self._pass(msg, msg.shape[0], now)
        e.now_ns = now
        if tx_len:
            venue.submit(e.op.tx[:tx_len].tobytes(), now)
        if self._py is not None:
            self._python_tier(msg, now)
        venue.on_market(msg, venue_ns)

    def _python_tier(self, msg: np.ndarray, now: int) -> None:
        """The Python tier's callbacks for this message (the engine's own dispatch), then its actions."""
        e = self.engine
        assert e is not None
        try:
            e._market_events(msg)
            if e.touched.any():
                e._after_books()
        except Exception:  # noqa: BLE001 - a user strategy's error is counted and reported, not fatal
            self.result.strategy_errors += 1
            e.touched[:] = 0
        self._collect(now)

    def _collect(self, now: int) -> None:
        """Requests the slow path framed (Python tier, kill switch) go to the venue like the pass's own."""
        e, venue = self.engine, self.venue
        assert e is not None and venue is not None
        if e.outbox:
            venue.submit(bytes(e.outbox), now)
            e.outbox.clear()

    def _deliver(self, until_ns: int) -> None:
        """The venue's answers due by local time ``until_ns``, through the live engine's slow path."""
        e, venue = self.engine, self.venue
        assert e is not None and venue is not None
        while 0 <= venue.next_answer_ns() <= until_ns:
            t = venue.next_answer_ns()
            e.now_ns = t
            try:
                e._on_json(venue.pop_answer())
            except Exception:  # noqa: BLE001 - on_order of a user strategy
                self.result.strategy_errors += 1
            self._collect(t)

    def _timers(self, until_ns: int) -> None:
        """Kernel timers due before ``until_ns`` run at their own time (answers due by then first)."""
        e, venue = self.engine, self.venue
        assert e is not None and venue is not None
        for _ in range(1000):  # bounded: a kernel re-arming a timer in the past would loop
            due = e.mkt.timer[(e.mkt.timer > 0) & (e.mkt.timer < until_ns)]
            if due.size == 0:
                return
            t = int(due.min())
            self._deliver(t)
            n_act, tx_len = self._pass(e.events[:0], 0, t)
            if tx_len:
                venue.submit(e.op.tx[:tx_len].tobytes(), t)

    def run(self) -> BacktestResult:
        """Replay the whole capture; raises :class:`BacktestError` when nothing could be traded."""
        t0 = time.perf_counter()
        try:
            source = PcapSource(self.cfg.capture)
        except (OSError, ValueError) as exc:
            raise BacktestError(f"capture {self.cfg.capture}: {exc}") from None
        gc_was_on = gc.isenabled()
        gc.disable()  # the venue model's answers are short-lived acyclic dicts: collections only cost time
        try:
            for batch in source.batches():
                self.replay.process(batch)
            self.replay.finish()
        finally:
            # the pipelines' callbacks are closures over this run: dropped, nothing keeps a cycle (a finished
            # run's buffers, hundreds of MB, are freed as soon as its caller lets go of it)
            self.replay.sink = self.sbe.feed.on_events = None
            if gc_was_on:
                gc.enable()
        if self.engine is None:
            self._no_market()
        self._finish()
        self.result.wall_s = time.perf_counter() - t0
        return self.result

    def _no_market(self) -> None:
        """Why nothing could be traded: the capture holds no market data of the chosen feed, or no snapshot."""
        held = {"ws": self.replay.decoded + self.replay.slow_decoded > 0,
                "sbe": self.sbe.feed.stats["decode_messages"] > 0}
        what = {"ws": "Deribit WebSocket market data", "sbe": "Deribit multicast (SBE) packets"}
        feeds = ("ws", "sbe") if self.cfg.feed == "auto" else (self.cfg.feed,)
        if not any(held[f] for f in feeds):
            raise BacktestError(f"capture {self.cfg.capture}: " + (
                f"neither {what['ws']} nor {what['sbe']} in it" if self.cfg.feed == "auto"
                else f"no {what[self.cfg.feed]} in it (--feed {self.cfg.feed})"))
        instrument = self.cfg.instrument or "any instrument"
        raise BacktestError(f"capture {self.cfg.capture}: no book snapshot for {instrument}"
                            + (f" in its {self.cfg.feed} feed" if self.cfg.feed != "auto" else ""))

    def _finish(self) -> None:
        e, venue, r = self.engine, self.venue, self.result
        assert e is not None and venue is not None
        far = np.iinfo(np.int64).max
        pos = e.positions.positions[r.instrument]
        if self._exchange is None:
            self._deliver(far - 1)  # answers still in flight arrive (the market has stopped)
        else:
            self._finish_compiled(far - 1)
        bp, _, ap, _ = book_top(e.books.px, e.books.qty, e.books.state, 0)
        tick = venue.tick_size
        mark = (bp + ap) * tick / 2 if bp != BOOK_NO_PRICE and ap != BOOK_NO_PRICE else 0.0
        r.position_lots = round(pos.size / venue.lot_size)
        r.realized_pnl, r.fees = pos.realized_pnl, pos.fees
        r.floating_pnl = pos.floating_pnl(mark)
        r.fills = [{"ts_ns": f.ts_ns, "order_id": f.oid, "side": f.side, "price": f.price, "amount": f.amount,
                    "maker": f.maker} for f in self.fills]
        r.curve = _curve(venue, self.fills)
        c = e.counters
        r.orders, r.cancels = int(c[C_ORDERS_SENT]), int(c[C_CANCELS_SENT])
        r.risk_refused, r.rejects = int(c[C_RISK_REFUSED]), int(c[C_REJECTS])
        r.gaps = int(e.books.state[0]["n_gaps"])
        r.counters = {name: int(v) for name, v in zip(COUNTER_NAMES, c)}

    def _finish_compiled(self, until_ns: int) -> None:
        """The compiled venue model's last answers, fills and counts, and its position into the engine's."""
        e, x = self.engine, self._exchange
        assert e is not None and x is not None
        self._batch_finish(x, until_ns)
        self._take_fills()
        pos = e.positions.positions[self.result.instrument]
        pos.size, pos.average_price = float(x.pos[bx.P_SIZE]), float(x.pos[bx.P_AVG])
        pos.realized_pnl, pos.fees, pos.fills = (float(x.pos[bx.P_REALIZED]), float(x.pos[bx.P_FEES]),
                                                 int(x.pos[bx.P_FILLS]))
        e.bad_messages += int(x.ctl[bx.X_BAD])
        e.refused_fills += int(x.ctl[bx.X_REFUSED_FILLS])
        if x.ctl[bx.X_BREACH]:
            e.kill_reasons.add("breach")


def _curve(venue: VenueModel, fills: list[Fill]) -> list[tuple[int, int, float]]:
    """Position and equity (realized + floating at the fill price - fees) after each fill."""
    from tickwire.engine.positions import Position

    pos = Position(venue.name)
    out = []
    for f in fills:
        usd, px = f.amount * venue.lot_size, f.price * venue.tick_size
        pos.apply_fill(f.side, px, usd, usd / px * (venue.maker_fee if f.maker else venue.taker_fee))
        out.append((f.ts_ns, round(pos.size / venue.lot_size), pos.realized_pnl + pos.floating_pnl(px) - pos.fees))
    return out
