"""The network side: serve a Venue over WebSocket (+HTTP) with picows (default) or websockets (baseline).

``SimServer`` is what tests, benchmarks and the CLI use::

    async with SimServer(SimConfig(port=0)) as sim:
        print(sim.url, sim.http_url)
"""
from __future__ import annotations

import asyncio
import logging
import os
import struct
import tempfile
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tickwire.sim.config import SimConfig
from tickwire.sim.http import WS_PATH, FrontDoor
from tickwire.sim.listeners import MarketDataListener
from tickwire.sim.session import Session
from tickwire.sim.venue import Venue

WS_MAX_FRAME = 4 * 1024 * 1024  # beyond this the connection closes (1009); below it big requests get 11050
MAX_BACKLOG = 64 * 1024 * 1024  # unsent bytes to one client beyond which it is cut off as a slow consumer
log = logging.getLogger("tickwire.sim")


_HEAD16 = struct.Struct(">BBH").pack
_HEAD64 = struct.Struct(">BBQ").pack


def _frame(data: bytes) -> bytes:
    """An unmasked, final text frame (server to client, RFC 6455 5.2), written straight to the socket so a
    batch of messages costs one write. One header pack and one concatenation (runs for every message)."""
    n = len(data)
    if n < 126:
        return bytes((0x81, n)) + data
    if n < 65536:
        return _HEAD16(0x81, 126, n) + data
    return _HEAD64(0x81, 127, n) + data


class SimServer:
    """A running simulator: ``start()`` binds (port 0 = ephemeral), ``stop()`` closes everything."""

    def __init__(self, config: SimConfig | None = None, listeners: Iterable[MarketDataListener] = ()) -> None:
        self.config = config or SimConfig()
        self.venue = Venue(self.config, listeners)
        self.port = 0
        self.cert: Path | None = None
        self._server: Any = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def scheme(self) -> str:
        return "s" if self.config.tls else ""

    @property
    def url(self) -> str:
        return f"ws{self.scheme}://{self.config.host}:{self.port}{WS_PATH}"

    @property
    def http_url(self) -> str:
        return f"http{self.scheme}://{self.config.host}:{self.port}/api/v2"

    def ready_info(self) -> dict[str, Any]:
        """The one-line JSON the CLI prints once listening (the subprocess contract)."""
        client_id, secret = next(iter(self.config.credentials.items()))
        info: dict[str, Any] = {"url": self.url, "http": self.http_url, "client_id": client_id,
                                "client_secret": secret, "pid": os.getpid()}
        if self.cert is not None:
            info["cert"] = str(self.cert)
        return info

    def add_listener(self, listener: MarketDataListener) -> None:
        """Attach a market-data listener (see ``tickwire.sim.listeners``)."""
        self.venue.add_listener(listener)

    async def start(self) -> None:
        ssl_context = None
        if self.config.tls:
            from tickwire.sim.tls import self_signed

            self._tmp = tempfile.TemporaryDirectory(prefix="twsim-tls-")
            ssl_context, self.cert = self_signed(Path(self._tmp.name))
        if self.config.stack == "picows":
            self._server = await _serve_picows(self.venue, self.config, ssl_context)
        else:
            self._server = await _serve_websockets(self.venue, self.config, ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        self.venue.start()

    async def stop(self) -> None:
        self.venue.stop()
        if self._server is not None:
            self._server.close()
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            except asyncio.TimeoutError:
                pass
            self._server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


# --- picows: WebSocket frames handed to the session; HTTP by the front door ---
async def _serve_picows(venue: Venue, config: SimConfig, ssl_context: Any) -> asyncio.AbstractServer:
    from picows import WSCloseCode, WSListener, WSMsgType, WSUpgradeRequest
    from picows.picows import WSAutoPingStrategy, WSProtocol

    class Listener(WSListener):  # type: ignore[misc]
        def __init__(self) -> None:
            self.session: Session | None = None
            self.parts: list[bytes] = []
            self.parts_size = 0

        def on_ws_connected(self, transport: Any) -> None:
            raw = transport.underlying_transport

            def send(data: bytes) -> None:
                if not raw.is_closing():
                    raw.write(_frame(data))
                    if raw.get_write_buffer_size() > MAX_BACKLOG:
                        slow_consumer()

            def send_many(items: list[bytes]) -> None:
                if not raw.is_closing():
                    raw.write(b"".join([_frame(data) for data in items]))
                    if raw.get_write_buffer_size() > MAX_BACKLOG:
                        slow_consumer()

            def slow_consumer() -> None:
                log.warning("closing connection %s: %d bytes unsent (slow consumer)",
                            self.session.id if self.session else "?", raw.get_write_buffer_size())
                transport.disconnect(graceful=False)

            def close() -> None:
                transport.send_close(WSCloseCode.OK)
                transport.disconnect()
            self.session = venue.open_session(send, close, send_many)
            self.batching = False

        def _end_batch(self) -> None:
            self.batching = False
            venue.uncork()

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            # answers to all frames of one read are written together, after the read (call_soon)
            if not self.batching:
                self.batching = True
                venue.cork()
                asyncio.get_running_loop().call_soon(self._end_batch)
            kind = frame.msg_type
            if kind in (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION):
                if not frame.fin or kind == WSMsgType.CONTINUATION:
                    self.parts.append(frame.get_payload_as_bytes())
                    self.parts_size += frame.payload_size
                    if self.parts_size > WS_MAX_FRAME:  # a fragmented message may not grow without bound
                        transport.send_close(WSCloseCode.MESSAGE_TOO_BIG)
                        transport.disconnect()
                        return
                    if not frame.fin:
                        return
                    payload, self.parts, self.parts_size = b"".join(self.parts), [], 0
                else:
                    payload = frame.get_payload_as_bytes()
                assert self.session is not None
                self.session.on_message(payload)
            elif kind == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

        def on_ws_disconnected(self, transport: Any) -> None:
            if self.session is not None:
                self.session.connection_lost()

    def route(request: WSUpgradeRequest) -> Any:
        return Listener() if request.path.split(b"?")[0] == WS_PATH.encode() else None

    logger = logging.getLogger("tickwire.sim.picows")

    def ws_protocol() -> Any:
        # the arguments of picows' own server factory (picows 2.x api.ws_create_server)
        return WSProtocol(None, None, False, route, logger, True, 5.0, False, 20.0, 20.0,
                          WSAutoPingStrategy.PING_WHEN_IDLE, True, WS_MAX_FRAME, None, 16 * 1024)

    try:  # WSProtocol's arguments are picows internals: fail early and clearly if they changed
        ws_protocol()
    except TypeError as exc:
        raise RuntimeError(f"this picows version is not supported by the simulator ({exc}); "
                           "use --stack websockets or picows 2.x") from None
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: FrontDoor(venue, ws_protocol), config.host, config.port,
                                    ssl=ssl_context)


