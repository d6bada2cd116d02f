"""WebSocket client transport over kernel TCP (ws://) or TLS (wss://), for the asyncio driver.

The event loop owns the socket; after the HTTP upgrade every received chunk goes, with the TSC of its arrival,
to ``on_bytes`` — the engine feeds it to the compiled deframer/decoder once per read. On plaintext connections
the transport reads the socket itself with recvmsg (``tw_recv_ts``) so that every read also carries the kernel's
receive time (SO_TIMESTAMPING software RX stamps, as a TSC value in :attr:`last_rx_tsc`; 0 when unknown). Frames are built with
tickwire.netstack.ws (masked, as RFC 6455 requires of clients). The latency socket options come from the tuning
catalogue (``tickwire.tuning.socket_option_specs``). TLS is OpenSSL's, through tickwire.netstack.tls (not Python's
ssl module), with the certificate verified against the system CA store or ``cafile``. The hot path writes its
frames itself through :attr:`direct_fd` (``tw_out_write``: the socket descriptor in plaintext or under kTLS,
else the TLS session's handle) as long as nothing is queued in the transport.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import functools
import os
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit

import numpy as np

from tickwire.clock import realtime_to_tsc, tsc_hz
from tickwire.native import ffi, lib
from tickwire.netstack import tls as tlslib
from tickwire.netstack import ws

log = logging.getLogger("tickwire.transport")

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class TransportError(ConnectionError):
    """The connection could not be made or upgraded (the message never contains credentials)."""


class CertificateError(TransportError):
    """The venue's TLS certificate does not verify: retrying cannot help."""


@functools.lru_cache(maxsize=8)
def _tls_context(cafile: str) -> tlslib.TlsContext:
    return tlslib.TlsContext(cafile or None)  # loading the CA store takes milliseconds: once per process


class Transport(Protocol):
    """One WebSocket connection as the session and the engine use it. Two implementations: :class:`WsTransport`
    (kernel TCP or TLS) and ``tickwire.deribit.transport_utcp.UtcpTransport`` (the userspace stack on a DPDK
    port, ``--stack dpdk``); both deliver the stream to the session's ``on_bytes`` and report the end once."""

    direct_fd: int  # what the compiled path may write its frames to itself (-1: none, it leaves them to write_raw)
    closed: bool
    tls: str
    last_rx_tsc: int

    def send_text(self, payload: bytes) -> None: ...
    def send_frame(self, opcode: int, payload: np.ndarray) -> None: ...
    def write_raw(self, frames: bytes | memoryview) -> None: ...
    def can_send_direct(self) -> bool: ...
    def pause_reading(self) -> None: ...
    def close(self) -> None: ...


