"""JSON-RPC envelope: decode a request, check auth and rate limits, call the method, encode the answer.

Shared by the WebSocket sessions and the HTTP endpoint. Never raises: every failure becomes Deribit's error.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from tickwire.deribit.errors import BAD_REQUEST, INTERNAL_SERVER_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, MUST_BE_WEBSOCKET_REQUEST, PARSE_ERROR, TOO_MANY_REQUESTS, UNAUTHORIZED
from tickwire.sim.errors import RpcError
from tickwire.sim.api import METHODS, Ctx, MethodSpec
from tickwire.sim.params import Params

if TYPE_CHECKING:
    from tickwire.sim.session import Session
    from tickwire.sim.venue import Venue

log = logging.getLogger("tickwire.sim")


class Outcome(NamedTuple):
    """What to answer: request id, result or error, the method (None when unknown) and post-answer work."""

    rid: Any
    result: Any
    error: RpcError | None
    spec: MethodSpec | None
    after: list[Callable[[], None]]


def _fail(rid: Any, code: int, data: dict[str, Any] | None = None, spec: MethodSpec | None = None) -> Outcome:
    return Outcome(rid, None, RpcError(code, data), spec, [])


def handle(venue: Venue, session: Session | None, payload: bytes | str | dict[str, Any], *,
           bearer: str | None = None, client_id: str | None = None, lenient: bool = False) -> Outcome:
    """Run one request. ``payload`` is the raw message (or an already-built request object for HTTP GET);
    ``bearer`` / ``client_id`` are what an HTTP Authorization header carried (the id already verified)."""
    if isinstance(payload, dict):
        request: Any = payload
    else:
        if len(payload) > venue.config.max_message_bytes:
            return _fail(None, BAD_REQUEST, {"reason": f"message larger than {venue.config.max_message_bytes} bytes"})
        try:
            request = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return _fail(None, PARSE_ERROR)
    if not isinstance(request, dict):
        return _fail(None, INVALID_REQUEST, {"reason": "request must be a JSON object"})
    rid = request.get("id")
    if rid is not None and (isinstance(rid, bool) or not isinstance(rid, (int, str))):
        return _fail(None, INVALID_REQUEST, {"param": "id", "reason": "must be an integer or a string"})
    name = request.get("method")
    if not isinstance(name, str):
        return _fail(rid, INVALID_REQUEST, {"param": "method", "reason": "must be a string"})
    spec = METHODS.get(name)
    if spec is None:
        return _fail(rid, METHOD_NOT_FOUND)
    if spec.ws_only and session is None:
        return _fail(rid, MUST_BE_WEBSOCKET_REQUEST, spec=spec)
    try:
        params = Params(request.get("params"), lenient)
        account = venue.resolve_account(session, params.str_("access_token") or bearer)
        if account is None and client_id is not None:
            account = venue.exchange.account(client_id)
    except RpcError as exc:
        return Outcome(rid, None, exc, spec, [])
    if spec.private and account is None:
        return _fail(rid, UNAUTHORIZED, spec=spec)
    if not spec.sim:
        limiter = venue.limiter_for(account.name) if account is not None else (
            session.limiter if session is not None else venue.http_limiter)
        if not limiter.allow(spec.matching, venue.config.faults.squeeze):
            return _fail(rid, TOO_MANY_REQUESTS, spec=spec)
    ctx = Ctx(venue, session, account, params, [])
    try:
        result = spec.fn(ctx)
    except RpcError as exc:
        return Outcome(rid, None, exc, spec, [])
    except Exception:  # a bug must not take the venue down: answer as Deribit does and log it
        log.exception("method %s failed", name)
        return _fail(rid, INTERNAL_SERVER_ERROR, spec=spec)
    return Outcome(rid, result, None, spec, ctx.after)


def encode(outcome: Outcome, us_in: int, testnet: bool) -> tuple[bytes, int]:
    """The response bytes (usIn/usOut/usDiff/testnet on every answer) and the send time in ns."""
    ns = time.time_ns()
    us_out = ns // 1000
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": outcome.rid}
    if outcome.error is None:
        body["result"] = outcome.result
    else:
        body["error"] = outcome.error.to_json()
    body["usIn"] = us_in
    body["usOut"] = us_out
    body["usDiff"] = us_out - us_in
    body["testnet"] = testnet
    return orjson.dumps(body), ns
