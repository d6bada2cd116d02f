"""Market makers' methods: mass quotes, quote cancels and Market Maker Protection configuration.

A mass quote holds at most one live order per (MMP group, instrument, side): quoting that side again edits the
live order in place (queue priority kept when the price is unchanged and the amount does not grow), amount 0
cancels it. Quotes need cancel-on-disconnect on the connection (13042 otherwise) and an MMP configuration for
the group's index; while the group is frozen by an MMP trigger every mass quote is refused (13043).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tickwire.deribit.errors import COD_NOT_ENABLED, QUOTES_FROZEN
from tickwire.sim import messages as msg
from tickwire.sim.api.registry import Ctx, currency_param, method, now_ms
from tickwire.sim.errors import RpcError, invalid_param
from tickwire.sim.instruments import Instrument
from tickwire.sim.matching import BUY, SELL, Order
from tickwire.sim.mmp import MmpConfig
from tickwire.sim.params import Params

MAX_QUOTES = 100          # quote entries (instruments) in one mass quote
MAX_GROUPS = 16           # MMP groups per account, as Deribit allows
_INDEX_NAMES = ("btc_usd", "eth_usd")


def _group_config(ctx: Ctx, group: str, inst: Instrument) -> MmpConfig:
    index = ctx.venue.exchange.indexes[inst.currency].name
    config = ctx.acc().mmp.config(index, group)
    if config is None:
        raise invalid_param("mmp_group", f"no MMP configuration for group {group!r} on {index}")
    return config


def _side(ctx: Ctx, inst: Instrument, side: int, raw: Any, tag: tuple[str, str, str], live: Order | None,
          orders: list[Order], trades: list[dict[str, Any]]) -> None:
    """Place, edit or cancel one side of one quote entry."""
    p = Params(raw)
    amount = p.num("amount", required=True) or 0.0
    price = p.num("price", required=True) or 0.0
    exchange = ctx.venue.exchange
    if amount == 0:
        if live is not None:
            orders.append(exchange.cancel(ctx.acc(), live))
        return
    lots, ticks = inst.to_lots(amount), inst.to_ticks(price)
    if amount < 0 or lots is None:
        raise invalid_param("amount", f"must be a positive multiple of {inst.min_trade_amount:g}")
    if price <= 0 or ticks is None:
        raise invalid_param("price", f"must be a positive multiple of {inst.tick_size:g}")
    limit = _group_config(ctx, tag[2], inst).quote_limit()
    base = amount / price if inst.inverse else amount
    if limit is not None and base > limit + 1e-12:
        raise invalid_param("amount", f"quote of {base:g} exceeds the group's max quote quantity {limit:g}")
    if live is not None:
        live.quote = tag
        order, fills = exchange.edit(ctx.acc(), live, lots, ticks, p.bool_("post_only"), p.bool_("reject_post_only"))
    else:
        session = ctx.session
        order, fills = exchange.place(ctx.acc(), session.id if session is not None else 0, inst.name, side, lots,
                                      ticks, post_only=p.bool_("post_only"),
                                      reject_post_only=p.bool_("reject_post_only"), quote=tag)
    orders.append(order)
    trades.extend(fills)


def _entry(ctx: Ctx, raw: Any, quote_id: str, group: str, ts: int
           ) -> tuple[Instrument, tuple[str, str, str], list[tuple[str, int, Mapping[str, Any]]]]:
    """One quote entry, checked before anything is placed: its instrument, tag and sides to quote."""
    if not isinstance(raw, Mapping):
        raise invalid_param("quotes", "every quote must be an object")
    p = Params(raw)
    name = p.str_("instrument_name", required=True) or ""
    inst = ctx.venue.exchange.instruments.get(name)
    if inst is None:
        raise invalid_param("instrument_name", "instrument not found")
    config = _group_config(ctx, group, inst)
    if ctx.acc().mmp.frozen((config.index_name, group), ts):
        raise RpcError(QUOTES_FROZEN, {"reason": f"MMP group {group!r} is frozen (private/reset_mmp)"})
    sides = []
    for key, side in (("bid", BUY), ("ask", SELL)):
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, Mapping):
            raise invalid_param(key, "must be an object with price and amount")
        sides.append((key, side, value))
    if not sides:
        raise invalid_param("quotes", "a quote needs a bid or an ask")
    return inst, (quote_id, p.str_("quote_set_id", default="", max_len=64) or "", group), sides


@method("private/mass_quote", private=True, matching=True)
def mass_quote(ctx: Ctx) -> dict[str, Any]:
    quote_id = ctx.p.str_("quote_id", required=True, max_len=64) or ""
    group = ctx.p.str_("mmp_group", required=True, max_len=64) or ""
    detailed = ctx.p.bool_("detailed")
    ctx.p.bool_("wait_for_response", default=True)
    ctx.p.int_("valid_until", default=None, lo=0)
    quotes = ctx.p.raw.get("quotes")
    if not isinstance(quotes, list) or not quotes or len(quotes) > MAX_QUOTES:
        raise invalid_param("quotes", f"must be an array of 1..{MAX_QUOTES} quotes")
    if ctx.session is None or not ctx.session.cod_enabled:
        raise RpcError(COD_NOT_ENABLED, {"reason": "mass quotes need private/enable_cancel_on_disconnect"})
    exchange, acc, ts = ctx.venue.exchange, ctx.acc(), now_ms()
    entries = [_entry(ctx, raw, quote_id, group, ts) for raw in quotes]  # the whole request is checked first
    orders: list[Order] = []
    trades: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for inst, tag, sides in entries:
        for key, side, raw in sides:
            live = next((o for o in exchange.open_orders(acc) if o.quote is not None and o.quote[2] == group
                         and o.instrument == inst.name and o.side == side), None)
            try:
                _side(ctx, inst, side, raw, tag, live, orders, trades)
            except RpcError as exc:
                errors.append({"instrument_name": inst.name, "side": key, "quote_set_id": tag[1],
                               "code": exc.code, "message": exc.message, "data": exc.data})
    result: dict[str, Any] = {
        "orders": [msg.order_json(exchange.instruments[o.instrument], o, acc.user_id) for o in orders],
        "trades": trades}
    if detailed:
        result["errors"] = errors
    else:
        result["errors_count"] = len(errors)
    return result


@method("private/cancel_quotes", private=True, matching=True)
def cancel_quotes(ctx: Ctx) -> Any:
    cancel_type = ctx.p.str_("cancel_type", required=True, choices=(
        "delta", "quote_set_id", "instrument", "instrument_kind", "currency", "currency_pair", "all"))
    exchange, acc = ctx.venue.exchange, ctx.acc()
    keep: Any
    if cancel_type == "quote_set_id":
        set_id = ctx.p.str_("quote_set_id", required=True)
        keep = lambda o, i: o.quote[1] == set_id  # noqa: E731 - one predicate per cancel type
    elif cancel_type == "instrument":
        name = ctx.p.str_("instrument_name", required=True)
        keep = lambda o, i: i.name == name  # noqa: E731
    elif cancel_type == "instrument_kind":
        kind = ctx.p.str_("kind", required=True, choices=("future", "option", "any"))
        keep = lambda o, i: kind in ("any", i.kind)  # noqa: E731
    elif cancel_type == "currency":
        currency = currency_param(ctx)
        keep = lambda o, i: currency in ("any", i.currency)  # noqa: E731
    elif cancel_type == "currency_pair":
        pair = ctx.p.str_("currency_pair", required=True) or ""
        keep = lambda o, i: exchange.indexes[i.currency].name == pair  # noqa: E731
    elif cancel_type == "delta":
        lo = ctx.p.num("min_delta", required=True) or 0.0
        hi = ctx.p.num("max_delta", required=True) or 0.0
        keep = lambda o, i: lo <= _quote_delta(i) <= hi  # noqa: E731
    else:
        keep = lambda o, i: True  # noqa: E731
    cancelled = [exchange.cancel(acc, o, reason="user_request") for o in exchange.open_orders(acc)
                 if o.quote is not None and keep(o, exchange.instruments[o.instrument])]
    if ctx.p.bool_("detailed"):
        return [msg.order_json(exchange.instruments[o.instrument], o, acc.user_id) for o in cancelled]
    return len(cancelled)


def _quote_delta(inst: Instrument) -> float:
    """The delta of one unit of an instrument, as the simulator's tickers report it."""
    if inst.kind == "future":
        return 1.0
    return 0.5 if inst.option_type == "call" else -0.5


