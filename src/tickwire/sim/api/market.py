"""Public market-data methods: currencies, instruments, books, tickers, trades, candles, index and funding."""
from __future__ import annotations

from typing import Any

from tickwire.sim import candles
from tickwire.sim import messages as msg
from tickwire.sim.api.registry import (Ctx, currency_param, index_param, instrument_param, kind_param, method,
                                       now_ms, time_range, trades_page, with_time_range)
from tickwire.sim.errors import invalid_param
from tickwire.sim.instruments import Instrument

_CURRENCY_NAMES = {"BTC": ("Bitcoin", "BITCOIN", 0.0001), "ETH": ("Ethereum", "ETHER", 0.0006)}


def _listed(ctx: Ctx, currency: str | None, kind: str | None) -> list[Instrument]:
    return [i for i in ctx.venue.exchange.instruments.values()
            if currency in (None, "any", i.currency) and kind in (None, "any", i.kind)]


@method("public/get_currencies")
def get_currencies(ctx: Ctx) -> list[dict[str, Any]]:
    listed = sorted({i.currency for i in ctx.venue.exchange.instruments.values()})
    out = []
    for cur in listed:
        long_name, coin_type, fee = _CURRENCY_NAMES[cur]
        out.append({"currency": cur, "currency_long": long_name, "coin_type": coin_type, "fee_precision": 4,
                    "min_confirmations": 1, "min_withdrawal_fee": fee, "withdrawal_fee": fee,
                    "withdrawal_priorities": [], "network_currency": cur, "network_fee": fee / 10,
                    "in_cross_collateral_pool": True, "apr": 0.0, "decimals": 8})
    return out


@method("public/get_instruments")
def get_instruments(ctx: Ctx) -> list[dict[str, Any]]:
    currency = currency_param(ctx, required=False)
    kind = kind_param(ctx)
    if ctx.p.bool_("expired"):
        return []  # nothing has expired during this run
    return [i.to_json() for i in _listed(ctx, currency, kind)]


@method("public/get_instrument")
def get_instrument(ctx: Ctx) -> dict[str, Any]:
    return instrument_param(ctx).to_json()


@method("public/get_contract_size")
def get_contract_size(ctx: Ctx) -> dict[str, Any]:
    return {"contract_size": instrument_param(ctx).contract_size}


@method("public/get_expirations")
def get_expirations(ctx: Ctx) -> dict[str, Any]:
    currency = ctx.p.str_("currency", required=True) or ""
    if currency.upper() not in ("BTC", "ETH", "USDC", "ANY", "GROUPED"):
        raise invalid_param("currency", "must be one of BTC, ETH, USDC, any, grouped")
    kind = ctx.p.str_("kind", required=True, choices=("future", "option", "any"))

    def of(cur: str | None) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k in ("future", "option"):
            if kind in ("any", k):
                names = {"PERPETUAL" if i.perpetual else i.name.split("-")[1] for i in _listed(ctx, cur, k)}
                out[k] = sorted(names)
        return out
    if currency.upper() in ("BTC", "ETH", "USDC"):
        return of(currency.upper())
    currencies = sorted({i.currency for i in ctx.venue.exchange.instruments.values()})
    return {cur.lower(): of(cur) for cur in currencies}


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


@method("public/get_book_summary_by_currency")
def book_summary_by_currency(ctx: Ctx) -> list[dict[str, Any]]:
    currency = currency_param(ctx)
    kind = kind_param(ctx)
    exchange, ts = ctx.venue.exchange, now_ms()
    return [msg.book_summary_json(exchange.state(i.name), ts) for i in _listed(ctx, currency, kind)]


@method("public/get_book_summary_by_instrument")
def book_summary_by_instrument(ctx: Ctx) -> list[dict[str, Any]]:
    inst = instrument_param(ctx)
    return [msg.book_summary_json(ctx.venue.exchange.state(inst.name), now_ms())]


# --- trades and candles (what happened in this run) ---
@method("public/get_last_trades_by_instrument")
def last_trades_by_instrument(ctx: Ctx) -> dict[str, Any]:
    inst = instrument_param(ctx)
    return trades_page(ctx, list(ctx.venue.exchange.state(inst.name).trades), by_seq=True)


method("public/get_last_trades_by_instrument_and_time")(with_time_range(last_trades_by_instrument))


@method("public/get_last_trades_by_currency")
def last_trades_by_currency(ctx: Ctx) -> dict[str, Any]:
    currency = currency_param(ctx)
    kind = kind_param(ctx)
    exchange = ctx.venue.exchange
    merged = [t for i in _listed(ctx, currency, kind) for t in exchange.state(i.name).trades]
    merged.sort(key=lambda t: (t["timestamp"], int(t["trade_id"])))
    return trades_page(ctx, merged)


method("public/get_last_trades_by_currency_and_time")(with_time_range(last_trades_by_currency))


@method("public/get_tradingview_chart_data")
def tradingview_chart_data(ctx: Ctx) -> dict[str, Any]:
    inst = instrument_param(ctx)
    start, end = time_range(ctx, required=True)
    raw = ctx.p.raw.get("resolution")  # minutes as a number are accepted too
    resolution = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else ctx.p.str_("resolution",
                                                                                                  required=True)
    step = candles.RESOLUTIONS.get(resolution or "")
    if step is None:
        raise invalid_param("resolution", f"must be one of {', '.join(candles.RESOLUTIONS)}")
    return candles.chart_data(inst, ctx.venue.exchange.state(inst.name).trades, start, end, step)


# --- index and funding (the simulator's own price process) ---
@method("public/get_index_price")
def get_index_price(ctx: Ctx) -> dict[str, float]:
    index = index_param(ctx)
    return {"index_price": index.price, "estimated_delivery_price": index.price}


@method("public/get_index_price_names")
def get_index_price_names(ctx: Ctx) -> list[str]:
    return [index.name for index in ctx.venue.exchange.indexes.values()]


@method("public/get_delivery_prices")
def get_delivery_prices(ctx: Ctx) -> dict[str, Any]:
    index_param(ctx)
    ctx.p.int_("offset", default=0, lo=0)
    ctx.p.int_("count", default=10, lo=1, hi=1000)
    return {"data": [], "records_total": 0}  # no delivery happens during a simulator run


def _perpetual(ctx: Ctx) -> Instrument:
    inst = instrument_param(ctx)
    if not inst.perpetual:
        raise invalid_param("instrument_name", "funding applies to perpetuals only")
    return inst


@method("public/get_funding_rate_history")
def funding_rate_history(ctx: Ctx) -> list[dict[str, Any]]:
    inst = _perpetual(ctx)
    start, end = time_range(ctx, required=True)
    return [r for r in ctx.venue.exchange.state(inst.name).funding_log if start <= r["timestamp"] <= end]


@method("public/get_funding_rate_value")
def funding_rate_value(ctx: Ctx) -> float:
    records = funding_rate_history(ctx)
    return round(sum(r["interest_1h"] for r in records), 10)
