"""The strategy API: two tiers over the same engine, risk checks and order path.

**Python tier** — subclass :class:`Strategy` and return actions from the callbacks::

    class Mine(Strategy):
        def on_book(self, inst, book):
            if book.valid and self.ctx.position(inst) == 0:
                return [buy(inst, book.best_bid, 1, post_only=True)]

Prices are integer ticks and amounts integer lots (``ctx.tick_size(inst)``, ``ctx.lot_size(inst)`` convert).
Callbacks run on the event loop after the compiled path has applied the book; keep them short.

**numba tier** — subclass :class:`NumbaStrategy` and set ``kernel`` to an ``@njit`` function::

    @njit
    def kernel(kind, inst, ev, mkt, acct, params, out):  # -> number of actions written to out
        if kind == K_TRADE and ev.side == SIDE_SELL: ...   # a public trade: price, amount, taker side
        bp, bq, ap, aq = book_top(mkt.px, mkt.qty, mkt.st, inst)
        position = acct.expo[inst].position
        mkt.timer[inst] = mkt.clock[0] + 50_000_000  # wake me (kind K_TIMER) in 50 ms
        ...

``kind`` says why the kernel runs: ``K_BOOK`` (the book of ``inst`` changed in this pass; ``ev`` is its last
book event), ``K_TRADE`` (one call per public trade, ``ev`` the trade: ``side`` the taker's, ``price`` ticks,
``amount`` lots, ``change_id`` the trade id), ``K_TICKER`` (one call per ticker side: ``ev.side`` BOOK_BID then
BOOK_ASK, best price and amount) or ``K_TIMER`` (the deadline the kernel set in ``mkt.timer[inst]`` passed; the
timer is cleared before the call). ``ev.exch_ts`` is the venue's event time (ns since the epoch), ``mkt.clock[0]``
the local clock (ns; monotonic live, the replayed capture clock in a backtest) — read time from there, never from
a system call, so the same kernel runs unchanged live and in ``tickwire backtest``. Within one pass trades and
tickers come first, in message order, then one K_BOOK call per changed book, then due timers.
``mkt`` is the :class:`Market` view (the books of tickwire.md.book and the best bid/ask per instrument),
``acct`` the :class:`~tickwire.engine.orders.Account` view (``orders``: the order table, ORDER_DTYPE;
``expo[inst]``: position, live_buy, live_sell lots), ``params`` the float64 array of
:meth:`NumbaStrategy.params_array`, ``out`` a preallocated ACTION_DTYPE buffer. The kernel runs inside the
compiled hot pass, right after a book message was applied, with no Python in between.

Either tier's actions go through the same risk check (tickwire.engine.risk) before anything is sent.
An invalid book (a change_id gap until the resync snapshot) is reported as ``book.valid == False`` (Python)
or ``st[inst].valid == 0`` (numba): do not quote on it.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from tickwire.md.book import Books
from tickwire.types import (
    ACT_CANCEL,
    ACT_CANCEL_ALL,
    ACT_EDIT,
    ACT_NEW,
    EV_BOOK,
    EV_TICKER,
    EV_TRADE,
    EVENT_DTYPE,
    OT_LIMIT,
    OT_MARKET,
    SIDE_BUY,
    SIDE_SELL,
    TIF_GTC,
    TIF_IOC,
)


class Market(NamedTuple):
    """The market view of the compiled pass and of numba strategy kernels: one book per instrument slot."""

    px: np.ndarray  # int64[n_inst, 2, depth] level prices, ticks (tickwire.md.book layout)
    qty: np.ndarray  # int64[n_inst, 2, depth] level amounts, lots
    st: np.ndarray  # BOOK_STATE_DTYPE[n_inst]: chain, counts, valid
    bid: np.ndarray  # int64[n_inst] best bid ticks for risk (0: no valid book), refreshed before each decision
    ask: np.ndarray  # int64[n_inst] best ask ticks (0: no valid book)
    touched: np.ndarray  # int64[n_inst]: 1 = its book changed in this pass, 2 = its change_id chain broke
    clock: np.ndarray  # int64[2]: [0] the local clock (ns) of this pass, [1] market events of the last read
    timer: np.ndarray  # int64[n_inst]: a kernel's wake-up deadline on the local clock, ns (0: none)
    last_ev: np.ndarray  # int64[n_inst]: index of the instrument's last book event in this pass's events
    wake: np.ndarray  # EVENT_DTYPE[1]: the ``ev`` of a K_TIMER call (kind K_TIMER, exch_ts = the local clock)


# Why a numba kernel runs (its ``kind`` argument): the market-data event kinds, plus its own timer.
K_BOOK, K_TRADE, K_TICKER, K_TIMER = EV_BOOK, EV_TRADE, EV_TICKER, 4


def new_market(books: Books) -> Market:
    """The market view over ``books`` (shared arrays), with zeroed best prices, flags and timers."""
    n = books.state.shape[0]
    wake = np.zeros(1, EVENT_DTYPE)
    wake[0]["kind"] = K_TIMER
    return Market(books.px, books.qty, books.state, np.zeros(n, np.int64), np.zeros(n, np.int64),
                  np.zeros(n, np.int64), np.zeros(2, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64), wake)


@dataclass(frozen=True, slots=True)
class Action:
    """One strategy decision (:func:`buy`, :func:`sell`, :func:`market`, :func:`edit`, :func:`cancel`,
    :func:`cancel_all`)."""

    kind: int
    inst: int = 0
    side: int = 0
    price: int = 0
    amount: int = 0
    otype: int = OT_LIMIT
    tif: int = TIF_GTC
    post_only: bool = False
    cid: int = 0


def buy(inst: int, price: int, amount: int, post_only: bool = False, tif: int = TIF_GTC) -> Action:
    """Limit buy of ``amount`` lots at ``price`` ticks."""
    return Action(ACT_NEW, inst, SIDE_BUY, price, amount, OT_LIMIT, tif, post_only)


def sell(inst: int, price: int, amount: int, post_only: bool = False, tif: int = TIF_GTC) -> Action:
    """Limit sell of ``amount`` lots at ``price`` ticks."""
    return Action(ACT_NEW, inst, SIDE_SELL, price, amount, OT_LIMIT, tif, post_only)


def market(inst: int, side: int, amount: int) -> Action:
    """Market order (immediate or cancel) of ``amount`` lots; ``side`` SIDE_BUY or SIDE_SELL."""
    return Action(ACT_NEW, inst, side, 0, amount, OT_MARKET, TIF_IOC)


def edit(cid: int, price: int, amount: int) -> Action:
    """Move our resting order ``cid`` to ``price`` ticks and ``amount`` lots (private/edit; never larger)."""
    return Action(ACT_EDIT, price=price, amount=amount, cid=cid)


def cancel(cid: int) -> Action:
    """Cancel our order with client id ``cid``."""
    return Action(ACT_CANCEL, cid=cid)


def cancel_all() -> Action:
    return Action(ACT_CANCEL_ALL)


@dataclass(frozen=True, slots=True)
class BookView:
    """Top of one instrument's book (ticks and lots), as the Python tier sees it."""

    inst: int
    valid: bool
    best_bid: int
    bid_amount: int
    best_ask: int
    ask_amount: int
    change_id: int

    @property
    def mid2(self) -> int:
        """Twice the mid price in ticks (an integer)."""
        return self.best_bid + self.best_ask


