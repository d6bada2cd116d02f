"""A userspace TCP/IPv4 client stack over one DPDK port: the port loop and its byte-stream API.

The protocol work is compiled and cacheable (``utcp_stack``, ``utcp_tcp``, ``utcp_arp``, ``utcp_ip`` over the
``UtcpState`` arrays of ``utcp_state``); this module adds the only parts that call DPDK (so cannot use numba's
on-disk cache): receive a burst into the state's batch, run the stack, send the transmit batch. From ``@njit``
code (a spin driver)::

    n = utcp_poll(st)                                # rx burst -> ARP/IP/TCP -> timers -> tx burst
    k = utcp_send(st, conn, buf, off, length)        # queue + send at once (no Nagle)
    k = utcp_recv(st, conn, out, off, cap)           # in-order bytes; UTCP_EOF / -errno at the end

From Python, ``UtcpStack`` wraps the same calls (connect, wait until established, send/recv bytes, counters).
The stack holds no Python object in the hot path and allocates nothing after ``new_state``.
"""
from __future__ import annotations

import ipaddress
import time

import numpy as np
from numba import njit

from tickwire.native import lib as _native
from tickwire.netstack._dpdk_loops import rx_into_batch, tx_batch
from tickwire.netstack.dpdk import Mempool, Port
from tickwire.netstack.utcp_arp import arp_set
from tickwire.netstack.utcp_endpoint import require_plaintext
from tickwire.netstack.utcp_stack import stack_output, stack_step
from tickwire.netstack.utcp_state import (
    CFG_POOL, CFG_PORT, CFG_QUEUE, CFG_TX_COUNT, CFG_TX_FULL, COUNTER_NAMES, CTR_TX_DROPPED, CTR_TX_FRAMES, ESTABLISHED,
    STATE_NAMES, T_ERROR, T_STATE, UTCP_EOF, UtcpState, ip_to_int, mac_to_int, new_state)
from tickwire.netstack.utcp_tcp import tcp_abort, tcp_close, tcp_connect, tcp_recv, tcp_send

__all__ = ["UtcpStack", "UtcpError", "require_plaintext", "utcp_poll", "utcp_send", "utcp_recv", "utcp_connect",
           "utcp_close", "utcp_abort", "utcp_flush", "UTCP_EOF", "ip_to_int", "mac_to_int"]

TX_BURST = 32
MAX_FLUSH_ROUNDS = 4


class UtcpError(OSError):
    """A connection failed (errno set: ECONNREFUSED, ECONNRESET, ETIMEDOUT, EHOSTUNREACH...)."""


@njit(_nrt=False)
def utcp_flush(st) -> int:
    """Send the transmit batch; frames the device refused are counted as dropped (TCP recovers them)."""
    n = st.cfg[CFG_TX_COUNT]
    if n == 0:
        return 0
    sent = tx_batch(st.cfg[CFG_PORT], st.cfg[CFG_QUEUE], st.cfg[CFG_POOL], st.txbuf, st.txoff, st.txlen, 0, n,
                    st.scratch, TX_BURST)
    ok = max(sent, 0)
    st.ctr[CTR_TX_FRAMES] += ok
    st.ctr[CTR_TX_DROPPED] += n - ok
    st.cfg[CFG_TX_COUNT] = 0
    st.cfg[CFG_TX_FULL] = 0
    return ok


@njit(_nrt=False)
def utcp_poll(st) -> int:
    """One poll: a receive burst, the protocol work (input, timers, output), the transmit burst. Returns the
    frames received."""
    now = _native.tw_monotonic_ns()
    st.rxstate[1] = 0
    n = rx_into_batch(st.cfg[CFG_PORT], st.cfg[CFG_QUEUE], st.mbufs, st.mbufs.size, st.rxstate, st.rxbuf, st.rxoff,
                      st.rxlen, st.rxstamp, 0, st.rxoff.size, 1, 1)
    stack_step(st, n, now)
    for _ in range(MAX_FLUSH_ROUNDS):
        full = st.cfg[CFG_TX_FULL]
        utcp_flush(st)
        if not full:
            break
        stack_output(st, now)  # the batch filled up: what did not fit goes out now, not next poll
    return n


@njit(_nrt=False)
def utcp_connect(st, c: int, ip: int, port: int) -> int:
    """Start connecting slot c to ip:port (integers); 0 or -errno. Poll until tcp_state(st, c) is ESTABLISHED."""
    rc = tcp_connect(st, c, ip, port, _native.tw_monotonic_ns())
    utcp_flush(st)
    return rc


@njit(_nrt=False)
def utcp_send(st, c: int, data: np.ndarray, off: int, n: int) -> int:
    """Queue data[off:off+n] on slot c and send at once what the window allows; bytes queued or -errno."""
    k = tcp_send(st, c, data, off, n, _native.tw_monotonic_ns())
    utcp_flush(st)
    return k


@njit(_nrt=False)
def utcp_recv(st, c: int, out: np.ndarray, off: int, cap: int) -> int:
    """Copy up to cap in-order bytes of slot c to out[off:]; the count, 0 (none yet), UTCP_EOF or -errno."""
    k = tcp_recv(st, c, out, off, cap, _native.tw_monotonic_ns())
    utcp_flush(st)  # a window update, when reading re-opened the window
    return k


