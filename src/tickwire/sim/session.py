"""One WebSocket client connection: its login, subscriptions, heartbeat, cancel-on-disconnect, faults."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson

from tickwire.sim import rpc
from tickwire.sim.accounts import Account
from tickwire.sim.channels import ChannelSpec
from tickwire.sim.ratelimit import RateLimiter

if TYPE_CHECKING:
    from tickwire.sim.venue import Venue

_HEARTBEAT = orjson.dumps({"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "heartbeat"}})
_TEST_REQUEST = orjson.dumps({"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}})


class Session:
    """Transport-free connection state; the server gives it ``send`` and ``close`` callables."""

    def __init__(self, venue: Venue, conn_id: int, send: Callable[[bytes], None], close: Callable[[], None],
                 send_many: Callable[[list[bytes]], None] | None = None) -> None:
        self.venue = venue
        self.id = conn_id
        self._send = send
        self._send_many = send_many
        self._close = close
        self._out: list[bytes] = []
        self.loop = asyncio.get_running_loop()
        self.faults = venue.config.faults
        self.account: Account | None = None
        self.account_name: str | None = None
        self.token: str | None = None
        self.user_specs: dict[str, ChannelSpec] = {}
        self.snap_override: dict[str, int] = {}
        self.limiter = RateLimiter(venue.config.tier, venue.config.rate_limits)
        self.cod_enabled = False
        self.cod_scope = "connection"
        self.closed = False
        self._heartbeat: asyncio.TimerHandle | None = None
        self._interval = 0.0
        self._pending_test = False
        self._received = False

    # --- auth ---
    def login(self, account: Account, token: str) -> None:
        self.account = account
        self.account_name = account.name
        self.token = token

    def authorized(self) -> bool:
        return self.token is not None and self.venue.token_valid(self.token)

    # --- I/O ---
    def on_message(self, payload: bytes | str) -> None:
        """Handle one incoming text/binary message (binary frames are parsed as JSON text too)."""
        if self.closed:
            return
        us_in = time.time_ns() // 1000
        self._received = True
        outcome = rpc.handle(self.venue, self, payload)
        delay = self.faults.slow_ack_ms if outcome.spec is not None and outcome.spec.matching else 0.0
        if delay > 0:
            self.loop.call_later(delay / 1000, self._answer, outcome, us_in)
        else:
            self._answer(outcome, us_in)

    def _answer(self, outcome: rpc.Outcome, us_in: int) -> None:
        if self.closed:
            return
        data, ns = rpc.encode(outcome, us_in, self.venue.config.testnet)
        self.venue.exchange.feed.times.record_request(self.id, outcome.rid, ns)
        self.write(data)
        for action in outcome.after:
            action()

    def write(self, data: bytes) -> None:
        """Send now (or at the end of the venue's current batch), or after the ``delay_ms`` fault."""
        delay = self.faults.delay_ms
        if delay > 0:
            self.loop.call_later(delay / 1000, self._write_if_open, data)
        elif self.venue.corked:
            if not self._out:
                self.venue.dirty.append(self)
            self._out.append(data)
        else:
            self._send(data)

    def flush(self) -> None:
        """Write what accumulated during a batch in one go (one syscall instead of one per message)."""
        out, self._out = self._out, []
        if self.closed or not out:
            return
        if self._send_many is not None:
            self._send_many(out)
        else:
            for data in out:
                self._send(data)

    def _write_if_open(self, data: bytes) -> None:
        if not self.closed:
            self._send(data)

    def notify(self, data: bytes) -> None:
        """A subscription or heartbeat notification (subject to the ``drop`` fault)."""
        faults = self.faults
        if self.closed or (faults.drop and faults.drop_now()):
            return
        if self.venue.corked and not faults.delay_ms:  # the common case of ``write``, without the call
            if not self._out:
                self.venue.dirty.append(self)
            self._out.append(data)
        else:
            self.write(data)

    def close(self) -> None:
        """Close the connection (the server then calls ``connection_lost``)."""
        if not self.closed:
            self._close()

    def connection_lost(self) -> None:
        """The transport is gone: stop timers, drop subscriptions, cancel-on-disconnect."""
        if self.closed:
            return
        self.closed = True
        self.stop_heartbeat()
        self.venue.forget(self)

    # --- heartbeat ---
    def start_heartbeat(self, interval: float) -> None:
        self.stop_heartbeat()
        self._interval = interval
        self._pending_test = False
        self._received = False
        self._heartbeat = self.loop.call_later(interval, self._beat)

    def stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        self._pending_test = False

    def test_answered(self) -> None:
        self._pending_test = False

    def _beat(self) -> None:
        self._heartbeat = None
        if self.closed:
            return
        if self._pending_test:  # the last test_request went unanswered: Deribit closes
            self.close()
            return
        if self._received:
            self.notify_heartbeat(_HEARTBEAT)
        else:
            self._pending_test = True
            self.notify_heartbeat(_TEST_REQUEST)
        self._received = False
        self._heartbeat = self.loop.call_later(self._interval, self._beat)

    def notify_heartbeat(self, data: bytes) -> None:
        self.write(data)

    # --- cancel on disconnect ---
    def set_cod(self, enabled: bool, scope: str) -> None:
        self.cod_enabled = enabled
        self.cod_scope = scope
