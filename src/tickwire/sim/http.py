"""The front door of the picows stack: one port for WebSocket (handed to picows) and plain HTTP JSON-RPC.

HTTP: ``GET /api/v2/{method}?param=value`` and ``POST /api/v2/{method}`` (body: params object or a whole
JSON-RPC request) or ``POST /api/v2`` (JSON-RPC body). ``Authorization`` authenticates with ``Bearer``, ``Basic``
or ``deri-hmac-sha256`` (see ``auth.py``). Errors answer 400 with the JSON-RPC error body, as Deribit does (a path
outside /api/v2 too: 404 with a JSON-RPC error). Keep-alive is supported.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson

from tickwire.sim import rpc
from tickwire.sim.auth import http_identity
from tickwire.deribit.errors import BAD_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR
from tickwire.sim.errors import RpcError

if TYPE_CHECKING:
    from tickwire.sim.venue import Venue

MAX_HEADER_BYTES = 64 * 1024
API_PREFIX = "/api/v2"
WS_PATH = "/ws/api/v2"


class FrontDoor(asyncio.Protocol):
    """Reads the first request head; WebSocket upgrades go to ``ws_protocol_factory``, the rest is HTTP."""

    def __init__(self, venue: Venue, ws_protocol_factory: Callable[[], asyncio.BaseProtocol]) -> None:
        self.venue = venue
        self.ws_factory = ws_protocol_factory
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.discard = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.discard:  # the rest of a refused (too large) body: read and forget it
            skip = min(self.discard, len(data))
            self.discard -= skip
            data = data[skip:]
        self.buf += data
        while self.transport is not None and not self.transport.is_closing():
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEADER_BYTES:
                    self._refuse(431, "request header too large", close=True)
                return
            head = bytes(self.buf[:end]).decode("latin-1")
            lines = head.split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                self._refuse(400, "bad request line", close=True)
                return
            verb, target, _version = parts
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "websocket" in headers.get("upgrade", "").lower():
                self._to_websocket()
                return
            if "transfer-encoding" in headers:
                self._refuse(411, "send a Content-Length body (chunked is not supported)", close=True)
                return
            length = headers.get("content-length", "0")
            if not length.isdigit():
                self._refuse(400, "bad content-length", close=True)
                return
            if int(length) > self.venue.config.max_message_bytes:
                # answer now, keep the connection, and drain the body as it arrives (no reset mid-upload)
                self._error(None, RpcError(BAD_REQUEST, {"reason": "request body too large"}), close=False)
                have = len(self.buf) - (end + 4)
                self.discard = max(0, int(length) - have)
                del self.buf[:end + 4 + min(have, int(length))]
                continue
            total = end + 4 + int(length)
            if len(self.buf) < total:
                return
            body = bytes(self.buf[end + 4:total])
            del self.buf[:total]
            close = headers.get("connection", "").lower() == "close"
            self._http(verb, target, headers, body, close)

    def _to_websocket(self) -> None:
        """Hand the connection (and the bytes already read) to the WebSocket protocol."""
        assert self.transport is not None
        proto = self.ws_factory()
        self.transport.set_protocol(proto)
        proto.connection_made(self.transport)
        data, self.buf = bytes(self.buf), bytearray()
        if isinstance(proto, asyncio.BufferedProtocol):
            while data:
                buf = proto.get_buffer(len(data))
                n = min(len(buf), len(data))
                buf[:n] = data[:n]
                proto.buffer_updated(n)
                data = data[n:]
        else:
            proto.data_received(data)  # type: ignore[attr-defined]

    def _http(self, verb: str, target: str, headers: dict[str, str], body: bytes, close: bool) -> None:
        us_in = time.time_ns() // 1000
        url = urlsplit(target)
        path = unquote(url.path)
        if verb not in ("GET", "POST"):
            self._refuse(405, "use GET or POST", close=close)
            return
        if path != API_PREFIX and not path.startswith(API_PREFIX + "/"):
            self._error(None, RpcError(METHOD_NOT_FOUND, {"reason": "use /api/v2/{method} or /ws/api/v2"}),
                        close=close, us_in=us_in, status=404)
            return
        name = path[len(API_PREFIX) + 1:] or None
        try:
            identity = http_identity(headers.get("authorization", ""), verb, target, body, self.venue.signatures)
        except RpcError as exc:
            self._error(None, exc, close=close, us_in=us_in)
            return
        payload: Any
        lenient = False
        if verb == "GET" or not body.strip():
            payload = {"jsonrpc": "2.0", "id": None, "method": name,
                       "params": dict(parse_qsl(url.query, keep_blank_values=True))}
            lenient = True
        else:
            try:
                decoded = orjson.loads(body)
            except orjson.JSONDecodeError:
                self._error(None, RpcError(PARSE_ERROR), close=close, us_in=us_in)
                return
            if isinstance(decoded, dict) and "method" in decoded:
                payload = decoded
            else:
                payload = {"jsonrpc": "2.0", "id": None, "method": name, "params": decoded}
        outcome = rpc.handle(self.venue, None, payload, bearer=identity.bearer, client_id=identity.client_id,
                             lenient=lenient)
        data, _ns = rpc.encode(outcome, us_in, self.venue.config.testnet)
        self._reply(200 if outcome.error is None else 400, data, close=close)
        for action in outcome.after:
            action()

    def _error(self, rid: Any, error: RpcError, close: bool, us_in: int | None = None, status: int = 400) -> None:
        outcome = rpc.Outcome(rid, None, error, None, [])
        data, _ns = rpc.encode(outcome, us_in or time.time_ns() // 1000, self.venue.config.testnet)
        self._reply(status, data, close=close)

    def _refuse(self, status: int, reason: str, close: bool) -> None:
        """An HTTP-level refusal, answered as a JSON-RPC error (11050 bad_request) like every other error."""
        self._error(None, RpcError(BAD_REQUEST, {"reason": reason}), close=close, status=status)

    def _reply(self, status: int, body: bytes, close: bool) -> None:
        assert self.transport is not None
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 411: "Length Required",
                  431: "Request Header Fields Too Large"}.get(status, "Error")
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n")
        self.transport.write(head.encode() + body)
        if close:
            self.transport.close()