# --- websockets: the baseline stack (WebSocket only, no HTTP endpoint) ---
async def _serve_websockets(venue: Venue, config: SimConfig, ssl_context: Any) -> Any:
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    async def handler(ws: Any) -> None:
        if ws.request.path.split("?")[0] != WS_PATH:
            await ws.close(1008, "use /ws/api/v2")
            return
        queue: deque[bytes] = deque()
        ready = asyncio.Event()

        def send(data: bytes) -> None:
            queue.append(data)
            ready.set()
            if len(queue) > MAX_BACKLOG // 256:  # about MAX_BACKLOG of typical messages
                log.warning("closing connection %s: %d messages unsent (slow consumer)", session.id, len(queue))
                queue.clear()
                asyncio.ensure_future(ws.close(1008, "slow consumer"))

        session = venue.open_session(send, lambda: asyncio.ensure_future(ws.close()))

        async def writer() -> None:
            try:
                while True:
                    await ready.wait()
                    ready.clear()
                    while queue:
                        await ws.send(queue.popleft(), text=True)
            except ConnectionClosed:
                pass
        task = asyncio.create_task(writer())
        try:
            async for message in ws:
                session.on_message(message)
        except ConnectionClosed:
            pass
        finally:
            task.cancel()
            session.connection_lost()

    return await serve(handler, config.host, config.port, ssl=ssl_context, max_size=WS_MAX_FRAME,
                       ping_interval=None, compression=None)
