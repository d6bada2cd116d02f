"""In-process tick-to-trade: a book change frame already received -> the order frame ready for send.

The same work in the two strategy tiers, with a strategy that sends a new order on every book update:

- **compiled**: the spin driver's inner pass (``received_pass`` of tickwire.engine.hotpath: the frame is already
  in the receive buffer; ``fd = -1``, the send replaced by counting the framed bytes it hands back) called from a
  compiled loop that stamps CLOCK_MONOTONIC around each pass: deframe -> decode -> book -> strategy kernel ->
  risk -> encode -> frame, no Python;
- **python**: :meth:`Engine.on_bytes` with a Python-tier strategy: the compiled pass for decode and book, then the
  Python callback, then risk and encode through :meth:`Engine.submit`, stamped the same way around the call.

The stamps are CLOCK_MONOTONIC (vDSO, ~20 ns here) rather than the TSC: on this VM an rdtsc costs ~130 ns
(measured), which would add a quarter of a microsecond to every compiled sample.

Before every pass the state the pass changes (book top levels and chain, order table, exposure, risk, credits,
deframer) is put back to what it was after the opening snapshot and the frame is written into the receive
buffer, outside the stamps, so every pass does the same work: the frame applies on a valid book and the
strategy's order passes risk and is encoded.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson
from numba import njit

from tickwire.engine.strategies.market_maker import emit_action
from tickwire.config import CreditConfig, EngineConfig, RiskConfig
from tickwire.engine import shims
from tickwire.engine.engine import Engine, Instrument
from tickwire.engine.kernel_cache import build_hot_pass
from tickwire.engine.strategy import K_BOOK, BookView, NumbaStrategy, Strategy, buy
from tickwire.md.book import book_top
from tickwire.netstack.ws import OP_TEXT, ref_encode, ws_reserve
from tickwire.types import ACT_NEW, BOOK_NO_PRICE, C_ORDERS_SENT, SIDE_BUY

OFFSET_TICKS = 40  # the order rests far from the touch: it is the sending that is measured, not a fill
RESTORE_LEVELS = 64  # book levels per side put back before each pass (the frame touches only the top)


@njit(cache=True, _nrt=False)
def always_buy_kernel(kind, inst, ev, mkt, acct, params, out):
    """A new post-only bid ``params[0]`` ticks under the best bid on every valid book update."""
    if kind != K_BOOK:
        return 0
    bp, bq, ap, aq = book_top(mkt.px, mkt.qty, mkt.st, inst)
    if mkt.st[inst].valid == 0 or bp == BOOK_NO_PRICE or out.shape[0] == 0:
        return 0
    return emit_action(out, 0, ACT_NEW, inst, SIDE_BUY, bp - int(params[0]), 1, 0)


class AlwaysBuy(NumbaStrategy):
    """numba tier: a new far bid on every book update."""

    kernel = always_buy_kernel
    defaults = {"offset": float(OFFSET_TICKS)}


class AlwaysBuyPython(Strategy):
    """Python tier: the same decision as :class:`AlwaysBuy`."""

    def on_book(self, inst: int, book: BookView) -> list:
        return [buy(inst, book.best_bid - OFFSET_TICKS, 1, post_only=True)] if book.valid else []


class _State:
    """The arrays a pass changes, and their saved copies (restored before every pass)."""

    def __init__(self, engine: Engine) -> None:
        s = engine.hot.state
        self.live = (s.mkt.px[:, :, :RESTORE_LEVELS], s.mkt.qty[:, :, :RESTORE_LEVELS], s.mkt.st, s.mkt.touched,
                     *s.acct, s.op.ids, s.risk.state, s.risk.credit, s.recv.ws_st, s.counters)
        self.saved = tuple(a.copy() for a in self.live)

    def restore(self) -> None:
        for live, saved in zip(self.live, self.saved):
            np.copyto(live, saved)


def _engine(info: dict, strategy: type, orders: int = 16) -> Engine:
    """An engine on ``info``'s instrument whose limits never refuse the benchmark's orders."""
    cfg = EngineConfig(instruments=(info["instrument_name"],),
                       risk=RiskConfig(max_open_orders=orders, max_orders_per_s=1e9, max_position=1e12,
                                       max_order_amount=1e12),
                       credits=CreditConfig(matching_rate_per_s=1e9, matching_burst=1_000_000))
    engine = Engine(cfg, [Instrument(info)], strategy, "twbench-", order_capacity=orders)
    engine.warm_up()
    return engine


def _open(engine: Engine, snapshot: bytes, change: bytes) -> tuple[np.ndarray, _State]:
    """Apply the opening snapshot, check that the change frame then sends an order, save the state."""
    engine.on_bytes(ref_encode(snapshot, OP_TEXT), 0)
    frame = np.frombuffer(ref_encode(change, OP_TEXT), np.uint8).copy()
    state = _State(engine)
    sent = int(engine.counters[C_ORDERS_SENT])
    engine.on_bytes(frame.tobytes(), 0)
    if int(engine.counters[C_ORDERS_SENT]) != sent + 1:
        raise ValueError("the change frame did not lead to an order: it must chain on the snapshot's change_id")
    state.restore()
    return frame, state


@njit
def _compiled_passes(received_pass, s, n, frame, live, saved, elapsed):
    """n timed inner passes over ``frame``, written into the receive buffer before each (``live``/``saved``:
    the arrays of :class:`_State`), ns of each in ``elapsed``; returns how many passes framed an order (the
    replaced send)."""
    (px, qty, st, touched, orders, expo, slot_free, slot_used, slot_state, ids, rstate, credit, ws_st,
     counters) = live
    sent = 0
    for i in range(n):
        px[:] = saved[0]
        qty[:] = saved[1]
        st[:] = saved[2]
        touched[:] = saved[3]
        orders[:] = saved[4]
        expo[:] = saved[5]
        slot_free[:] = saved[6]
        slot_used[:] = saved[7]
        slot_state[:] = saved[8]
        ids[:] = saved[9]
        rstate[:] = saved[10]
        credit[:] = saved[11]
        ws_st[:] = saved[12]
        counters[:] = saved[13]
        w = ws_reserve(ws_st, s.recv.rx, frame.shape[0])
        s.recv.rx[w:w + frame.shape[0]] = frame
        t0 = shims.monotonic_ns()
        ns, n_resp, n_fb, tx_len, _ = received_pass(s, frame.shape[0], shims.rdtsc(), -1)
        elapsed[i] = shims.monotonic_ns() - t0
        if tx_len > 0:
            sent += 1
    return sent


@dataclass
class TickToTradeResult:
    """Per-pass ns of each tier and how many passes handed an order frame to the (replaced) send."""

    compiled_ns: np.ndarray
    python_ns: np.ndarray
    compiled_sent: int
    python_sent: int


def measure(info: dict, snapshot: bytes, change: bytes, n: int = 100_000) -> TickToTradeResult:
    """``n`` passes of each tier over the ``change`` frame, on a book opened by ``snapshot`` (JSON messages)."""
    from tickwire.native import lib

    compiled = _engine(info, AlwaysBuy)
    frame, state = _open(compiled, snapshot, change)
    compiled_ns = np.zeros(n, np.int64)
    inner = build_hot_pass(compiled.kernel).received_pass
    c_sent = _compiled_passes(inner, compiled.hot.state, n, frame, state.live, state.saved, compiled_ns)

    python = _engine(info, AlwaysBuyPython)
    frame, state = _open(python, snapshot, change)
    data = frame.tobytes()
    python_ns = np.zeros(n, np.int64)
    p_sent = 0
    for i in range(n):
        state.restore()
        t0 = lib.tw_monotonic_ns()
        python.on_bytes(data, lib.tw_rdtsc())
        python_ns[i] = lib.tw_monotonic_ns() - t0
        p_sent += int(python.counters[C_ORDERS_SENT]) - int(state.saved[-1][C_ORDERS_SENT])  # counters: last
    return TickToTradeResult(compiled_ns.astype(np.float64), python_ns.astype(np.float64), c_sent, p_sent)


def opening_snapshot(change: bytes, tick_size: float, levels: int = 8) -> bytes:
    """A snapshot the ``change`` message chains on (change_id = its prev_change_id): the levels the change deletes
    or changes exist, and ``levels`` more per side outside every price it names, so the book stays uncrossed."""
    msg = orjson.loads(change)
    data = msg["params"]["data"]
    prices = [lvl[1] for lvl in data["bids"] + data["asks"]]
    lo, hi = min(prices), max(prices)

    def side(name: str, outside: list[float]) -> list[list]:
        kept = {lvl[1] for lvl in data[name] if lvl[0] != "new"}
        return [["new", p, 1000.0] for p in sorted(kept | set(outside), reverse=name == "bids")]

    snap = {"type": "snapshot", "timestamp": data["timestamp"] - 1, "instrument_name": data["instrument_name"],
            "change_id": data["prev_change_id"],
            "bids": side("bids", [lo - tick_size * (i + 1) for i in range(levels)]),
            "asks": side("asks", [hi + tick_size * (i + 1) for i in range(levels)])}
    return orjson.dumps({"jsonrpc": "2.0", "method": "subscription",
                         "params": {"channel": msg["params"]["channel"], "data": snap}})
