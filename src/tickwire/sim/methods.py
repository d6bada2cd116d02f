"""The JSON-RPC methods of the simulator: parameter validation and the call into the venue.

Each handler takes a ``Ctx`` and returns the ``result``; it raises RpcError for Deribit's errors. Work that
must follow the response on the wire (a subscription's first snapshot) goes into ``ctx.after``.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tickwire.sim import messages as msg
from tickwire.sim.accounts import Account
from tickwire.sim.channels import parse_channel
from tickwire.sim.errors import (INTERNAL_SERVER_ERROR, INVALID_AMOUNT, INVALID_CREDENTIALS, OTHER_REJECT,
                                 PRICE_WRONG_TICK, QTY_TOO_LOW,
                                 RAW_SUBSCRIPTIONS_NOT_AVAILABLE_FOR_UNAUTHORIZED, RpcError, invalid_param)
from tickwire.sim.instruments import Instrument
from tickwire.sim.matching import BUY, SELL, TIME_IN_FORCE
from tickwire.sim.params import Params

if TYPE_CHECKING:
    from tickwire.sim.session import Session
    from tickwire.sim.venue import Venue

API_VERSION = "1.2.26"
ORDER_TYPES = ("limit", "market")
CURRENCIES = ("BTC", "ETH", "USDC", "any")


@dataclass
class Ctx:
    """One request being handled."""

    venue: Venue
    session: Session | None        # None for HTTP
    account: Account | None
    p: Params
    after: list[Callable[[], None]]

    def acc(self) -> Account:
        assert self.account is not None  # dispatch checks private methods before calling
        return self.account


@dataclass(frozen=True)
class MethodSpec:
    fn: Callable[[Ctx], Any]
    private: bool = False
    matching: bool = False     # counts against the matching-engine rate limit
    ws_only: bool = False
    sim: bool = False          # simulator-only method: no rate limit


METHODS: dict[str, MethodSpec] = {}


def method(*names: str, private: bool = False, matching: bool = False, ws_only: bool = False, sim: bool = False
           ) -> Callable[[Callable[[Ctx], Any]], Callable[[Ctx], Any]]:
    def register(fn: Callable[[Ctx], Any]) -> Callable[[Ctx], Any]:
        for name in names:
            METHODS[name] = MethodSpec(fn, private, matching, ws_only, sim)
        return fn
    return register


def _instrument(ctx: Ctx, name: str = "instrument_name") -> Instrument:
    value = ctx.p.str_(name, required=True)
    inst = ctx.venue.exchange.instruments.get(value or "")
    if inst is None:
        raise invalid_param(name, "instrument not found")
    return inst


def _currency(ctx: Ctx, required: bool = True) -> str | None:
    value = ctx.p.str_("currency", required=required)
    if value is None:
        return None
    if value.upper() not in ("BTC", "ETH", "USDC", "ANY"):
        raise invalid_param("currency", "must be one of BTC, ETH, USDC, any")
    return "any" if value.lower() == "any" else value.upper()


def _kind(ctx: Ctx) -> str | None:
    return ctx.p.str_("kind", choices=("future", "option", "spot", "future_combo", "option_combo", "any"))


# --- session ---
@method("public/auth")
def auth(ctx: Ctx) -> dict[str, Any]:
    grant = ctx.p.str_("grant_type", required=True, choices=("client_credentials", "client_signature",
                                                              "refresh_token"))
    venue = ctx.venue
    if grant == "client_credentials":
        client_id = ctx.p.str_("client_id", required=True) or ""
        secret = ctx.p.str_("client_secret", required=True) or ""
        expected = venue.config.credentials.get(client_id)
        if expected is None or not hmac.compare_digest(expected, secret):
            raise RpcError(INVALID_CREDENTIALS)
    elif grant == "client_signature":
        client_id = ctx.p.str_("client_id", required=True) or ""
        stamp = ctx.p.int_("timestamp", required=True) or 0
        signature = ctx.p.str_("signature", required=True) or ""
        nonce = ctx.p.str_("nonce", default="") or ""
        data = ctx.p.str_("data", default="") or ""
        expected = venue.config.credentials.get(client_id)
        if expected is None:
            raise RpcError(INVALID_CREDENTIALS)
        want = hmac.new(expected.encode(), f"{stamp}\n{nonce}\n{data}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, signature.lower()) or abs(time.time() * 1000 - stamp) > 60_000:
            raise RpcError(INVALID_CREDENTIALS)
    else:
        refresh = ctx.p.str_("refresh_token", required=True) or ""
        client_id = venue.redeem_refresh(refresh)
    result = venue.issue_token(client_id)
    if (state := ctx.p.str_("state")) is not None:
        result["state"] = state
    if ctx.session is not None:
        ctx.session.login(venue.exchange.account(client_id), result["access_token"])
    return result


@method("public/test")
def test(ctx: Ctx) -> dict[str, str]:
    if ctx.session is not None:
        ctx.session.test_answered()
    if ctx.p.str_("expected_result") == "exception":
        raise RpcError(INTERNAL_SERVER_ERROR)
    return {"version": API_VERSION}


@method("public/get_time")
def get_time(ctx: Ctx) -> int:
    return time.time_ns() // 1_000_000


@method("public/set_heartbeat", ws_only=True)
def set_heartbeat(ctx: Ctx) -> str:
    interval = ctx.p.num("interval", required=True) or 0.0
    minimum = ctx.venue.config.heartbeat_min_s
    if interval < minimum:
        raise invalid_param("interval", f"must be >= {minimum:g}")
    assert ctx.session is not None
    ctx.session.start_heartbeat(interval)
    return "ok"


@method("public/disable_heartbeat", ws_only=True)
def disable_heartbeat(ctx: Ctx) -> str:
    assert ctx.session is not None
    ctx.session.stop_heartbeat()
    return "ok"


# --- subscriptions ---
def _subscribe(ctx: Ctx, private: bool) -> list[str]:
    channels = ctx.p.str_list("channels", required=True)
    session = ctx.session
    assert session is not None
    authorized = session.authorized()
    specs = []
    for name in channels:
        spec = parse_channel(name, ctx.venue.exchange.instruments)
        if spec is None or (spec.private and not private):
            continue  # Deribit silently leaves out channels it cannot serve
        if not spec.private and spec.interval == "raw" and spec.kind in ("book", "trades", "ticker") \
                and not authorized:
            raise RpcError(RAW_SUBSCRIPTIONS_NOT_AVAILABLE_FOR_UNAUTHORIZED)
        if spec.name not in (s.name for s in specs):
            specs.append(spec)
    feed = ctx.venue.exchange.feed
    ctx.after.extend((lambda s=spec: feed.subscribe(session, s)) for spec in specs)
    return [spec.name for spec in specs]


@method("public/subscribe", ws_only=True)
def public_subscribe(ctx: Ctx) -> list[str]:
    return _subscribe(ctx, private=False)


@method("private/subscribe", private=True, ws_only=True)
def private_subscribe(ctx: Ctx) -> list[str]:
    return _subscribe(ctx, private=True)


@method("public/unsubscribe", "private/unsubscribe", ws_only=True)
def unsubscribe(ctx: Ctx) -> list[str]:
    channels = ctx.p.str_list("channels", required=True)
    assert ctx.session is not None
    feed = ctx.venue.exchange.feed
    return [name for name in channels if feed.unsubscribe(ctx.session, name)]


@method("public/unsubscribe_all", "private/unsubscribe_all", ws_only=True)
def unsubscribe_all(ctx: Ctx) -> str:
    assert ctx.session is not None
    ctx.venue.exchange.feed.unsubscribe_all(ctx.session)
    return "ok"


# --- market data ---
@method("public/get_instruments")
def get_instruments(ctx: Ctx) -> list[dict[str, Any]]:
    currency = _currency(ctx)
    kind = _kind(ctx)
    if ctx.p.bool_("expired"):
        return []
    return [i.to_json() for i in ctx.venue.exchange.instruments.values()
            if currency in ("any", i.currency) and kind in (None, "any", i.kind)]


@method("public/get_instrument")
def get_instrument(ctx: Ctx) -> dict[str, Any]:
    return _instrument(ctx).to_json()


@method("public/get_order_book")
def get_order_book(ctx: Ctx) -> dict[str, Any]:
    inst = _instrument(ctx)
    depth = ctx.p.int_("depth", default=None)
    if depth is not None and depth not in (1, 5, 10, 20, 50, 100, 1000, 10000):
        raise invalid_param("depth", "must be one of 1, 5, 10, 20, 50, 100, 1000, 10000")
    return msg.order_book_json(ctx.venue.exchange.state(inst.name), depth or 20, _now_ms())


@method("public/ticker")
def ticker(ctx: Ctx) -> dict[str, Any]:
    inst = _instrument(ctx)
    return msg.ticker_json(ctx.venue.exchange.state(inst.name), _now_ms())


# --- trading ---
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
    inst = _instrument(ctx)
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
    if ctx.venue.config.faults.take_reject():
        raise RpcError(OTHER_REJECT, {"reason": "rejected by the simulator's reject fault"})
    session = ctx.session
    order, trades = ctx.venue.exchange.place(
        ctx.acc(), session.id if session is not None else 0, inst.name, side, lots or 0,
        None if order_type == "market" else price, type=order_type or "limit", tif=tif or "good_til_cancelled",
        post_only=post_only and order_type == "limit", reject_post_only=reject_post_only,
        reduce_only=reduce_only, label=label)
    return _order_reply(ctx, inst, order, trades)


@method("private/buy", private=True, matching=True)
def buy(ctx: Ctx) -> dict[str, Any]:
    return _place(ctx, BUY)


@method("private/sell", private=True, matching=True)
def sell(ctx: Ctx) -> dict[str, Any]:
    return _place(ctx, SELL)


@method("private/edit", private=True, matching=True)
def edit(ctx: Ctx) -> dict[str, Any]:
    exchange = ctx.venue.exchange
    order = exchange.user_order(ctx.acc(), ctx.p.str_("order_id", required=True))
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
    inst = _instrument(ctx)
    return _cancel_result(ctx, ctx.venue.exchange.cancel_where(ctx.acc(), instrument=inst.name))


@method("private/cancel_all_by_currency", private=True, matching=True)
def cancel_all_by_currency(ctx: Ctx) -> Any:
    currency = _currency(ctx)
    kind = _kind(ctx)
    match: dict[str, Any] = {"kind": kind}
    if currency != "any":
        match["currency"] = currency
    return _cancel_result(ctx, ctx.venue.exchange.cancel_where(ctx.acc(), **match))


@method("private/cancel_by_label", private=True, matching=True)
def cancel_by_label(ctx: Ctx) -> Any:
    label = ctx.p.str_("label", required=True)
    currency = _currency(ctx, required=False)
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


@method("private/get_open_orders_by_currency", private=True)
def open_orders_by_currency(ctx: Ctx) -> list[dict[str, Any]]:
    currency = _currency(ctx)
    kind = _kind(ctx)
    return _orders_json(ctx, lambda i: currency in ("any", i.currency) and kind in (None, "any", i.kind))


@method("private/get_open_orders_by_instrument", private=True)
def open_orders_by_instrument(ctx: Ctx) -> list[dict[str, Any]]:
    inst = _instrument(ctx)
    return _orders_json(ctx, lambda i: i.name == inst.name)


@method("private/get_open_orders", private=True)
def open_orders(ctx: Ctx) -> list[dict[str, Any]]:
    kind = _kind(ctx)
    return _orders_json(ctx, lambda i: kind in (None, "any", i.kind))


@method("private/get_order_state", private=True)
def get_order_state(ctx: Ctx) -> dict[str, Any]:
    exchange = ctx.venue.exchange
    order = exchange.user_order(ctx.acc(), ctx.p.str_("order_id", required=True))
    return msg.order_json(exchange.instruments[order.instrument], order, ctx.acc().user_id)


@method("private/get_position", private=True)
def get_position(ctx: Ctx) -> dict[str, Any]:
    inst = _instrument(ctx)
    st = ctx.venue.exchange.state(inst.name)
    return ctx.acc().position(inst).to_json(st.mark, st.index)


@method("private/get_positions", private=True)
def get_positions(ctx: Ctx) -> list[dict[str, Any]]:
    currency = _currency(ctx, required=False) or "any"
    kind = _kind(ctx)
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
    currency = _currency(ctx)
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
    inst = _instrument(ctx)
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


# --- simulator-only ---
@method("sim/get_send_times", sim=True)
def get_send_times(ctx: Ctx) -> dict[str, Any]:
    """Send times (CLOCK_REALTIME ns) of book messages of ``channel`` after change_id ``since``, and of this
    connection's answered requests (``ids``: only those; ``connection_id``: another connection's)."""
    times = ctx.venue.exchange.feed.times
    count = ctx.p.int_("count", default=100_000, lo=1, hi=1_000_000) or 100_000
    out: dict[str, Any] = {}
    channel = ctx.p.str_("channel")
    if channel is not None:
        out["channel"] = channel
        out["book"] = times.book_since(channel, ctx.p.int_("since", default=0) or 0, count)
    conn = ctx.p.int_("connection_id")
    if conn is None and ctx.session is not None:
        conn = ctx.session.id
    ids_raw = ctx.p.raw.get("ids")
    if ids_raw is not None and (not isinstance(ids_raw, list) or not all(
            isinstance(i, (int, str)) and not isinstance(i, bool) for i in ids_raw)):
        raise invalid_param("ids", "must be an array of request ids")
    out["connection_id"] = conn
    out["requests"] = times.requests_of(conn or 0, ids_raw, count)
    return out


@method("sim/control", sim=True)
def control(ctx: Ctx) -> dict[str, Any]:
    """Change faults (``gap``, ``drop``, ``delay_ms``, ``reject``, ``slow_ack_ms``, ``squeeze``, ``close_every``)
    and/or close connections now (``close``: "self" | "others" | "all", after this answer)."""
    raw = dict(ctx.p.raw)
    close = raw.pop("close", None)
    raw.pop("access_token", None)
    if close is not None and close not in ("self", "others", "all"):
        raise invalid_param("close", "must be self, others or all")
    try:
        ctx.venue.config.faults.update(raw)
    except ValueError as exc:
        raise invalid_param("faults", str(exc)) from None
    if close is not None:
        me = ctx.session.id if ctx.session is not None else None
        ctx.after.append(lambda: ctx.venue.close_sessions(close, me))
    return {"faults": ctx.venue.config.faults.to_json(), "connections": len(ctx.venue.sessions)}


@method("sim/get_stats", sim=True)
def get_stats(ctx: Ctx) -> dict[str, Any]:
    """Counters: flow events, book messages written, connections, orders."""
    venue = ctx.venue
    return {"flow_events": venue.flow.events, "flow_skipped": venue.flow.skipped,
            "book_messages_sent": venue.exchange.feed.sent_book,
            "connections": len(venue.sessions), "orders": len(venue.exchange.orders),
            "change_ids": {n: st.change_id for n, st in venue.exchange.states.items()},
            "listener_errors": list(venue.exchange.listener_errors)}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
