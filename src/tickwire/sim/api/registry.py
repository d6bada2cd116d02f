"""The method registry: the request context, the ``@method`` decorator, and parameter helpers shared by the
method modules. Each handler takes a ``Ctx`` and returns the ``result``; it raises RpcError for Deribit's
errors. Work that must follow the response on the wire (a subscription's first snapshot) goes into
``ctx.after``.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tickwire.sim.accounts import Account
from tickwire.sim.errors import invalid_param
from tickwire.sim.instruments import Instrument
from tickwire.sim.params import Params

if TYPE_CHECKING:
    from tickwire.sim.session import Session
    from tickwire.sim.venue import Venue


@dataclass
class Ctx:
    """One request being handled."""

    venue: Venue
    session: Session | None        # None for HTTP
    account: Account | None
    p: Params
    after: list[Callable[[], None]]

    def acc(self) -> Account:
        """The authenticated account (private methods only)."""
        assert self.account is not None  # dispatch checks private methods before calling
        return self.account


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its handler and how the dispatcher treats it."""

    fn: Callable[[Ctx], Any]
    private: bool = False
    matching: bool = False     # counts against the matching-engine rate limit
    ws_only: bool = False
    sim: bool = False          # simulator-only method: no rate limit


METHODS: dict[str, MethodSpec] = {}


def method(*names: str, private: bool = False, matching: bool = False, ws_only: bool = False, sim: bool = False
           ) -> Callable[[Callable[[Ctx], Any]], Callable[[Ctx], Any]]:
    """Register a handler under one or more method names with its flags."""
    def register(fn: Callable[[Ctx], Any]) -> Callable[[Ctx], Any]:
        for name in names:
            METHODS[name] = MethodSpec(fn, private, matching, ws_only, sim)
        return fn
    return register


def instrument_param(ctx: Ctx, name: str = "instrument_name") -> Instrument:
    """The instrument named by a required parameter (-32602 when missing or unknown)."""
    value = ctx.p.str_(name, required=True)
    inst = ctx.venue.exchange.instruments.get(value or "")
    if inst is None:
        raise invalid_param(name, "instrument not found")
    return inst


def currency_param(ctx: Ctx, required: bool = True) -> str | None:
    """``currency`` normalised to BTC | ETH | USDC | any."""
    value = ctx.p.str_("currency", required=required)
    if value is None:
        return None
    if value.upper() not in ("BTC", "ETH", "USDC", "ANY"):
        raise invalid_param("currency", "must be one of BTC, ETH, USDC, any")
    return "any" if value.lower() == "any" else value.upper()


def kind_param(ctx: Ctx) -> str | None:
    """The optional ``kind`` filter."""
    return ctx.p.str_("kind", choices=("future", "option", "spot", "future_combo", "option_combo", "any"))


def now_ms() -> int:
    """Wall-clock milliseconds (Deribit's timestamps)."""
    return time.time_ns() // 1_000_000


def index_param(ctx: Ctx, name: str = "index_name") -> Any:
    """The PriceIndex named by a required parameter (``btc_usd``; -32602 when unknown here)."""
    value = ctx.p.str_(name, required=True) or ""
    index = ctx.venue.exchange.index_by_name(value)
    if index is None:
        raise invalid_param(name, "unknown index name")
    return index


def time_range(ctx: Ctx, required: bool) -> tuple[int, int]:
    """``start_timestamp`` .. ``end_timestamp`` in ms (end defaults to now); -32602 when reversed."""
    start = ctx.p.int_("start_timestamp", default=0, required=required, lo=0, hi=2**53) or 0
    end = ctx.p.int_("end_timestamp", default=None, required=required, lo=0, hi=2**53)
    end = now_ms() if end is None else end
    if end < start:
        raise invalid_param("end_timestamp", "must not be before start_timestamp")
    return start, end


def with_time_range(fn: Callable[[Ctx], Any]) -> Callable[[Ctx], Any]:
    """The ``*_and_time`` variant of a method: the same, with start/end_timestamp required."""
    def run(ctx: Ctx) -> Any:
        time_range(ctx, required=True)
        return fn(ctx)
    return run


def currency_kind_filter(ctx: Ctx) -> Callable[[Instrument], bool]:
    """The required ``currency`` and optional ``kind`` filters as one instrument predicate."""
    currency = currency_param(ctx)
    kind = kind_param(ctx)
    return lambda i: currency in ("any", i.currency) and kind in (None, "any", i.kind)


def trades_page(ctx: Ctx, trades: list[dict[str, Any]], *, by_seq: bool = False, default_count: int = 10
                ) -> dict[str, Any]:
    """Deribit's ``{"trades", "has_more"}`` page of trades (kept oldest first) with the common filters:
    ``start/end_timestamp``, ``start/end_seq`` (``by_seq``), ``count`` (1..1000), ``sorting`` (desc by default)."""
    start, end = time_range(ctx, required=False)
    count = ctx.p.int_("count", default=default_count, lo=1, hi=1000) or default_count
    sorting = ctx.p.str_("sorting", default="desc", choices=("asc", "desc", "default"))
    picked = [t for t in trades if start <= t["timestamp"] <= end]
    if by_seq:
        lo = ctx.p.int_("start_seq", default=None, lo=0)
        hi = ctx.p.int_("end_seq", default=None, lo=0)
        picked = [t for t in picked if (lo is None or t["trade_seq"] >= lo) and (hi is None or t["trade_seq"] <= hi)]
    if sorting != "asc":
        picked.reverse()
    return {"trades": picked[:count], "has_more": len(picked) > count}
