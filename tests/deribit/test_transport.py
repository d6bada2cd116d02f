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


def _open_fds() -> int:
    import os

    return len(os.listdir("/proc/self/fd"))


def test_reads_carry_the_kernel_receive_stamp_and_a_peer_close_is_seen():
    """After the upgrade the transport reads with recvmsg: reads carry the kernel's receive stamp (TSC, before
    the read's own stamp); the peer's close reaches on_lost and our duplicate fd is closed with it. The kernel
    turns receive stamping on through deferred work when the first socket of the host asks for it, so the first
    reads may carry none (0: unknown): the server sends frames until one arrives stamped (bounded)."""
    from tickwire.clock import tsc_to_ns

    async def main():
        reads: list[tuple[bytes, int, int]] = []
        lost: list[Exception | None] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            key = [ln.split(b": ")[1] for ln in head.split(b"\r\n") if ln.lower().startswith(b"sec-websocket-key")][0]
            accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            await reader.read(4096)  # the client's frame: the upgrade is over on its side
            for _ in range(250):  # at most 5 s
                writer.write(b"\x81\x02{}")
                await writer.drain()
                await asyncio.sleep(0.02)
                if any(k for _, _, k in reads):
                    break
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        fds = _open_fds()
        t: WsTransport | None = None

        def on_bytes(data: bytes, tsc: int) -> None:
            reads.append((data, tsc, t.last_rx_tsc if t is not None else -1))

        t = await WsTransport.open(f"ws://127.0.0.1:{port}/", on_bytes, lost.append)
        assert t._rfd >= 0  # plaintext: the transport reads with recvmsg itself
        t.send_text(b'{"x":1}')
        for _ in range(1000):
            if lost:
                break
            await asyncio.sleep(0.01)
        server.close()
        await server.wait_closed()
        return reads, lost, t, fds

    reads, lost, t, fds_before = asyncio.run(main())
    data = b"".join(d for d, _, _ in reads)
    assert data and data == b"\x81\x02{}" * (len(data) // 4)
    stamped = [(tsc, k) for _, tsc, k in reads if k]
    assert stamped, "no read carried a kernel receive stamp"
    assert all(0 < k <= tsc and tsc_to_ns(tsc - k) < 1e9 for tsc, k in stamped)
    assert lost == [None] and t.closed and t._rfd == -1
    assert _open_fds() <= fds_before  # the duplicate fd went with the connection
