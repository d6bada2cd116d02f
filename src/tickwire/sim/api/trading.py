"""Matching-engine methods (buy, sell, edit, cancels) and open-order queries."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tickwire.sim import messages as msg
from tickwire.sim.api.registry import (Ctx, currency_kind_filter, currency_param, instrument_param, kind_param,
                                       method, now_ms)
from tickwire.deribit.errors import (ALREADY_CLOSED, INVALID_AMOUNT, MMP_TRIGGER, NON_UNIQUE_ORDER_LABEL,
                                    ORDER_NOT_FOUND, OTHER_REJECT, PRICE_WRONG_TICK, QTY_TOO_LOW)
from tickwire.sim.errors import RpcError, invalid_param
from tickwire.sim.instruments import Instrument
from tickwire.sim.matching import BUY, SELL, TIME_IN_FORCE

ORDER_TYPES = ("limit", "market")


def _lots(ctx: Ctx, inst: Instrument, required: bool) -> int | None:
    amount = ctx.p.num("amount")
    contracts = ctx.p.num("contracts")
    if amount is None and contracts is not None:
        amount = contracts * inst.contract_size
    elif amount is not None and contracts is not None and abs(contracts * inst.contract_size - amount) > 1e-9:
        raise invalid_param("contracts", "does not match amount")
    if amount is None:
        if required:
            raise invalid_param("amount", "value required")
        return None
    if amount <= 0:
        raise RpcError(INVALID_AMOUNT, {"param": "amount", "reason": "must be positive"})
    if amount < inst.min_trade_amount - 1e-12:
        raise RpcError(QTY_TOO_LOW, {"param": "amount", "reason": f"must be >= {inst.min_trade_amount:g}"})
    lots = inst.to_lots(amount)
    if lots is None:
        raise RpcError(INVALID_AMOUNT, {"param": "amount",
                                        "reason": f"must be a multiple of {inst.min_trade_amount:g}"})
    return lots


def _ticks(ctx: Ctx, inst: Instrument, required: bool) -> int | None:
    price = ctx.p.num("price", required=required)
    if price is None:
        return None
    if price <= 0:
        raise invalid_param("price", "must be positive")
    ticks = inst.to_ticks(price)
    if ticks is None:
        raise RpcError(PRICE_WRONG_TICK, {"param": "price", "reason": f"must be a multiple of {inst.tick_size:g}"})
    return ticks


def _order_reply(ctx: Ctx, inst: Instrument, order: Any, trades: list[dict[str, Any]]) -> dict[str, Any]:
    return {"order": msg.order_json(inst, order, ctx.acc().user_id), "trades": trades}


def _place(ctx: Ctx, side: int) -> dict[str, Any]:
    inst = instrument_param(ctx)
    lots = _lots(ctx, inst, required=True)
    order_type = ctx.p.str_("type", default="limit",
                            choices=ORDER_TYPES + ("stop_limit", "stop_market", "take_limit", "take_market",
                                                   "market_limit", "trailing_stop"))
    if order_type not in ORDER_TYPES:
        raise invalid_param("type", "the simulator supports limit and market orders")
    price = _ticks(ctx, inst, required=order_type == "limit")
    tif = ctx.p.str_("time_in_force", default="good_til_cancelled", choices=TIME_IN_FORCE)
    label = ctx.p.str_("label", default="", max_len=64) or ""
    post_only = ctx.p.bool_("post_only")
    reject_post_only = ctx.p.bool_("reject_post_only")
    reduce_only = ctx.p.bool_("reduce_only")
    mmp = ctx.p.bool_("mmp")
    exchange = ctx.venue.exchange
    if mmp:
        key = (exchange.indexes[inst.currency].name, "")
        if ctx.acc().mmp.config(*key) is None:
            raise invalid_param("mmp", "no MMP configuration for this index (private/set_mmp_config)")
        if ctx.acc().mmp.frozen(key, now_ms()):
            raise RpcError(MMP_TRIGGER, {"reason": "MMP is frozen for this index (private/reset_mmp)"})
    if ctx.venue.config.faults.take_reject():
        raise RpcError(OTHER_REJECT, {"reason": "rejected by the simulator's reject fault"})
    session = ctx.session
    order, trades = ctx.venue.exchange.place(
        ctx.acc(), session.id if session is not None else 0, inst.name, side, lots or 0,
        None if order_type == "market" else price, type=order_type or "limit", tif=tif or "good_til_cancelled",
        post_only=post_only and order_type == "limit", reject_post_only=reject_post_only,
        reduce_only=reduce_only, label=label, mmp=mmp)
    return _order_reply(ctx, inst, order, trades)


@method("private/buy", private=True, matching=True)
def buy(ctx: Ctx) -> dict[str, Any]:
    return _place(ctx, BUY)


@method("private/sell", private=True, matching=True)
def sell(ctx: Ctx) -> dict[str, Any]:
    return _place(ctx, SELL)


@method("private/edit", private=True, matching=True)
def edit(ctx: Ctx) -> dict[str, Any]:
    return _edit(ctx, ctx.venue.exchange.user_order(ctx.acc(), ctx.p.str_("order_id", required=True)))


def _edit(ctx: Ctx, order: Any) -> dict[str, Any]:
    exchange = ctx.venue.exchange
    inst = exchange.instruments[order.instrument]
    lots = _lots(ctx, inst, required=False)
    price = _ticks(ctx, inst, required=False)
    post_only = ctx.p.bool_("post_only") if "post_only" in ctx.p else None
    reject = ctx.p.bool_("reject_post_only") if "reject_post_only" in ctx.p else None
    if ctx.venue.config.faults.take_reject():
        raise RpcError(OTHER_REJECT, {"reason": "rejected by the simulator's reject fault"})
    order, trades = exchange.edit(ctx.acc(), order, order.lots if lots is None else lots, price, post_only, reject)
    return _order_reply(ctx, inst, order, trades)


@method("private/cancel", private=True, matching=True)
def cancel(ctx: Ctx) -> dict[str, Any]:
    exchange = ctx.venue.exchange
    order = exchange.cancel(ctx.acc(), exchange.user_order(ctx.acc(), ctx.p.str_("order_id", required=True)))
    return msg.order_json(exchange.instruments[order.instrument], order, ctx.acc().user_id)


def _cancel_result(ctx: Ctx, orders: list[Any]) -> Any:
    if ctx.p.bool_("detailed"):
        exchange = ctx.venue.exchange
        return [msg.order_json(exchange.instruments[o.instrument], o, ctx.acc().user_id) for o in orders]
    return len(orders)


@method("private/cancel_all", private=True, matching=True)
def cancel_all(ctx: Ctx) -> Any:
    return _cancel_result(ctx, ctx.venue.exchange.cancel_where(ctx.acc()))


@method("private/cancel_all_by_instrument", private=True, matching=True)
def cancel_all_by_instrument(ctx: Ctx) -> Any:
    inst = instrument_param(ctx)
    return _cancel_result(ctx, ctx.venue.exchange.cancel_where(ctx.acc(), instrument=inst.name))


@method("private/cancel_all_by_currency", private=True, matching=True)
def cancel_all_by_currency(ctx: Ctx) -> Any:
    currency = currency_param(ctx)
    kind = kind_param(ctx)
    match: dict[str, Any] = {"kind": kind}
    if currency != "any":
        match["currency"] = currency
    return _cancel_result(ctx, ctx.venue.exchange.cancel_where(ctx.acc(), **match))


@method("private/cancel_by_label", private=True, matching=True)
def cancel_by_label(ctx: Ctx) -> Any:
    label = ctx.p.str_("label", required=True)
    currency = currency_param(ctx, required=False)
    match: dict[str, Any] = {"label": label}
    if currency not in (None, "any"):
        match["currency"] = currency
    return _cancel_result(ctx, ctx.venue.exchange.cancel_where(ctx.acc(), **match))


def _orders_json(ctx: Ctx, keep: Callable[[Instrument], bool]) -> list[dict[str, Any]]:
    exchange = ctx.venue.exchange
    out = []
    for order in exchange.open_orders(ctx.acc()):
        inst = exchange.instruments[order.instrument]
        if keep(inst):
            out.append(msg.order_json(inst, order, ctx.acc().user_id))
    return out


def _instrument_filter(ctx: Ctx) -> Callable[[Instrument], bool]:
    name = instrument_param(ctx).name
    return lambda i: i.name == name


def _by_currency_and_instrument(prefix: str, listing: Callable[[Ctx, Callable[[Instrument], bool]], Any]) -> None:
    """Register ``{prefix}_by_currency`` (currency + kind) and ``{prefix}_by_instrument`` over one listing."""
    method(f"{prefix}_by_currency", private=True)(lambda ctx: listing(ctx, currency_kind_filter(ctx)))
    method(f"{prefix}_by_instrument", private=True)(lambda ctx: listing(ctx, _instrument_filter(ctx)))


_by_currency_and_instrument("private/get_open_orders", _orders_json)


@method("private/get_open_orders", private=True)
def open_orders(ctx: Ctx) -> list[dict[str, Any]]:
    kind = kind_param(ctx)
    return _orders_json(ctx, lambda i: kind in (None, "any", i.kind))


@method("private/get_order_state", private=True)
def get_order_state(ctx: Ctx) -> dict[str, Any]:
    exchange = ctx.venue.exchange
    order = exchange.user_order(ctx.acc(), ctx.p.str_("order_id", required=True))
    return msg.order_json(exchange.instruments[order.instrument], order, ctx.acc().user_id)


@method("private/get_open_orders_by_label", private=True)
def open_orders_by_label(ctx: Ctx) -> list[dict[str, Any]]:
    currency = currency_param(ctx)
    label = ctx.p.str_("label", required=True, max_len=64)
    exchange = ctx.venue.exchange
    return [msg.order_json(exchange.instruments[o.instrument], o, ctx.acc().user_id)
            for o in exchange.open_orders(ctx.acc())
            if o.label == label and currency in ("any", exchange.instruments[o.instrument].currency)]


def _history(ctx: Ctx, keep: Callable[[Instrument], bool]) -> list[dict[str, Any]]:
    """Closed orders newest first: ``count`` (default 20), ``offset``; unfilled cancels only with
    ``include_unfilled`` (Deribit's default leaves them out)."""
    count = ctx.p.int_("count", default=20, lo=1, hi=1000) or 20
    offset = ctx.p.int_("offset", default=0, lo=0) or 0
    unfilled = ctx.p.bool_("include_unfilled")
    ctx.p.bool_("include_old")
    exchange = ctx.venue.exchange
    picked = [o for o in exchange.order_history(ctx.acc())
              if keep(exchange.instruments[o.instrument]) and (unfilled or o.filled > 0)]
    return [msg.order_json(exchange.instruments[o.instrument], o, ctx.acc().user_id)
            for o in picked[offset:offset + count]]


_by_currency_and_instrument("private/get_order_history", _history)


@method("private/close_position", private=True, matching=True)
def close_position(ctx: Ctx) -> dict[str, Any]:
    """A reduce-only order for the whole position, opposite to it (limit at ``price`` or market)."""
    inst = instrument_param(ctx)
    order_type = ctx.p.str_("type", required=True, choices=ORDER_TYPES)
    price = _ticks(ctx, inst, required=order_type == "limit")
    pos = ctx.acc().positions.get(inst.name)
    lots = round(abs(pos.size) / inst.min_trade_amount) if pos is not None else 0
    if lots == 0:
        raise RpcError(ALREADY_CLOSED, {"reason": "no open position"})
    side = SELL if pos is not None and pos.size > 0 else BUY
    session = ctx.session
    order, trades = ctx.venue.exchange.place(
        ctx.acc(), session.id if session is not None else 0, inst.name, side, lots,
        None if order_type == "market" else price, type=order_type or "limit", reduce_only=True)
    return _order_reply(ctx, inst, order, trades)


@method("private/edit_by_label", private=True, matching=True)
def edit_by_label(ctx: Ctx) -> dict[str, Any]:
    """``private/edit`` of the one open order with ``label`` on ``instrument_name`` (13032 when several)."""
    inst = instrument_param(ctx)
    label = ctx.p.str_("label", required=True, max_len=64)
    exchange = ctx.venue.exchange
    matches = [o for o in exchange.open_orders(ctx.acc()) if o.label == label and o.instrument == inst.name]
    if not matches:
        raise RpcError(ORDER_NOT_FOUND, {"param": "label", "reason": "no open order with this label"})
    if len(matches) > 1:
        raise RpcError(NON_UNIQUE_ORDER_LABEL, {"param": "label", "reason": "several open orders have this label"})
    return _edit(ctx, matches[0])
