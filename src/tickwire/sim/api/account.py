"""Account methods: positions, account summary, user trades, cancel-on-disconnect."""
from __future__ import annotations

from typing import Any

from tickwire.sim.api.registry import Ctx, currency_param, instrument_param, kind_param, method
from tickwire.sim.errors import invalid_param


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
        data.update(id=acc.user_id, username=acc.name, type="main", system_name=acc.name, email="",
                    creation_timestamp=1534167754000, self_trading_reject_mode="cancel_maker")
    return data


@method("private/get_user_trades_by_instrument", private=True)
def get_user_trades_by_instrument(ctx: Ctx) -> dict[str, Any]:
    inst = instrument_param(ctx)
    count = ctx.p.int_("count", default=10, lo=1, hi=1000) or 10
    sorting = ctx.p.str_("sorting", default="desc", choices=("asc", "desc", "default"))
    trades = list(ctx.venue.exchange.user_trades.get((ctx.acc().name, inst.name), ()))
    if sorting != "asc":
        trades.reverse()
    return {"trades": trades[:count], "has_more": len(trades) > count}


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