@njit(_nrt=False)
def utcp_close(st, c: int) -> int:
    """Half-close slot c (FIN after the queued data)."""
    rc = tcp_close(st, c, _native.tw_monotonic_ns())
    utcp_flush(st)
    return rc


@njit(_nrt=False)
def utcp_abort(st, c: int) -> int:
    """Reset slot c (RST to the peer)."""
    rc = tcp_abort(st, c, _native.tw_monotonic_ns())
    utcp_flush(st)
    return rc


class UtcpStack:
    """The stack on one started DPDK port, driven from Python (tests, tools, set-up before a spin loop).

    ``ip_cidr`` is our address with its prefix ("198.18.0.1/30"), ``gateway`` the next hop for other subnets;
    ``mac`` defaults to the port's. ``state`` (a ``UtcpState``) is what compiled code passes to ``utcp_*``.
    Extra keyword arguments go to ``new_state`` (buffer sizes, timers in ms).
    """

    def __init__(self, port: Port, pool: Mempool, ip_cidr: str, gateway: str | None = None, mac: str | None = None,
                 queue: int = 0, **limits: int) -> None:
        iface = ipaddress.IPv4Interface(ip_cidr)
        if iface.network.prefixlen == 32 and gateway is None:
            raise ValueError(f"{ip_cidr}: a /32 address needs a gateway")
        self.port, self.pool = port, pool
        self.ip = str(iface.ip)
        self.state: UtcpState = new_state(
            ip=int(iface.ip), prefix_len=iface.network.prefixlen, gateway=ip_to_int(gateway) if gateway else 0,
            mac=mac_to_int(mac or port.info().mac), port=port.port_id, queue=queue, pool=pool.addr, **limits)
        self.warm_up()

    def warm_up(self) -> None:
        """Compile the port loop and the stream calls now, with calls that change nothing (slot -1 is refused).
        They call DPDK, so numba cannot cache them and every process compiles them: on a loaded host that takes
        longer than a handshake's timeout, and it must not happen inside one (a first poll that compiled for
        40 s used to end ``wait_established`` with the connection still in SYN_SENT)."""
        st, scratch = self.state, np.zeros(1, np.uint8)
        utcp_poll(st)
        utcp_connect(st, -1, 0, 0)
        utcp_send(st, -1, scratch, 0, 0)
        utcp_recv(st, -1, scratch, 0, 0)
        utcp_close(st, -1)
        utcp_abort(st, -1)

    def add_static_arp(self, ip: str, mac: str) -> None:
        """A permanent next-hop entry (no ARP request is ever sent for it)."""
        if not arp_set(self.state, ip_to_int(ip), mac_to_int(mac), True, 0):
            raise ValueError("ARP table full of static entries")

    def poll(self) -> int:
        return int(utcp_poll(self.state))

    def connect(self, ip: str, port: int, slot: int = 0) -> int:
        """Start connecting slot to ip:port (returns at once; see ``wait_established``)."""
        rc = int(utcp_connect(self.state, slot, ip_to_int(ip), port))
        if rc < 0:
            raise UtcpError(-rc, f"connect {ip}:{port}: {_strerror(-rc)}")
        return slot

    def wait_established(self, slot: int, timeout_s: float) -> None:
        """Poll until the handshake completed; UtcpError when it failed, TimeoutError after timeout_s."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.poll()
            if self.state_name(slot) == "ESTABLISHED":
                return
            err = int(self.state.tcb[slot, T_ERROR])
            if err:
                raise UtcpError(err, f"connect failed: {_strerror(err)}")
        raise TimeoutError(f"slot {slot} not established after {timeout_s} s (state {self.state_name(slot)})")

    def send(self, slot: int, data: bytes) -> int:
        """Queue what fits of data; returns the bytes queued (UtcpError when the connection failed)."""
        arr = np.frombuffer(data, np.uint8)
        k = int(utcp_send(self.state, slot, arr, 0, arr.size))
        if k < 0:
            raise UtcpError(-k, f"send: {_strerror(-k)}")
        return k

    def recv(self, slot: int, max_bytes: int = 65536) -> bytes | None:
        """Bytes available now (b"" when none); None once the peer closed and all was read."""
        out = np.empty(max_bytes, np.uint8)
        k = int(utcp_recv(self.state, slot, out, 0, max_bytes))
        if k == UTCP_EOF:
            return None
        if k < 0:
            raise UtcpError(-k, f"recv: {_strerror(-k)}")
        return out[:k].tobytes()

    def close(self, slot: int) -> None:
        utcp_close(self.state, slot)

    def abort(self, slot: int) -> None:
        utcp_abort(self.state, slot)

    def state_name(self, slot: int) -> str:
        return STATE_NAMES[int(self.state.tcb[slot, T_STATE])]

    def established(self, slot: int) -> bool:
        return int(self.state.tcb[slot, T_STATE]) == ESTABLISHED

    def counters(self) -> dict[str, int]:
        return {name: int(v) for name, v in zip(COUNTER_NAMES, self.state.ctr)}


def _strerror(err: int) -> str:
    import os

    return "connection closed by the peer" if err == -UTCP_EOF else os.strerror(err)
