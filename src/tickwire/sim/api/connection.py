"""Connection methods: authentication, test/time, heartbeats, subscriptions."""
from __future__ import annotations

import hmac
import time
from typing import Any

from tickwire.sim.api.registry import Ctx, method
from tickwire.sim.channels import parse_channel
from tickwire.deribit.errors import INTERNAL_SERVER_ERROR, INVALID_CREDENTIALS, RAW_SUBSCRIPTIONS_NOT_AVAILABLE_FOR_UNAUTHORIZED
from tickwire.sim.errors import RpcError, invalid_param

API_VERSION = "1.2.26"


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
        signature = ctx.p.str_("signature", required=True, max_len=128) or ""
        nonce = ctx.p.str_("nonce", default="", max_len=256) or ""
        data = ctx.p.str_("data", default="", max_len=4096) or ""
        venue.signatures.verify(client_id, stamp, nonce, data, signature, INVALID_CREDENTIALS)
    else:
        refresh = ctx.p.str_("refresh_token", required=True) or ""
        client_id = venue.redeem_refresh(refresh)
    result = venue.issue_token(client_id)
    if (state := ctx.p.str_("state")) is not None:
        result["state"] = state
    if ctx.session is not None:
        ctx.session.login(venue.exchange.account(client_id), result["access_token"])
    venue.exchange.feed.user_notice(client_id, "user.access_log", {
        "timestamp": time.time_ns() // 1_000_000, "log": "success", "ip": "127.0.0.1", "id": ctx.session.id
        if ctx.session is not None else 0, "country": "-", "city": "-"})
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
        if not spec.private and spec.interval == "raw" and spec.kind in ("book", "trades", "ticker", "perpetual") \
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


@method("public/hello")
def hello(ctx: Ctx) -> dict[str, str]:
    ctx.p.str_("client_name", required=True, max_len=64)
    ctx.p.str_("client_version", required=True, max_len=64)
    return {"version": API_VERSION}


@method("public/status")
def status(ctx: Ctx) -> dict[str, Any]:
    return {"locked": "false", "locked_indices": []}


@method("public/fork_token")
def fork_token(ctx: Ctx) -> dict[str, Any]:
    """A new session's token pair from a refresh token (the refresh token is used up)."""
    refresh = ctx.p.str_("refresh_token", required=True) or ""
    ctx.p.str_("session_name", required=True, max_len=64)
    return ctx.venue.issue_token(ctx.venue.redeem_refresh(refresh))


@method("public/exchange_token")
def exchange_token(ctx: Ctx) -> dict[str, Any]:
    """A token for ``subject_id``: the simulator has no subaccounts, so only the account's own user id."""
    refresh = ctx.p.str_("refresh_token", required=True) or ""
    subject = ctx.p.int_("subject_id", required=True)
    venue = ctx.venue
    client_id = venue.peek_refresh(refresh)
    if subject != venue.exchange.account(client_id).user_id:
        raise invalid_param("subject_id", "not this account or one of its subaccounts")
    return venue.issue_token(venue.redeem_refresh(refresh))


@method("private/logout", private=True, ws_only=True)
def logout(ctx: Ctx) -> str:
    """Ends the session: with ``invalidate_token`` (default true) every token of the account stops working;
    the connection closes right after this answer."""
    invalidate = ctx.p.bool_("invalidate_token", default=True)
    session = ctx.session
    assert session is not None
    if invalidate:
        ctx.venue.revoke_tokens(ctx.acc().name)
    # close on the next loop turn: the answer may still sit in the current write batch
    ctx.after.append(lambda: session.loop.call_soon(session.close))
    return "ok"
