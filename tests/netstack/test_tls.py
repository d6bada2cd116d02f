"""OpenSSL client sessions (tickwire.netstack.tls) against real TLS servers on loopback: verification on by
default (an unknown CA, a wrong IP address and a server that does not speak TLS are clear errors), bytes both ways
including writes larger than the socket buffers, the hot pass's ``tw_out_write`` from numba with the session
handle, and a peer that closes."""
from __future__ import annotations

import asyncio
import hashlib
import ssl

import numpy as np
import pytest
from numba import njit

from tickwire.engine import shims
from tickwire.netstack import tls
from tickwire.sim.tls import self_signed


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1/localhost and its server context (made by the openssl CLI)."""
    context, path = self_signed(tmp_path_factory.mktemp("tls"))
    return context, str(path)


async def _echo_server(context: ssl.SSLContext, host: str = "127.0.0.1"):
    """Echoes what it reads; b"close" makes it close the connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                if data == b"close":
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        writer.close()

    return await asyncio.start_server(handle, host, 0, ssl=context)


class Collect(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = bytearray()
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)


async def _until(cond, timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


@njit
def _hot_write(out, buf, n):
    return shims.send(out, buf.ctypes.data, n)


def test_unknown_ca_wrong_address_and_not_tls_are_clear_errors(cert):
    context, cafile = cert

    async def main():
        server = await _echo_server(context)
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(tls.CertificateNotVerified, match="self-signed certificate.*--cafile"):
            await tls.open_connection("127.0.0.1", port, tls.TlsContext())  # the system CA store
        other = await _echo_server(context, "127.0.0.2")  # same certificate, which names only 127.0.0.1
        with pytest.raises(tls.CertificateNotVerified, match="IP address mismatch"):
            await tls.open_connection("127.0.0.2", other.sockets[0].getsockname()[1], tls.TlsContext(cafile))
        plain = await asyncio.start_server(lambda r, w: w.write(b"HTTP/1.1 400 Bad Request\r\n\r\n"), "127.0.0.1", 0)
        with pytest.raises(tls.TlsError, match="handshake"):
            await tls.open_connection("127.0.0.1", plain.sockets[0].getsockname()[1], tls.TlsContext(cafile))
        for s in (server, other, plain):
            s.close()
            await s.wait_closed()

    asyncio.run(main())
    with pytest.raises(tls.TlsError, match="cannot load CA file"):
        tls.TlsContext("/nonexistent/ca.pem")


def test_bytes_both_ways_hot_pass_writes_with_the_handle_and_the_peer_closes(cert):
    context, cafile = cert
    big = np.frombuffer(np.random.default_rng(7).bytes(3 << 20), np.uint8)  # more than the socket buffers hold

    async def main():
        server = await _echo_server(context)
        port = server.sockets[0].getsockname()[1]
        transport = await tls.open_connection("127.0.0.1", port, tls.TlsContext(cafile))
        proto = Collect()
        transport.start(proto)
        assert transport.describe().startswith(("TLSv1.3", "TLSv1.2"))
        handle = transport.out_handle
        assert handle >= 0 and (transport.ktls_send or handle != transport.get_extra_info("socket").fileno())
        # the compiled pass's write: whatever it could not write (-EAGAIN, partial) goes through the transport
        sent = max(0, _hot_write(handle, big, big.shape[0]))
        assert 0 < sent <= big.shape[0]
        transport.write(big[sent:].tobytes())
        await _until(lambda: len(proto.data) >= big.shape[0])
        assert hashlib.sha256(proto.data).digest() == hashlib.sha256(big.tobytes()).digest()
        assert transport.get_write_buffer_size() == 0
        transport.write(b"close")
        assert await asyncio.wait_for(proto.lost, 30) is None
        assert transport.is_closing() and transport.out_handle == -1
        server.close()
        await server.wait_closed()

    asyncio.run(main())
