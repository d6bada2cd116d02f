"""The Deribit session (slow path, asyncio): authenticate, keep alive, subscribe, reconnect.

:class:`DeribitSession` owns one :class:`~tickwire.deribit.transport.WsTransport` at a time and a
:class:`SessionHandler` (the engine) that receives every byte and is told when the session is ready or lost:

    connect (backoff on failure) -> public/auth (client_signature) -> public/set_heartbeat
    -> private/enable_cancel_on_disconnect -> private/subscribe -> handler.on_ready()  (reconcile)
    ... -> connection lost -> handler.on_lost() (kill switch: stop quoting) -> backoff -> connect again

The token is refreshed (grant_type refresh_token) before it expires; ``test_request`` heartbeats are answered
with public/test. Liveness: when the handler has taken no complete message for two heartbeat intervals (a silent
venue, or one that drips bytes without ever finishing a frame), or two requests in a row time out, the
connection is dropped and made again. Any exception while connecting or reconciling (a malformed answer
included) ends that connection attempt, not the session: the reason is kept in ``last_error`` (shown by
``wait_ready``) and the next attempt comes after an exponential backoff with jitter, capped at
``reconnect_max_ms``, that is reset only by a connection that stayed up for ``2 * reconnect_max_ms``. Non-matching-engine requests spend the client-side credit budget first and wait when it is
empty; a 10028 too_many_requests answer drains the mirror and the request is retried after a backoff.
Credentials are held by :class:`~tickwire.deribit.auth.Credentials`, whose repr hides the secret; no request
params of public/auth are ever logged or put into an exception. Refused credentials and a venue certificate that
does not verify are fatal (:meth:`DeribitSession.wait_ready` raises them); other failures are retried, and the
last one is named when the first session is not ready in time.
"""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson

from tickwire.clock import monotonic_ns
from tickwire.config import CreditConfig, SessionConfig
from tickwire.deribit import credits
from tickwire.deribit.auth import Credentials, auth_params
from tickwire.deribit.errors import FATAL_AUTH_CODES, NOT_SUBSCRIBED, TOO_MANY_REQUESTS, UNAUTHORIZED
from tickwire.deribit.transport import CertificateError, Transport, WsTransport

log = logging.getLogger("tickwire.session")

SLOW_ID_LIMIT = 1 << 40  # JSON-RPC ids below this are slow-path requests; above, the order path's (see loop.py)


