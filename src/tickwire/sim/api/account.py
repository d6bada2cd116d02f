"""Account methods: positions, account summaries, user trades, transaction log, margins, cancel-on-disconnect."""
from __future__ import annotations

from typing import Any

from tickwire.sim.api.registry import (Ctx, currency_param, instrument_param, kind_param, method, time_range,
                                       trades_page, with_time_range)
from tickwire.sim.errors import invalid_param
from tickwire.sim.instruments import Instrument

IM_RATE = 0.02       # initial margin of futures: 2% of the position value (the account summary's rate)
PRICE_BAND = 0.015   # min/max order price around the mark (as in the ticker)


@method("private/get_position", private=True)
def get_position(ctx: Ctx) -> dict[str, Any]:
    inst = instrument_param(ctx)
    st = ctx.venue.exchange.state(inst.name)
    return ctx.acc().position(inst).to_json(st.mark, st.index)


@method("private/get_positions", private=True)
def get_positions(ctx: Ctx) -> list[dict[str, Any]]:
    currency = currency_param(ctx, required=False) or "any"
    kind = kind_param(ctx)
    exchange = ctx.venue.exchange
    out = []
    for pos in ctx.acc().positions.values():
        inst = pos.instrument
        if currency in ("any", inst.currency) and kind in (None, "any", inst.kind):
            st = exchange.state(inst.name)
            out.append(pos.to_json(st.mark, st.index))
    return out


@method("private/get_account_summary", private=True)
def get_account_summary(ctx: Ctx) -> dict[str, Any]:
    currency = currency_param(ctx)
    if currency not in ("BTC", "ETH"):
        raise invalid_param("currency", "the simulator keeps BTC and ETH accounts")
    acc = ctx.acc()
    data = acc.summary(currency, ctx.venue.exchange.marks(), ctx.venue.limiter_for(acc.name).limits_json())
    if ctx.p.bool_("extended"):
        data.update(_account_info(ctx))
    return data


def _account_info(ctx: Ctx) -> dict[str, Any]:
    """The account-level fields of the extended summary and of get_account_summaries."""
    acc = ctx.acc()
    fees = [{"currency": inst.currency, "instrument_type": inst.kind, "fee_type": "relative",
             "maker_fee": inst.maker_commission, "taker_fee": inst.taker_commission}
            for inst in ctx.venue.exchange.instruments.values()]
    unique = list({(f["currency"], f["instrument_type"]): f for f in fees}.values())
    return {"id": acc.user_id, "username": acc.name, "type": "main", "system_name": acc.name, "email": "",
            "creation_timestamp": 1534167754000, "referrer_id": None, "login_enabled": True,
            "security_keys_enabled": False, "mmp_enabled": bool(acc.mmp), "interuser_transfers_enabled": False,
            "self_trading_reject_mode": "cancel_maker", "self_trading_extended_to_subaccounts": False,
            "block_rfq_self_match_prevention": False, "fees": unique}


@method("private/get_account_summaries", private=True)
def get_account_summaries(ctx: Ctx) -> dict[str, Any]:
    ctx.p.int_("subaccount_id", default=None, lo=0)
    acc = ctx.acc()
    marks, limits = ctx.venue.exchange.marks(), ctx.venue.limiter_for(acc.name).limits_json()
    return dict(_account_info(ctx), summaries=[acc.summary(cur, marks, limits) for cur in ("BTC", "ETH")])


@method("private/enable_cancel_on_disconnect", private=True, ws_only=True)
def enable_cod(ctx: Ctx) -> str:
    scope = ctx.p.str_("scope", default="connection", choices=("connection", "account"))
    assert ctx.session is not None
    ctx.session.set_cod(True, scope or "connection")
    return "ok"


@method("private/disable_cancel_on_disconnect", private=True, ws_only=True)
def disable_cod(ctx: Ctx) -> str:
    scope = ctx.p.str_("scope", default="connection", choices=("connection", "account"))
    assert ctx.session is not None
    ctx.session.set_cod(False, scope or "connection")
    return "ok"


@method("private/get_cancel_on_disconnect", private=True, ws_only=True)
def get_cod(ctx: Ctx) -> dict[str, Any]:
    assert ctx.session is not None
    return {"scope": ctx.session.cod_scope, "enabled": ctx.session.cod_enabled}