@dataclass(frozen=True, slots=True)
class OrderView:
    """Our order after a change, as the Python tier sees it."""

    cid: int
    inst: int
    side: int
    state: int
    price: int
    amount: int
    filled: int


class Context(Protocol):
    """What a strategy can ask the engine."""

    instruments: tuple[str, ...]

    def tick_size(self, inst: int) -> float: ...
    def lot_size(self, inst: int) -> float: ...
    def position(self, inst: int) -> int: ...
    def live_orders(self, inst: int) -> list[OrderView]: ...


class Strategy:
    """Python tier: override the callbacks you need; each returns actions (or None)."""

    timer_ms: int = 0  # >0: on_timer is called every timer_ms

    def __init__(self, ctx: Context, **params: float) -> None:
        self.ctx = ctx
        self.params = params

    def on_book(self, inst: int, book: BookView) -> Iterable[Action] | None:
        return None

    def on_trade(self, inst: int, side: int, price: int, amount: int) -> Iterable[Action] | None:
        """A public trade: ``side`` is the taker's (SIDE_BUY / SIDE_SELL), ticks and lots."""
        return None

    def on_ticker(self, inst: int, best_bid: int, bid_amount: int, best_ask: int,
                  ask_amount: int) -> Iterable[Action] | None:
        """A ticker update: the venue's best bid and ask (ticks) and their amounts (lots)."""
        return None

    def on_order(self, order: OrderView) -> Iterable[Action] | None:
        return None

    def on_timer(self, now_ns: int) -> Iterable[Action] | None:
        return None


class NumbaStrategy:
    """numba tier: ``kernel`` is an ``@njit`` function (see the module docstring); ``defaults`` names its params."""

    kernel: Any = None
    defaults: dict[str, float] = {}

    def __init__(self, ctx: Context, **params: float) -> None:
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise ValueError(f"{type(self).__name__}: unknown parameter(s) {sorted(unknown)}; "
                             f"known: {sorted(self.defaults)}")
        self.ctx = ctx
        self.params = {**self.defaults, **params}

    def params_array(self) -> np.ndarray:
        """The params in ``defaults`` order, as the kernel's float64 array."""
        return np.array([float(self.params[k]) for k in self.defaults], dtype=np.float64)


class StrategyLoadError(ValueError):
    """``--strategy`` does not name a loadable strategy class."""


def load_strategy(spec: str) -> type[Strategy] | type[NumbaStrategy]:
    """Import ``package.module:Name`` and check it is a Strategy or NumbaStrategy subclass."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise StrategyLoadError(f"strategy {spec!r}: expected 'package.module:Name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StrategyLoadError(f"strategy {spec!r}: cannot import {module_name}: {exc}") from None
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, (Strategy, NumbaStrategy))):
        raise StrategyLoadError(f"strategy {spec!r}: {attr} is not a Strategy or NumbaStrategy subclass")
    if issubclass(cls, NumbaStrategy) and cls.kernel is None:
        raise StrategyLoadError(f"strategy {spec!r}: NumbaStrategy without a kernel")
    return cls


def write_actions(actions: Iterable[Action] | None, out: np.ndarray) -> int:
    """Copy Python-tier actions into the ACTION_DTYPE buffer; returns the count (extra actions are dropped)."""
    n = 0
    for a in actions or ():
        if n >= out.shape[0]:
            break
        out[n] = (a.kind, a.inst, a.side, a.otype, a.tif, int(a.post_only), a.price, a.amount, a.cid)
        n += 1
    return n


__all__ = ["ACT_CANCEL", "ACT_CANCEL_ALL", "ACT_NEW", "Action", "BookView", "Context", "K_BOOK", "K_TICKER",
           "K_TIMER", "K_TRADE", "Market", "NumbaStrategy", "new_market",
           "OT_LIMIT", "OT_MARKET", "OrderView", "SIDE_BUY", "SIDE_SELL", "Strategy", "StrategyLoadError",
           "TIF_GTC", "TIF_IOC", "buy", "cancel", "cancel_all", "edit", "load_strategy", "market", "sell",
           "write_actions"]
