"""TLS client sessions made by OpenSSL (libssl through the ``_tw_native`` cffi shims), not by Python's ssl module.

:func:`open_connection` connects a non-blocking socket, runs the handshake on the event loop and returns a
:class:`TlsTransport`: an ``asyncio.Transport`` whose protocol gets the plaintext (``data_received``) exactly like
one of ``loop.create_connection``. The difference is :attr:`TlsTransport.out_handle`, an integer the compiled hot
pass writes to with ``tw_out_write``: the socket descriptor itself where the kernel encrypts (kTLS transmit,
``SSL_OP_ENABLE_KTLS`` with the ``tls`` module loaded), else the SSL session as a tagged pointer (``SSL_write``
from numba). Certificates are verified against the system CA store, or ``cafile``; the host name (or IP address)
must match.
"""
from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from collections import deque
from typing import Any

from tickwire.native import ffi, lib

_READ_CHUNK = 1 << 16


class TlsError(ConnectionError):
    """The TLS session could not be made: the message says why (certificate, protocol, connection)."""


class CertificateNotVerified(TlsError):
    """The peer's certificate chain or name does not verify."""


class TlsContext:
    """An OpenSSL client context (``SSL_CTX``): verification on, trusting ``cafile`` or the system CA store."""

    def __init__(self, cafile: str | None = None) -> None:
        self.cafile = cafile or ""
        self._ctx = lib.tw_tls_ctx_new(self.cafile.encode() if self.cafile else ffi.NULL)
        if self._ctx == ffi.NULL:
            what = f"CA file {self.cafile!r}" if self.cafile else "the system CA store"
            raise TlsError(f"cannot load {what}: {_openssl_error() or 'no certificates'}")

    def __del__(self) -> None:
        ctx, self._ctx = getattr(self, "_ctx", ffi.NULL), ffi.NULL
        if ctx != ffi.NULL:
            lib.tw_tls_ctx_free(ctx)


