"""The WebSocket client transport over real loopback sockets: upgrade refused or port closed -> TransportError
with the cause (never a hang, never a crash), and a real upgrade + frames both ways with the latency options."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import socket

import numpy as np
import pytest

from tickwire.deribit.transport import TransportError, WsTransport
from tickwire.netstack import ws


async def _server(reply: bytes | None, received: list[bytes]):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        key = [ln.split(b": ")[1] for ln in head.split(b"\r\n") if ln.lower().startswith(b"sec-websocket-key")][0]
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        writer.write(reply if reply is not None else b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n\x81\x02{}")
        received.append(await reader.read(4096))
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_refused_upgrade_and_closed_port_are_clear_errors():
    async def main():
        server = await _server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", [])
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(TransportError, match="upgrade refused"):
            await WsTransport.open(f"ws://127.0.0.1:{port}/ws/api/v2", lambda d, t: None, lambda e: None)
        server.close()
        await server.wait_closed()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            free = s.getsockname()[1]
        with pytest.raises(TransportError, match="cannot connect"):
            await WsTransport.open(f"ws://127.0.0.1:{free}/", lambda d, t: None, lambda e: None)
        with pytest.raises(TransportError, match="not a ws"):
            await WsTransport.open("http://127.0.0.1/", lambda d, t: None, lambda e: None)

    asyncio.run(main())


def test_upgrade_then_frames_both_ways():
    async def main():
        received: list[bytes] = []
        got: list[bytes] = []
        server = await _server(None, received)
        port = server.sockets[0].getsockname()[1]
        t = await WsTransport.open(f"ws://127.0.0.1:{port}/ws/api/v2", lambda d, tsc: got.append(d), lambda e: None)
        assert t.direct_fd >= 0 and t.socket_options.get("TCP_NODELAY") == 1
        t.send_text(b'{"x":1}')
        deadline = asyncio.get_running_loop().time() + 30.0  # generous: a busy machine is slow
        while not (received and got) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        t.close()
        server.close()
        await server.wait_closed()
        return received, got

    received, got = asyncio.run(main())
    assert b"".join(got) == b"\x81\x02{}"  # the first frame, right after the upgrade response
    frames = ws.Deframer(mask=ws.MASK_YES).feed(received[0])  # ours are masked, as a client's must be
    assert frames == [(ws.OP_TEXT, b'{"x":1}')]
    assert np.frombuffer(received[0][:2], np.uint8)[1] & 0x80