def _mmp_key(ctx: Ctx) -> tuple[str | None, str]:
    index = ctx.p.str_("index_name", choices=_INDEX_NAMES + ("all",))
    group = ctx.p.str_("mmp_group", default="", max_len=64) or ""
    return (None if index in (None, "all") else index), group


@method("private/get_mmp_config", private=True)
def get_mmp_config(ctx: Ctx) -> list[dict[str, Any]]:
    index, group = _mmp_key(ctx)
    return [c.to_json() for (i, g), c in ctx.acc().mmp.configs.items()
            if index in (None, i) and g == group]


@method("private/set_mmp_config", private=True)
def set_mmp_config(ctx: Ctx) -> dict[str, Any]:
    index = ctx.p.str_("index_name", required=True, choices=_INDEX_NAMES) or ""
    group = ctx.p.str_("mmp_group", default="", max_len=64) or ""
    interval = ctx.p.int_("interval", required=True, lo=0, hi=3600) or 0
    frozen = ctx.p.int_("frozen_time", required=True, lo=0, hi=3600) or 0
    limits = {name: ctx.p.num(name) for name in ("quantity_limit", "delta_limit", "vega_limit",
                                                 "max_quote_quantity")}
    for name, value in limits.items():
        if value is not None and value < 0:
            raise invalid_param(name, "must not be negative")
    if interval and all(v is None for k, v in limits.items() if k != "max_quote_quantity"):
        raise invalid_param("quantity_limit", "set at least one of quantity_limit, delta_limit, vega_limit")
    mmp = ctx.acc().mmp
    if interval and group and (index, group) not in mmp.configs \
            and len({g for _, g in mmp.configs if g}) >= MAX_GROUPS:
        raise invalid_param("mmp_group", f"at most {MAX_GROUPS} MMP groups per account")
    config = MmpConfig(index, interval, frozen, group, **limits)
    mmp.configure(config)
    return config.to_json()


@method("private/reset_mmp", private=True)
def reset_mmp(ctx: Ctx) -> str:
    index = ctx.p.str_("index_name", required=True, choices=_INDEX_NAMES) or ""
    group = ctx.p.str_("mmp_group", default="", max_len=64) or ""
    ctx.acc().mmp.reset((index, group))
    return "ok"