def _openssl_error() -> str:
    buf = ffi.new("char[]", 256)
    lib.tw_tls_error_string(buf, 256)
    return ffi.string(buf).decode(errors="replace")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class TlsTransport(asyncio.Transport):
    """A TLS session over one non-blocking socket, driven by the loop's reader/writer callbacks."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, ssl: Any, ctx: TlsContext) -> None:
        super().__init__()
        self._loop, self._sock, self._ssl, self._ctx = loop, sock, ssl, ctx
        self._fd = sock.fileno()
        self._protocol: asyncio.Protocol | None = None
        self._buf = ffi.new("char[]", _READ_CHUNK)
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._writing = False
        self._closed = False
        self.rx_tsc = 0  # TSC before OpenSSL read and decrypted the chunk given to the protocol

    # --- what the hot path needs ---
    @property
    def ktls_send(self) -> bool:
        """True when the kernel encrypts what is written to the socket."""
        return not self._closed and bool(lib.tw_tls_ktls_send(self._ssl))

    @property
    def out_handle(self) -> int:
        """For ``tw_out_write``: the descriptor under kTLS transmit, else the tagged SSL pointer; -1 once closed."""
        if self._closed:
            return -1
        return self._fd if self.ktls_send else int(lib.tw_tls_handle(self._ssl))

    def describe(self) -> str:
        """e.g. ``TLSv1.3 TLS_AES_256_GCM_SHA384, kTLS tx off``."""
        version = ffi.string(lib.tw_tls_version(self._ssl)).decode()
        cipher = ffi.string(lib.tw_tls_cipher(self._ssl)).decode()
        return f"{version} {cipher}, kTLS tx {'on' if self.ktls_send else 'off'}"

    # --- asyncio.Transport ---
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if self._closed:
            return default
        return {"socket": self._sock, "peername": self._sock.getpeername()}.get(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol  # type: ignore[assignment]

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol  # type: ignore[return-value]

    def is_closing(self) -> bool:
        return self._closed

    def get_write_buffer_size(self) -> int:
        return self._queued

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed or not data:
            return
        self._queue.append(bytes(data))
        self._queued += len(data)
        self._flush()

    def close(self) -> None:
        self._shutdown(None)

    def abort(self) -> None:
        self._shutdown(None)

    # --- I/O ---
    def start(self, protocol: asyncio.Protocol) -> None:
        """Hand the established session to ``protocol`` and start reading."""
        self._protocol = protocol
        protocol.connection_made(self)
        self._loop.add_reader(self._fd, self._on_readable)
        if lib.tw_tls_pending(self._ssl):  # bytes that came with the handshake's last read
            self._loop.call_soon(self._on_readable)

    def _on_readable(self) -> None:
        self._flush()  # a write that waited for OpenSSL to read (e.g. a key update) goes on now
        while not self._closed:
            self.rx_tsc = lib.tw_rdtsc()
            n = lib.tw_tls_read(self._ssl, self._buf, _READ_CHUNK)
            if n > 0:
                self._protocol.data_received(ffi.buffer(self._buf, n)[:])  # type: ignore[union-attr]
                continue
            if n == -errno.EAGAIN:
                return
            self._shutdown(None if n == 0 else TlsError(f"TLS read failed: {_why(n)}"))

    def _flush(self) -> None:
        while self._queue and not self._closed:
            head = self._queue[0]
            n = lib.tw_tls_write(self._ssl, ffi.from_buffer(head), len(head))
            if n == -errno.EAGAIN:  # wait for writable, unless OpenSSL must read first (then _on_readable retries)
                self._want_write(not lib.tw_tls_want_read(self._ssl))
                return
            if n < 0:
                self._shutdown(TlsError(f"TLS write failed: {_why(n)}"))
                return
            self._queued -= n
            if n < len(head):
                self._queue[0] = head[n:]
            else:
                self._queue.popleft()
        self._want_write(False)

    def _want_write(self, on: bool) -> None:
        if on and not self._writing:
            self._loop.add_writer(self._fd, self._flush)
        elif not on and self._writing:
            self._loop.remove_writer(self._fd)
        self._writing = on

    def _shutdown(self, exc: Exception | None) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._fd)
        self._want_write(False)
        self._queue.clear()
        self._queued = 0
        if exc is None:
            lib.tw_tls_shutdown(self._ssl)
        lib.tw_tls_free(self._ssl)
        self._ssl = ffi.NULL
        self._sock.close()
        if self._protocol is not None:
            self._loop.call_soon(self._protocol.connection_lost, exc)


def _why(n: int) -> str:
    return errno.errorcode.get(-n, str(n)) if n < 0 else "closed"


async def _wait(loop: asyncio.AbstractEventLoop, fd: int, readable: bool) -> None:
    fut = loop.create_future()
    (loop.add_reader if readable else loop.add_writer)(fd, lambda: fut.done() or fut.set_result(None))
    try:
        await fut
    finally:
        (loop.remove_reader if readable else loop.remove_writer)(fd)


async def open_connection(host: str, port: int, ctx: TlsContext, timeout_s: float = 5.0) -> TlsTransport:
    """Connect to ``host:port`` and complete the TLS handshake (raises TlsError, OSError or TimeoutError); then
    call :meth:`TlsTransport.start` with the protocol."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, addr), timeout_s)
        ssl = lib.tw_tls_new(ctx._ctx, sock.fileno(), host.encode(), 1 if _is_ip(host) else 0)
        if ssl == ffi.NULL:
            raise TlsError(f"cannot start a TLS session for {host}: {_openssl_error()}")
        try:
            await asyncio.wait_for(_handshake(loop, sock.fileno(), ssl, host, port), timeout_s)
        except BaseException:
            lib.tw_tls_free(ssl)
            raise
    except BaseException:
        sock.close()
        raise
    return TlsTransport(loop, sock, ssl, ctx)


async def _handshake(loop: asyncio.AbstractEventLoop, fd: int, ssl: Any, host: str, port: int) -> None:
    while True:
        r = lib.tw_tls_handshake(ssl)
        if r == 1:
            return
        if r != -errno.EAGAIN:
            verify = lib.tw_tls_verify_result(ssl)
            if verify != 0:  # X509_V_OK
                reason = ffi.string(lib.tw_tls_verify_string(verify)).decode()
                raise CertificateNotVerified(f"TLS certificate of {host}:{port} does not verify: {reason} (a venue with its own "
                               "CA, e.g. `tickwire sim --tls`: pass its certificate with --cafile)")
            raise TlsError(f"TLS handshake with {host}:{port} failed: {_openssl_error() or _why(r)}")
        await _wait(loop, fd, readable=bool(lib.tw_tls_want_read(ssl)))