def _user_trades(ctx: Ctx, currency: str | None, kind: str | None) -> list[dict[str, Any]]:
    """The account's trades on instruments of ``currency``/``kind``, oldest first."""
    exchange, name = ctx.venue.exchange, ctx.acc().name
    merged = [t for inst in exchange.instruments.values()
              if currency in (None, "any", inst.currency) and kind in (None, "any", inst.kind)
              for t in exchange.user_trades.get((name, inst.name), ())]
    merged.sort(key=lambda t: (t["timestamp"], int(t["trade_id"])))
    return merged


@method("private/get_user_trades_by_instrument", private=True)
def get_user_trades_by_instrument(ctx: Ctx) -> dict[str, Any]:
    inst = instrument_param(ctx)
    trades = list(ctx.venue.exchange.user_trades.get((ctx.acc().name, inst.name), ()))
    return trades_page(ctx, trades, by_seq=True)


method("private/get_user_trades_by_instrument_and_time", private=True)(
    with_time_range(get_user_trades_by_instrument))


@method("private/get_user_trades_by_currency", private=True)
def get_user_trades_by_currency(ctx: Ctx) -> dict[str, Any]:
    currency = currency_param(ctx)
    return trades_page(ctx, _user_trades(ctx, currency, kind_param(ctx)))


method("private/get_user_trades_by_currency_and_time", private=True)(with_time_range(get_user_trades_by_currency))


@method("private/get_user_trades_by_order", private=True)
def get_user_trades_by_order(ctx: Ctx) -> list[dict[str, Any]]:
    exchange = ctx.venue.exchange
    order = exchange.user_order(ctx.acc(), ctx.p.str_("order_id", required=True))
    sorting = ctx.p.str_("sorting", default="asc", choices=("asc", "desc", "default"))
    oid = str(order.oid)
    trades = [t for t in exchange.user_trades.get((ctx.acc().name, order.instrument), ()) if t["order_id"] == oid]
    return trades[::-1] if sorting == "desc" else trades


@method("private/get_transaction_log", private=True)
def get_transaction_log(ctx: Ctx) -> dict[str, Any]:
    currency = currency_param(ctx)
    start, end = time_range(ctx, required=True)
    count = ctx.p.int_("count", default=100, lo=1, hi=250) or 100
    continuation = ctx.p.int_("continuation", default=None, lo=0)
    ctx.p.str_("query", max_len=64)
    logs = [e for e in reversed(ctx.acc().log) if e["currency"] == currency and start <= e["timestamp"] <= end
            and (continuation is None or e["id"] < continuation)]
    page = logs[:count]
    return {"logs": page, "continuation": page[-1]["id"] if len(logs) > count else None}


def _initial_margin(inst: Instrument, lots: int, price: float) -> float:
    """Initial margin in the settlement coin: 2% of the position value for futures, the premium for options."""
    amount = inst.amount(lots)
    if inst.kind == "option":
        return round(amount * price, 10)
    value = amount / price if inst.inverse else amount
    return round(value * IM_RATE, 10)


@method("private/get_margins", private=True)
def get_margins(ctx: Ctx) -> dict[str, Any]:
    inst = instrument_param(ctx)
    amount = ctx.p.num("amount", required=True) or 0.0
    price = ctx.p.num("price", required=True) or 0.0
    if amount <= 0:
        raise invalid_param("amount", "must be positive")
    if price <= 0:
        raise invalid_param("price", "must be positive")
    lots = inst.to_lots(amount)
    if lots is None:
        raise invalid_param("amount", f"must be a multiple of {inst.min_trade_amount:g}")
    st = ctx.venue.exchange.state(inst.name)
    margin = _initial_margin(inst, lots, price)
    band = st.mark * PRICE_BAND
    return {"buy": margin, "sell": margin, "min_price": inst.price(round((st.mark - band) / inst.tick_size)),
            "max_price": inst.price(round((st.mark + band) / inst.tick_size))}


@method("private/get_order_margin_by_ids", private=True)
def get_order_margin_by_ids(ctx: Ctx) -> list[dict[str, Any]]:
    ids = ctx.p.str_list("ids", required=True)
    if len(ids) > 100:
        raise invalid_param("ids", "at most 100 order ids")
    exchange, out = ctx.venue.exchange, []
    for oid in ids:
        order = exchange.user_order(ctx.acc(), oid)
        inst = exchange.instruments[order.instrument]
        margin = _initial_margin(inst, order.remaining, inst.price(order.price or 0)) if order.state == "open" \
            and order.price else 0.0
        out.append({"order_id": str(order.oid), "initial_margin": margin, "initial_margin_currency": inst.currency})
    return out