class VenueError(Exception):
    """A JSON-RPC error answer: ``code`` and ``message`` from the venue (never the request's params)."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method}: {code} {message}")
        self.method, self.code, self.message = method, code, message


class MalformedAnswer(VenueError):
    """A venue answer or notification that fails validation (wrong type, missing field, impossible value): it
    changes no state."""

    def __init__(self, method: str, what: str) -> None:
        super().__init__(method, 0, f"malformed answer: {what}")


class SessionClosed(ConnectionError):
    """The request could not complete because the connection went away."""


class SessionHandler(Protocol):
    """What the session needs from the engine."""

    def on_bytes(self, data: bytes, tsc: int) -> None: ...
    async def on_ready(self, session: DeribitSession) -> None: ...
    def on_lost(self, reason: str) -> None: ...
    def messages_received(self) -> int: ...  # complete messages taken so far (liveness: must keep moving)


class DeribitSession:
    """One logical session to the venue, surviving reconnects (see the module docstring)."""

    def __init__(self, url: str, creds: Credentials, channels: list[str], handler: SessionHandler,
                 cfg: SessionConfig = SessionConfig(), credit_cfg: CreditConfig = CreditConfig(),
                 open_transport: Callable[..., Awaitable[Any]] | None = None) -> None:
        self.url, self.creds, self.channels, self.handler, self.cfg = url, creds, channels, handler, cfg
        # how a connection is made: kernel TCP (WsTransport.open) or the userspace stack (UtcpNetwork.open)
        self._open_transport = open_transport or WsTransport.open
        self.transport: Transport | None = None
        self.connected = asyncio.Event()
        self.ready = asyncio.Event()
        self.failed: Exception | None = None
        self._failed = asyncio.Event()
        self.reconnects = 0
        self.rate_limited = 0
        self.refreshes = 0
        self.scope = ""  # what the venue granted (public/auth's scope)
        self.last_error = ""
        self.test_requests = 0
        self.liveness_drops = 0
        self.last_error = ""
        self._timeouts_in_row = 0
        self._watchdog: asyncio.Task[None] | None = None
        self.credit = credits.new_budget(credit_cfg, monotonic_ns())
        self._next_id = 1
        self.last_request_id = 0  # the id of the latest request sent
        self._pending: dict[int, tuple[str, asyncio.Future[Any]]] = {}
        self._stop = asyncio.Event()
        self._lost = asyncio.Event()
        self._refresh_token = ""
        self._refresh_task: asyncio.Task[None] | None = None
        self._runner: asyncio.Task[None] | None = None

    # --- lifecycle ---
    def start(self) -> asyncio.Task[None]:
        self._runner = asyncio.get_running_loop().create_task(self._run(), name="deribit-session")
        return self._runner

    async def stop(self) -> None:
        self._stop.set()
        self._lost.set()
        if self.transport is not None:
            self.transport.close()
        for task in (self._refresh_task, self._watchdog, self._runner):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                    pass
        self._fail_pending("session stopped")

    async def wait_ready(self, timeout_s: float) -> None:
        """Until the first session is ready; raises the fatal error (e.g. refused credentials) or TimeoutError."""
        ready = asyncio.ensure_future(self.ready.wait())
        failed = asyncio.ensure_future(self._failed.wait())
        try:
            await asyncio.wait({ready, failed}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            failed.cancel()
        if self.failed is not None:
            raise self.failed
        if self._runner is not None and self._runner.done() and not self._runner.cancelled():
            self._runner.result()  # the session loop itself died: raise its exception
        if not self.ready.is_set():
            why = f" (last error: {self.last_error})" if self.last_error else ""
            raise asyncio.TimeoutError(f"no session with {self.url} within {timeout_s:g}s{why}")

    def drop_connection(self) -> None:
        """Close the socket as if the network failed (the session reconnects); for the CLI and tests."""
        if self.transport is not None:
            self.transport.close()

    async def _run(self) -> None:
        attempt = 0
        stable_ns = 2 * self.cfg.reconnect_max_ms * 1_000_000
        while not self._stop.is_set():
            up_since = 0
            try:
                await self._connect_once()
                up_since = monotonic_ns()
                await self._lost.wait()
            except (VenueError, CertificateError) as exc:
                self._note_error(exc)
                if isinstance(exc, CertificateError) or (exc.method == "public/auth" and exc.code in FATAL_AUTH_CODES):
                    self.failed = exc
                    self._failed.set()
                    self._stop.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure ends this connection, never the session
                self._note_error(exc)
            finally:
                self._teardown()
            if self._stop.is_set():
                break
            if up_since and monotonic_ns() - up_since >= stable_ns:
                attempt = 0  # only a connection that stayed up resets the backoff
            self.reconnects += 1
            delay = min(self.cfg.reconnect_max_ms, self.cfg.reconnect_min_ms * 2 ** min(attempt, 16)) / 1e3
            attempt += 1
            try:
                await asyncio.wait_for(self._stop.wait(), delay * random.uniform(0.5, 1.0))
            except asyncio.TimeoutError:
                pass

    def _note_error(self, exc: BaseException) -> None:
        self.last_error = describe(exc)
        log.warning("session: %s", self.last_error)

    async def _connect_once(self) -> None:
        self._lost.clear()
        self._timeouts_in_row = 0
        self.transport = await self._open_transport(self.url, self._on_bytes, self._on_transport_lost,
                                                    self.cfg.socket_profile, cafile=self.cfg.cafile)
        self.connected.set()
        auth = await self.request("public/auth", auth_params(self.creds, self.cfg.auth, self.cfg.scope))
        self.scope = str(auth.get("scope", "")) if isinstance(auth, dict) else ""
        self._schedule_refresh(auth)
        await self.request("public/set_heartbeat", {"interval": self.cfg.heartbeat_s})
        if self.cfg.cancel_on_disconnect:
            await self.request("private/enable_cancel_on_disconnect", {"scope": "connection"})
        got = await self.request("private/subscribe", {"channels": self.channels})
        if got is not None and not isinstance(got, list):
            raise MalformedAnswer("private/subscribe", f"result is a {type(got).__name__}, not a list")
        missing = set(self.channels) - {c for c in got or [] if isinstance(c, str)}
        if missing:
            raise VenueError("private/subscribe", NOT_SUBSCRIBED, f"not subscribed: {sorted(missing)}")
        await self.handler.on_ready(self)
        self.ready.set()
        self._watchdog = asyncio.get_running_loop().create_task(self._watch_liveness(), name="deribit-liveness")
        log.info("session ready (%d channels, reconnects=%d)", len(self.channels), self.reconnects)

    async def _watch_liveness(self) -> None:
        """Drop the connection when no complete message arrived for two heartbeat intervals."""
        window_ns = 2 * self.cfg.heartbeat_s * 1_000_000_000
        seen, since = self.handler.messages_received(), monotonic_ns()
        while not self._lost.is_set():
            await asyncio.sleep(min(1.0, self.cfg.heartbeat_s / 4))
            count = self.handler.messages_received()
            if count != seen:
                seen, since = count, monotonic_ns()
            elif monotonic_ns() - since > window_ns:
                self.liveness_drops += 1
                self.last_error = f"no message from the venue for {2 * self.cfg.heartbeat_s}s (two heartbeats)"
                log.warning("session: %s: reconnecting", self.last_error)
                self.drop_connection()
                return

    def _teardown(self) -> None:
        self.ready.clear()
        self.connected.clear()
        for task in (self._refresh_task, self._watchdog):
            if task is not None:
                task.cancel()
        self._refresh_task = self._watchdog = None
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        self._fail_pending("connection lost")
        if not self._stop.is_set():
            self.handler.on_lost("disconnect")

    def _on_transport_lost(self, exc: Exception | None) -> None:
        self._lost.set()

    def _fail_pending(self, why: str) -> None:
        pending, self._pending = self._pending, {}
        for method, fut in pending.values():
            if not fut.done():
                fut.set_exception(SessionClosed(f"{method}: {why}"))

    # --- token refresh ---
    def _schedule_refresh(self, auth: Any) -> None:
        if not isinstance(auth, dict):
            raise MalformedAnswer("public/auth", f"result is a {type(auth).__name__}, not an object")
        token, expires = auth.get("refresh_token", ""), auth.get("expires_in", 0) or 0
        if not isinstance(token, str) or not isinstance(expires, (int, float)) or not 0 <= expires < 1e9:
            raise MalformedAnswer("public/auth", "refresh_token or expires_in of the wrong type or range")
        self._refresh_token = token
        if self._refresh_token and expires > 0:
            self._refresh_task = asyncio.get_running_loop().create_task(self._refresh_after(expires * 0.8))

    async def _refresh_after(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        try:
            auth = await self.request("public/auth", {"grant_type": "refresh_token",
                                                      "refresh_token": self._refresh_token})
        except (VenueError, SessionClosed, asyncio.TimeoutError) as exc:
            log.warning("token refresh failed (%s); reconnecting", type(exc).__name__)
            self.drop_connection()
            return
        self.refreshes += 1
        self._schedule_refresh(auth)

    # --- requests ---
    def send_raw(self, payload: bytes) -> None:
        if self.transport is None or self.transport.closed:
            raise SessionClosed("not connected")
        self.transport.send_text(payload)

    async def request(self, method: str, params: dict | None = None, timeout_s: float | None = None,
                      retries: int = 3, on_sent: Callable[[int], None] | None = None) -> Any:
        """One JSON-RPC call; waits for non-matching-engine credits first; retries a 10028 after a backoff.
        ``on_sent`` gets the request id of every attempt as it is sent (to join it with a capture)."""
        timeout = timeout_s if timeout_s is not None else self.cfg.request_timeout_ms / 1e3
        for attempt in range(retries + 1):
            wait = credits.wait_ns(self.credit, credits.NON_MATCHING, monotonic_ns())
            if wait:
                await asyncio.sleep(wait / 1e9)
            credits.take(self.credit, credits.NON_MATCHING, monotonic_ns())
            fut = self.send_request(method, params)
            if on_sent is not None:
                on_sent(self.last_request_id)
            try:
                result = await asyncio.wait_for(fut, timeout)
                self._timeouts_in_row = 0
                return result
            except asyncio.TimeoutError:
                self._timeouts_in_row += 1
                if self._timeouts_in_row >= 2:  # the venue stopped answering: a new connection, not more waiting
                    self.last_error = f"{method}: two requests in a row without an answer"
                    log.warning("session: %s: reconnecting", self.last_error)
                    self.drop_connection()
                raise asyncio.TimeoutError(f"{method}: no answer within {timeout:g}s") from None
            except VenueError as exc:
                if exc.code == UNAUTHORIZED and method != "public/auth":
                    # the token expired (a refresh missed, e.g. after a stall): a new connection authenticates anew
                    log.warning("%s: access token no longer valid (%d): reconnecting", method, exc.code)
                    self.drop_connection()
                if exc.code != TOO_MANY_REQUESTS or attempt == retries:
                    raise
                self.rate_limited += 1
                credits.drain(self.credit, credits.NON_MATCHING, monotonic_ns())
                await asyncio.sleep(0.05 * 2 ** attempt)
        raise AssertionError("unreachable")

    def send_request(self, method: str, params: dict | None = None) -> asyncio.Future[Any]:
        """Send without waiting (no credit check); the future gets the result or a VenueError."""
        rid = self.last_request_id = self._next_id
        self._next_id = rid + 1 if rid + 1 < SLOW_ID_LIMIT else 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = (method, fut)
        try:
            self.send_raw(orjson.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}}))
        except SessionClosed:
            del self._pending[rid]
            raise
        return fut

    # --- incoming (called by the engine for every message its compiled path does not handle) ---
    def _on_bytes(self, data: bytes, tsc: int) -> None:
        self.handler.on_bytes(data, tsc)

    def on_message(self, msg: dict) -> bool:
        """Handle a slow-path answer or heartbeat; False when it is not ours (a notification for the engine)."""
        rid = msg.get("id")
        if isinstance(rid, int) and rid in self._pending:
            method, fut = self._pending.pop(rid)
            if not fut.done():
                err = msg.get("error")
                if err is not None:
                    fut.set_exception(venue_error(method, err))
                else:
                    fut.set_result(msg.get("result"))
            return True
        if msg.get("method") == "heartbeat":
            if (msg.get("params") or {}).get("type") == "test_request" and self.transport is not None:
                self.test_requests += 1
                fut = self.send_request("public/test", {})
                fut.add_done_callback(ignore_result)
            return True
        return False


def venue_error(method: str, err: Any) -> VenueError:
    """The exception for a JSON-RPC ``error`` member, whatever its shape (a venue may send anything)."""
    if not isinstance(err, dict):
        return MalformedAnswer(method, f"error is a {type(err).__name__}, not an object")
    code, message = err.get("code"), err.get("message", "")
    if not isinstance(code, int) or isinstance(code, bool):
        return MalformedAnswer(method, f"error code {str(code)[:40]!r} is not an integer")
    return VenueError(method, code, str(message)[:500])


def describe(exc: BaseException) -> str:
    """``Type: message`` (a TimeoutError's message is often empty: the type alone would say nothing)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def ignore_result(fut: asyncio.Future[Any]) -> None:
    """Done-callback of a fire-and-forget request: fetch its exception so asyncio does not log it as unretrieved."""
    if not fut.cancelled():
        fut.exception()


