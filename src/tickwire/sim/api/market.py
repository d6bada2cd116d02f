"""Public market-data methods: instruments, order book, ticker."""
from __future__ import annotations

from typing import Any

from tickwire.sim import messages as msg
from tickwire.sim.api.registry import Ctx, currency_param, instrument_param, kind_param, method, now_ms
from tickwire.sim.errors import invalid_param


@method("public/get_instruments")
def get_instruments(ctx: Ctx) -> list[dict[str, Any]]:
    currency = currency_param(ctx)
    kind = kind_param(ctx)
    if ctx.p.bool_("expired"):
        return []
    return [i.to_json() for i in ctx.venue.exchange.instruments.values()
            if currency in ("any", i.currency) and kind in (None, "any", i.kind)]


@method("public/get_instrument")
def get_instrument(ctx: Ctx) -> dict[str, Any]:
    return instrument_param(ctx).to_json()


@method("public/get_order_book")
def get_order_book(ctx: Ctx) -> dict[str, Any]:
    inst = instrument_param(ctx)
    depth = ctx.p.int_("depth", default=None)
    if depth is not None and depth not in (1, 5, 10, 20, 50, 100, 1000, 10000):
        raise invalid_param("depth", "must be one of 1, 5, 10, 20, 50, 100, 1000, 10000")
    return msg.order_book_json(ctx.venue.exchange.state(inst.name), depth or 20, now_ms())


@method("public/ticker")
def ticker(ctx: Ctx) -> dict[str, Any]:
    inst = instrument_param(ctx)
    return msg.ticker_json(ctx.venue.exchange.state(inst.name), now_ms())
