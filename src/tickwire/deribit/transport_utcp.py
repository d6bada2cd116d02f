"""WebSocket client transport over the userspace TCP stack on a DPDK port (``--stack dpdk``).

The other implementation of the engine's transport (the kernel one is
:class:`~tickwire.deribit.transport.WsTransport`): the same upgrade, the same client frames, the same
``on_bytes`` / ``on_lost`` calls into the session and engine, and the same attributes the engine reads
(``direct_fd``, ``can_send_direct``, ``write_raw``, ``send_frame``, ``pause_reading``, ``closed``).

:class:`UtcpNetwork` is the port and the stack of one engine process: the EAL, a mempool, the port and a
``UtcpStack`` made once per run; it outlives connections, so the session reconnects through the same stack
(a new connection takes a free slot: a closed one, or one in TIME_WAIT). Nothing else polls a DPDK port, so
the network's poller task polls it on the event loop's thread: receive burst, protocol work, transmit burst,
then the open connection's in-order bytes go to ``on_bytes`` (the async driver). The spin driver reads them
itself: it pauses reading here and polls the port inside its compiled slice
(tickwire.engine.spin.build_utcp_spin_slice), copying the stream into the engine's receive buffer.

There is no socket descriptor: ``direct_fd`` is always -1, so the compiled pass leaves its frames in the
transmit buffer and the engine hands them to :meth:`UtcpTransport.write_raw` (or the spin slice sends them
with ``utcp_send``). Bytes the send window cannot take yet wait here, in order, and go out on the next polls.
TLS does not exist on this stack: ``wss://`` is refused (tickwire.netstack.utcp_endpoint).
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import numpy as np

from tickwire.deribit.transport import (
    TransportError, UpgradeResponse, check_upgrade, client_frame, upgrade_request,
)
from tickwire.native import lib
from tickwire.netstack import ws
from tickwire.netstack.utcp_endpoint import parse_port_spec, require_plaintext

log = logging.getLogger("tickwire.transport.utcp")

RECV_CHUNK = 1 << 16  # bytes per read handed to on_bytes (the kernel transport's reads are at most 256 KB)
MAX_READS = 16  # reads per poll: a flooding peer cannot keep the event loop from its other work
IDLE_POLL_S = 0.0005  # between polls while no connection is open (ARP, FIN/TIME_WAIT of the old ones)


class UtcpNetwork:
    """The DPDK port and userspace stack of this process (one EAL per process: create one per run).

    ``port_spec`` a PCI address or vdev devargs, ``ip_cidr`` our address with prefix, ``gateway`` the next hop
    ("" when the venue is on our subnet). ``open`` has the signature of ``WsTransport.open``, so the session
    takes it as its transport opener.
    """

    def __init__(self, port_spec: str, ip_cidr: str, gateway: str = "", pool_size: int = 4095,
                 link_timeout_s: float = 5.0, **limits: int) -> None:
        from tickwire.netstack.dpdk import EalConfig, Mempool, Port, init_eal
        from tickwire.netstack.utcp import UtcpStack

        vdevs, pci = parse_port_spec(port_spec)
        cpus = os.sched_getaffinity(0)
        # the EAL pins its main thread to its first lcore: give it the CPU we already run on, then put the
        # affinity back (the engine's placement decided it)
        core = str(lib.tw_getcpu()) if len(cpus) == 1 else str(min(cpus))
        self.eal = init_eal(EalConfig(cores=core, vdevs=vdevs, pci_allow=pci, file_prefix=f"tickwire-{os.getpid()}"))
        os.sched_setaffinity(0, cpus)
        self.pool = Mempool.create("tw-utcp", pool_size)
        self.port = Port(0)
        self.port.setup(self.pool)
        self.port.wait_link_up(link_timeout_s)
        # a secret ISN key per process (RFC 6528): it also picks the first local port, so a restarted engine does
        # not come back on the 4-tuple its previous run may have left open at the venue
        limits.setdefault("isn_key", int.from_bytes(os.urandom(8), "little") >> 1)
        self.stack = UtcpStack(self.port, self.pool, ip_cidr, gateway or None, **limits)
        self.describe = f"utcp on DPDK port {self.port.info().driver} ({port_spec}), {ip_cidr}"
        self.transport: UtcpTransport | None = None
        self._poller: asyncio.Task[None] | None = None
        self._closed = False

    async def open(self, url: str, on_bytes: Callable[[bytes, int], None],
                   on_lost: Callable[[Exception | None], None], socket_profile: str = "latency",
                   timeout_s: float = 5.0, cafile: str = "") -> UtcpTransport:
        """Connect to ``url`` (ws://IPv4:port/path) through the stack and do the WebSocket upgrade; raises
        TransportError (``socket_profile`` and ``cafile`` do not apply: no kernel socket, no TLS)."""
        try:
            require_plaintext(url)
        except ValueError as exc:
            raise TransportError(str(exc)) from None
        if self._closed:
            raise TransportError("the DPDK port is closed")
        self._start_poller()
        parts = urlsplit(url)
        t = UtcpTransport(self, self._free_slot(), on_bytes, on_lost)
        self.transport = t
        try:
            await asyncio.wait_for(t.handshake(parts.hostname or "", parts.port or 80, parts.path or "/"),
                                   timeout_s)
        except (OSError, asyncio.TimeoutError) as exc:
            where = self.stack.state_name(t.slot)
            t.abort()
            c = self.stack.counters()
            raise TransportError(f"cannot connect to ws://{parts.hostname}:{parts.port or 80} through the DPDK "
                                 f"stack: {type(exc).__name__}: {exc} (connection {where}; frames in "
                                 f"{c['rx_frames']} out {c['tx_frames']} refused {c['tx_dropped']}, "
                                 f"retransmits {c['retransmits']})") from None
        return t

    def _free_slot(self) -> int:
        from tickwire.netstack.utcp_state import CLOSED, T_STATE, TIME_WAIT

        states = self.stack.state.tcb[:, T_STATE]
        for slot in range(states.shape[0]):
            if states[slot] == CLOSED:
                return slot
        for slot in range(states.shape[0]):
            if states[slot] == TIME_WAIT:
                return slot  # tcp_connect parks its 4-tuple and picks a new local port
        raise TransportError("every connection slot of the DPDK stack is still closing")

    def _start_poller(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll_loop(), name="utcp-poller")
            self._poller.add_done_callback(self._poller_ended)

    def _poller_ended(self, task: asyncio.Task[None]) -> None:
        """A poller that died must not leave a connection nobody polls: log why and end the connection."""
        if task.cancelled() or task.exception() is None:
            return
        log.error("utcp poller failed: %r", task.exception(), exc_info=task.exception())
        if self.transport is not None:
            self.transport.lost(task.exception())

    async def _poll_loop(self) -> None:
        while not self._closed:
            self.stack.poll()
            t = self.transport
            if t is not None and not t.closed:
                t.service()
                await asyncio.sleep(0)
            else:
                await asyncio.sleep(IDLE_POLL_S)

    def counters(self) -> dict[str, int]:
        """The stack's counters (retransmissions, out-of-order, duplicates, resets...)."""
        return self.stack.counters()

    def close(self, linger_s: float = 0.2) -> None:
        """Close the open connection (FIN), let it go out, stop the port and release DPDK memory."""
        if self._closed:
            return
        if self.transport is not None:
            self.transport.close()
        end = time.monotonic() + linger_s
        while time.monotonic() < end:
            self.stack.poll()
        self._closed = True
        if self._poller is not None:
            self._poller.cancel()
        self.port.close()
        self.pool.free()
        self.eal.cleanup()


class UtcpTransport:
    """One WebSocket connection on a slot of the userspace stack; create with :meth:`UtcpNetwork.open`."""

    direct_fd = -1  # no descriptor: the compiled path leaves its frames to write_raw (or to the utcp spin slice)
    tls = ""
    last_rx_tsc = 0  # no kernel receive stamp on this path

    def __init__(self, net: UtcpNetwork, slot: int, on_bytes: Callable[[bytes, int], None],
                 on_lost: Callable[[Exception | None], None]) -> None:
        self.net, self.slot = net, slot
        self.state = net.stack.state  # what the compiled spin slice passes to utcp_*
        self.socket_options: dict[str, int] = {}
        self.closed = False
        self._started = False  # connect was called: before it, the slot is not ours to read (it is CLOSED)
        self._released = False  # the slot was closed or reset by us
        self.reading = True
        self._on_bytes, self._on_lost = on_bytes, on_lost
        self._pending = bytearray()  # frames the send window could not take yet, in order
        self._frame = np.zeros(1 << 16, np.uint8)
        self._rbuf = np.zeros(RECV_CHUNK, np.uint8)
        self._upgrade: UpgradeResponse | None = None

    async def handshake(self, host: str, port: int, path: str) -> None:
        """Connect the slot, then the HTTP upgrade (the poller delivers the response)."""
        from tickwire.netstack.utcp import UtcpError, ip_to_int, utcp_connect
        from tickwire.netstack.utcp_state import ESTABLISHED, T_ERROR, T_STATE

        self._upgrade = UpgradeResponse()
        rc = int(utcp_connect(self.state, self.slot, ip_to_int(host), port))
        if rc < 0:
            raise UtcpError(-rc, f"connect: {os.strerror(-rc)}")
        self._started = True
        while int(self.state.tcb[self.slot, T_STATE]) != ESTABLISHED:
            err = int(self.state.tcb[self.slot, T_ERROR])
            if err:
                raise UtcpError(err, f"connect: {os.strerror(err)}")
            await asyncio.sleep(0)  # the poller runs the handshake
        request, key = upgrade_request(host, port, path)
        self.write_raw(request)
        check_upgrade(await self._upgrade.head, key)

    def service(self) -> None:
        """After a poll: send what waited for the window, hand the in-order bytes over, notice the end."""
        from tickwire.netstack.utcp import UTCP_EOF, UtcpError, utcp_recv

        if not self._started:
            return  # the poller may run before the handshake task connected the slot
        if self._pending:
            self._flush()
        if not self.reading:
            return  # the spin driver reads the stream (and sees its end)
        for _ in range(MAX_READS):
            k = int(utcp_recv(self.state, self.slot, self._rbuf, 0, self._rbuf.shape[0]))
            if k > 0:
                self._deliver(self._rbuf[:k].tobytes(), int(lib.tw_rdtsc()))
                if k < self._rbuf.shape[0] or self.closed:
                    return
            elif k == 0:
                return
            else:
                self.lost(None if k == UTCP_EOF else UtcpError(-k, os.strerror(-k)))
                return

    def _deliver(self, data: bytes, tsc: int) -> None:
        if self._upgrade is not None and self._upgrade.pending:  # bytes after the head are WebSocket frames
            data = self._upgrade.feed(data)
            if not data:
                return
        self._on_bytes(data, tsc)

    def lost(self, exc: Exception | None) -> None:
        """The connection ended (the peer closed or reset it, or it timed out): tell the session, once."""
        if self.closed:
            return
        self.closed = True
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
        if self.closed:
            raise TransportError("connection is closed")
        self.write_raw(client_frame(self._frame, opcode, payload))

    def write_raw(self, frames: bytes | memoryview) -> None:
        """Bytes that are already complete frames: sent now as far as the window allows, the rest in order on
        the next polls."""
        if self.closed:
            return
        self._pending += frames
        self._flush()

    def _flush(self) -> None:
        from tickwire.netstack.utcp import utcp_send

        data = np.frombuffer(self._pending, np.uint8)
        k = int(utcp_send(self.state, self.slot, data, 0, data.shape[0]))
        del data  # the bytearray cannot shrink while a view holds it
        if k > 0:
            del self._pending[:k]
        elif k < 0 and k != -errno.EAGAIN:
            self.lost(ConnectionError(f"send: {os.strerror(-k)}"))

    def can_send_direct(self) -> bool:
        """True when the compiled path may send its frames itself (the utcp spin slice): open, nothing waiting."""
        return not self.closed and not self._pending

    def pause_reading(self) -> None:
        """The spin driver reads the stream from now on."""
        self.reading = False

    def close(self) -> None:
        """Close the connection (FIN after what is queued); the stack finishes the close on later polls."""
        from tickwire.netstack.utcp import utcp_close

        if not self._released:  # once: the slot may carry the next connection afterwards
            self._released = True
            utcp_close(self.state, self.slot)
        self.lost(None)

    def abort(self) -> None:
        """Reset the connection (RST): a failed connect or upgrade."""
        from tickwire.netstack.utcp import utcp_abort

        if not self._released:
            self._released = True
            utcp_abort(self.state, self.slot)
        self.closed = True

    def is_spinnable(self) -> bool:
        """Whether the utcp spin slice may own this connection now (open, upgraded)."""
        return not self.closed and (self._upgrade is None or not self._upgrade.pending)

    def __repr__(self) -> str:
        return f"UtcpTransport(slot {self.slot}, {'closed' if self.closed else 'open'})"
