"""Connection methods: authentication, test/time, heartbeats, subscriptions."""
from __future__ import annotations

import hashlib
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