def upgrade_request(host: str, port: int, path: str) -> tuple[bytes, bytes]:
    """The HTTP/1.1 WebSocket upgrade request for ``host:port`` ``path`` and the key it carries."""
    key = base64.b64encode(os.urandom(16))
    return (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + f"{host}:{port}".encode()
            + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key
            + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"), key


def check_upgrade(head: bytes, key: bytes) -> None:
    """OSError unless ``head`` (the response up to its blank line) is a 101 that accepted ``key``."""
    status = head.split(b"\r\n", 1)[0]
    want = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    if b" 101 " not in status + b" " or want not in head:
        raise OSError(f"WebSocket upgrade refused: {status.decode(errors='replace')[:80]}")


def client_frame(scratch: np.ndarray, opcode: int, payload: np.ndarray) -> bytes:
    """One masked (client) frame of ``opcode`` around ``payload``, built in ``scratch`` when it fits."""
    need = ws.ws_frame_len(payload.shape[0], True)
    out = scratch if need <= scratch.shape[0] else np.zeros(need, dtype=np.uint8)
    n = ws.ws_encode(out, 0, payload, 0, payload.shape[0], opcode, True, True, ws.new_mask_key())
    return out[:n].tobytes()


class UpgradeResponse:
    """The HTTP response to the WebSocket upgrade as its bytes arrive, for either transport: ``head`` resolves to
    the response up to its blank line (or fails: too long, or the connection ended first)."""

    def __init__(self) -> None:
        self.head: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._buf = bytearray()

    @property
    def pending(self) -> bool:
        """Received bytes still belong to the response."""
        return not self.head.done()

    def feed(self, data: bytes) -> bytes:
        """Take ``data`` while pending; returns what follows the head (WebSocket frames: empty while the head is
        incomplete). A head longer than ws.HTTP_MAX fails ``head``."""
        self._buf += data
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > ws.HTTP_MAX:
                self.head.set_exception(OSError("no end of the HTTP upgrade response"))
            return b""
        self.head.set_result(bytes(self._buf[:end + 4]))
        rest = bytes(self._buf[end + 4:])
        self._buf = bytearray()
        return rest

    def fail(self, exc: Exception | None) -> None:
        """The connection ended during the upgrade."""
        self.head.set_exception(exc or OSError("connection closed during the upgrade"))


class WsTransport(asyncio.Protocol):
    """One WebSocket connection; create with :meth:`open`."""

    def __init__(self, on_bytes: Callable[[bytes, int], None], on_lost: Callable[[Exception | None], None]) -> None:
        self._on_bytes = on_bytes
        self._on_lost = on_lost
        self._transport: asyncio.Transport | None = None
        self._tls: tlslib.TlsTransport | None = None
        self._upgrade: UpgradeResponse | None = None
        self._frame = np.zeros(1 << 16, dtype=np.uint8)
        self.direct_fd = -1
        self.socket_options: dict[str, int] = {}
        self.tls = ""  # e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384, kTLS tx off" (empty: plaintext)
        self.closed = False
        self.last_rx_tsc = 0  # kernel receive time of the bytes being delivered (TSC), 0 when unknown
        self._rfd = -1  # our duplicate of the socket's fd while we read it ourselves (see _read_with_stamps)
        self._rbuf = np.zeros(0, np.uint8)
        self._rx_ns = np.zeros(1, np.int64)

    @classmethod
    async def open(cls, url: str, on_bytes: Callable[[bytes, int], None],
                   on_lost: Callable[[Exception | None], None], socket_profile: str = "latency",
                   timeout_s: float = 5.0, cafile: str = "") -> WsTransport:
        """Connect (and for wss:// make the TLS session, trusting ``cafile`` or the system CA store), set the
        socket options, do the HTTP upgrade; raises TransportError (CertificateError for a certificate that does
        not verify)."""
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise TransportError(f"not a ws:// or wss:// URL: {parts.scheme}://{parts.hostname}")
        tls = parts.scheme == "wss"
        port = parts.port or (443 if tls else 80)
        loop = asyncio.get_running_loop()
        proto = cls(on_bytes, on_lost)
        try:
            if tls:
                proto._tls = await tlslib.open_connection(parts.hostname, port, _tls_context(cafile), timeout_s)
                proto._tls.start(proto)
            else:
                await asyncio.wait_for(loop.create_connection(lambda: proto, parts.hostname, port), timeout_s)
            proto._set_socket_options(socket_profile)
            await asyncio.wait_for(proto._handshake(parts.hostname, port, parts.path or "/"), timeout_s)
            if not tls:
                proto._read_with_stamps()
        except tlslib.CertificateNotVerified as exc:
            raise CertificateError(str(exc)) from None
        except (OSError, asyncio.TimeoutError) as exc:
            proto.close()
            raise TransportError(f"cannot connect to {parts.scheme}://{parts.hostname}:{port}: "
                                 f"{type(exc).__name__}: {exc}") from None
        return proto

    def _set_socket_options(self, profile: str) -> None:
        from tickwire.tuning import socket_option_specs

        sock = self._transport.get_extra_info("socket")
        for spec in socket_option_specs(profile):
            try:
                sock.setsockopt(spec.level, spec.optname, spec.value)
                self.socket_options[spec.name] = sock.getsockopt(spec.level, spec.optname)
            except OSError as exc:  # e.g. SO_BUSY_POLL above net.core.busy_read without CAP_NET_ADMIN
                log.info("socket option %s=%s refused: %s", spec.name, spec.value, exc.strerror)
        self.direct_fd = sock.fileno() if self._tls is None else self._tls.out_handle
        self.tls = self._tls.describe() if self._tls is not None else ""

    async def _handshake(self, host: str, port: int, path: str) -> None:
        request, key = upgrade_request(host, port, path)
        self._upgrade = UpgradeResponse()
        self._transport.write(request)
        check_upgrade(await self._upgrade.head, key)

    def _read_with_stamps(self, buf_bytes: int = 1 << 18) -> None:
        """Take the reads over from the event loop's transport (which keeps the writes): a non-blocking recvmsg
        per readiness that returns the kernel's receive stamp too. The loop refuses a reader on a transport's own
        fd, so a duplicate is watched; it is closed with the connection."""
        fd = self._transport.get_extra_info("socket").fileno()
        err = lib.tw_enable_rx_timestamps(fd)
        if err != 0:
            log.info("kernel receive timestamps refused (errno %d): reads go through the event loop", -err)
            return
        self._rbuf = np.zeros(buf_bytes, np.uint8)
        self._transport.pause_reading()
        self._rfd = os.dup(fd)
        asyncio.get_running_loop().add_reader(self._rfd, self._on_readable)

    def _on_readable(self, max_reads: int = 16) -> None:
        buf, cap = ffi.cast("void *", self._rbuf.ctypes.data), self._rbuf.shape[0]
        stamp = ffi.cast("void *", self._rx_ns.ctypes.data)
        for _ in range(max_reads):  # bounded: a flooding peer cannot keep the loop from its other work
            n = lib.tw_recv_ts(self._rfd, buf, cap, stamp)
            tsc, now_ns = lib.tw_rdtsc(), lib.tw_realtime_ns()
            if n > 0:
                self.last_rx_tsc = int(realtime_to_tsc(int(self._rx_ns[0]), tsc, now_ns, tsc_hz()))
                self._on_bytes(self._rbuf[:n].tobytes(), tsc)
                self.last_rx_tsc = 0
                if n < cap:
                    return
            elif n == -lib.TW_EAGAIN:
                return
            else:  # 0: the peer closed; < 0: reset or another socket error
                self._stop_reading()
                if self._transport is not None:
                    self._transport.close() if n == 0 else self._transport.abort()
                return

    def _stop_reading(self) -> None:
        if self._rfd >= 0:
            try:
                asyncio.get_running_loop().remove_reader(self._rfd)
            except RuntimeError:  # no running loop (closed from outside it): the fd goes anyway
                pass
            os.close(self._rfd)
            self._rfd = -1

    # --- asyncio.Protocol ---
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        # over TLS the arrival is stamped before OpenSSL reads and decrypts: decryption counts as our time
        tsc = self._tls.rx_tsc if self._tls is not None else lib.tw_rdtsc()
        if self._upgrade is not None and self._upgrade.pending:
            data = self._upgrade.feed(data)
            if not data:
                return
        self._on_bytes(data, tsc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_reading()
        self.closed = True
        self.direct_fd = -1
        if self._upgrade is not None and self._upgrade.pending:
            self._upgrade.fail(exc)
            return
        self._on_lost(exc)

    # --- sending ---
    def send_text(self, payload: bytes) -> None:
        """Send one masked text frame (slow path)."""
        self.send_frame(ws.OP_TEXT, np.frombuffer(payload, dtype=np.uint8))

    def send_frame(self, opcode: int, payload: np.ndarray) -> None:
        """Send one masked frame of ``opcode`` (text, or pong for a ping)."""
        if self.closed or self._transport is None:
            raise TransportError("connection is closed")
        self._transport.write(client_frame(self._frame, opcode, payload))

    def write_raw(self, frames: bytes | memoryview) -> None:
        """Bytes that are already complete frames (what the compiled path could not send directly)."""
        if not self.closed and self._transport is not None:
            self._transport.write(frames)

    def pause_reading(self) -> None:
        """Stop the event loop reading the socket: the caller (the spin driver) reads ``direct_fd`` itself (our own
        stamped reader stops too: two readers of one stream would split its bytes)."""
        self._stop_reading()
        if self._transport is not None and not self.closed:
            self._transport.pause_reading()

    def can_send_direct(self) -> bool:
        """True when the hot path may tw_out_write on :attr:`direct_fd`: open, nothing queued in the transport."""
        # is_closing: a TLS session is freed at once when it fails, before connection_lost reaches us
        return (self.direct_fd >= 0 and not self.closed and self._transport is not None
                and not self._transport.is_closing() and self._transport.get_write_buffer_size() == 0)

    def close(self) -> None:
        self._stop_reading()  # our duplicate fd would keep the socket open after the transport closed its own
        if self._transport is not None and not self.closed:
            self._transport.close()
        self.closed = True
        self.direct_fd = -1
