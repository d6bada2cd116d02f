"""The running venue: exchange + market flow + sessions + tokens + timers, independent of the network stack."""
from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

from tickwire.sim.config import SimConfig
from tickwire.deribit.errors import INVALID_CREDENTIALS, UNAUTHORIZED
from tickwire.sim.errors import RpcError
from tickwire.sim.exchange import Exchange
from tickwire.sim.flow import MarketFlow
from tickwire.sim.listeners import MarketDataListener
from tickwire.sim.accounts import Account
from tickwire.sim.auth import SignatureGuard
from tickwire.sim.ratelimit import RateLimiter
from tickwire.sim.session import Session

SCOPE = "connection mainaccount trade:read_write wallet:read_write account:read_write block_trade:read_write"
TICK_S = 0.1


class Venue:
    """Everything a simulator instance holds; the server feeds it connections and messages."""

    def __init__(self, config: SimConfig, listeners: Iterable[MarketDataListener] = ()) -> None:
        self.config = config
        config.faults.seed(config.seed)
        self.exchange = Exchange(config)
        self.flow = MarketFlow(self.exchange, config.rate, config.seed, config.book_depth, self.batched)
        self.flow.seed_books()
        for listener in listeners:
            self.exchange.add_listener(listener)
        self.sessions: dict[int, Session] = {}
        self._next_conn = 0
        self._tokens: dict[str, tuple[str, float]] = {}   # access token -> (client_id, expiry monotonic)
        self._refresh: dict[str, str] = {}                 # refresh token -> client_id
        self.signatures = SignatureGuard(config.credentials)
        self._limiters: dict[str, RateLimiter] = {}
        self.http_limiter = RateLimiter(config.tier, config.rate_limits)
        self._timers: list[asyncio.TimerHandle] = []
        self._running = False
        self.corked = 0                    # > 0: writes are batched per session until uncork()
        self.dirty: list[Session] = []

    # --- batching ---
    def cork(self) -> None:
        """Start (or nest) a batch: sessions buffer their writes."""
        self.corked += 1

    def uncork(self) -> None:
        """End a batch: every session with buffered writes flushes them with one write."""
        self.corked -= 1
        if self.corked == 0 and self.dirty:
            dirty, self.dirty = self.dirty, []
            for session in dirty:
                session.flush()

    def batched(self, fn: Callable[[], None]) -> Callable[[], None]:
        """``fn`` run inside a batch."""
        def run() -> None:
            self.cork()
            try:
                fn()
            finally:
                self.uncork()
        return run

    # --- lifecycle ---
    def start(self) -> None:
        """Start the market flow and the 100 ms / fault timers on the running loop."""
        self._running = True
        self.flow.start()
        self._every(TICK_S, self.batched(self._tick))
        self._schedule_close()

    def _tick(self) -> None:
        self.exchange.on_tick(time.time_ns() // 1_000_000)
        self.exchange.feed.tick()

    def _every(self, period: float, fn: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()

        def run() -> None:
            if not self._running:
                return
            fn()
            self._timers.append(loop.call_later(period, run))
            if len(self._timers) > 16:
                del self._timers[:-4]
        self._timers.append(loop.call_later(period, run))

    def _schedule_close(self) -> None:
        """The ``close_every`` fault: re-read each time so sim/control can switch it on and off."""
        loop = asyncio.get_running_loop()

        def run() -> None:
            if not self._running:
                return
            if self.config.faults.close_every > 0:
                self.close_sessions("all", None)
            self._timers.append(loop.call_later(self.config.faults.close_every or 1.0, run))
        self._timers.append(loop.call_later(self.config.faults.close_every or 1.0, run))

    def stop(self) -> None:
        """Stop timers and flow, close every session, detach listeners."""
        self._running = False
        self.flow.stop()
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        self.close_sessions("all", None)
        self.exchange.listeners.close()

    def add_listener(self, listener: MarketDataListener) -> None:
        self.exchange.add_listener(listener)

    # --- sessions ---
    def open_session(self, send: Callable[[bytes], None], close: Callable[[], None],
                     send_many: Callable[[list[bytes]], None] | None = None) -> Session:
        """A new connection; ``send_many`` (optional) writes several messages at once."""
        self._next_conn += 1
        session = Session(self, self._next_conn, send, close, send_many)
        self.sessions[session.id] = session
        return session

    def forget(self, session: Session) -> None:
        """A connection closed: subscriptions go, and cancel-on-disconnect cancels its orders."""
        self.sessions.pop(session.id, None)
        self.exchange.feed.drop(session)
        if session.cod_enabled and session.account is not None:
            match: dict[str, Any] = {} if session.cod_scope == "account" else {"conn": session.id}
            self.exchange.cancel_where(session.account, reason="cancel_on_disconnect", **match)

    def close_sessions(self, which: str, me: int | None) -> None:
        for session in list(self.sessions.values()):
            if which == "all" or (which == "self") == (session.id == me):
                session.close()

    # --- auth ---
    def issue_token(self, client_id: str) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        ttl = self.config.token_ttl_s
        self._tokens[access] = (client_id, time.monotonic() + ttl)
        self._refresh[refresh] = client_id
        self.exchange.account(client_id)
        return {"access_token": access, "expires_in": int(ttl) if ttl >= 1 else ttl, "refresh_token": refresh,
                "scope": SCOPE, "token_type": "bearer", "enabled_features": []}

    def redeem_refresh(self, refresh: str) -> str:
        client_id = self._refresh.pop(refresh, None)
        if client_id is None:
            raise RpcError(INVALID_CREDENTIALS, {"reason": "unknown or used refresh_token"})
        return client_id

    def peek_refresh(self, refresh: str) -> str:
        """The client id of an unused refresh token (13004 otherwise), without using it up."""
        client_id = self._refresh.get(refresh)
        if client_id is None:
            raise RpcError(INVALID_CREDENTIALS, {"reason": "unknown or used refresh_token"})
        return client_id

    def revoke_tokens(self, client_id: str) -> None:
        """Every access and refresh token of ``client_id`` stops working (private/logout)."""
        self._tokens = {t: entry for t, entry in self._tokens.items() if entry[0] != client_id}
        self._refresh = {t: owner for t, owner in self._refresh.items() if owner != client_id}

    def token_valid(self, token: str) -> bool:
        entry = self._tokens.get(token)
        return entry is not None and entry[1] > time.monotonic()

    def resolve_account(self, session: Session | None, token: str | None) -> Account | None:
        """The account a request acts for: an explicit token, else the connection's login. An explicit
        unknown or expired token is 13009; an expired connection login counts as not logged in."""
        if token is not None:
            entry = self._tokens.get(token)
            if entry is None or entry[1] <= time.monotonic():
                raise RpcError(UNAUTHORIZED, {"reason": "invalid or expired access_token"})
            return self.exchange.account(entry[0])
        if session is not None and session.account is not None and session.authorized():
            return session.account
        return None

    def limiter_for(self, account: str) -> RateLimiter:
        limiter = self._limiters.get(account)
        if limiter is None:
            limiter = self._limiters[account] = RateLimiter(self.config.tier, self.config.rate_limits)
        return limiter
