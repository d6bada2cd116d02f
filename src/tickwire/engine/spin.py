"""The spin driver: a compiled loop that owns the order-entry / market-data socket.

One *slice* (``spin_slice`` of tickwire.engine.passes, compiled with the strategy kernel) busy-polls the WebSocket's TCP socket with the non-blocking ``tw_recv``
shim, reading straight into the receive buffer of the hot state (``HotState.recv.rx``, at ``ws_reserve``: no
``bytes``, no copy), and runs the inner pass (``received_pass`` of tickwire.engine.hotpath: deframe, decode,
book, strategy, risk, encode, send) on every read, without returning to Python. It returns when the slow path
has work or after ``slice_ns``:

- order answers or messages the compiled decoder hands over (order answers, user channels, heartbeats, pings),
  more complete messages than the span table holds, a book whose change_id chain broke, a Python-tier strategy
  to call, frames it could not send whole (the rest goes through the transport, in order);
- the kill flag (set by SIGUSR1 through a native handler, so ``tickwire kill`` from another process stops the
  loop within one poll: the loop sets the risk kill switch itself before returning);
- the connection closed or reset, a socket error, a frame larger than the receive buffer;
- the time slice is over (timers, auth refresh, heartbeats, reconcile and position polls run on the event loop
  between slices, in the same thread).

:class:`SpinDriver` runs slices on the event loop's thread with ``await asyncio.sleep(0)`` between them, so the
asyncio slow path keeps running and there is one writer on the socket at a time: the compiled loop sends only
while the transport has nothing queued, and Python writes only between slices. The event loop's own reader is
paused on the socket while the driver owns it.

The spin driver needs a core of its own: on a host with one usable CPU it would starve the slow path and the
venue, so ``tickwire.engine.driver.choose_driver`` falls back to the async driver there, with a message.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import signal
from typing import Any, Callable

import numpy as np

from numba import njit

from tickwire.engine import shims
from tickwire.engine.hotpath import (
    SPIN_CLOSED, SPIN_ERROR, SPIN_KILLED, SPIN_OVERFLOW, SPIN_REASONS, SPIN_TIME, SPIN_WORK, pass_outcome,
)
from tickwire.engine.kernel_cache import build_hot_pass
from tickwire.native import lib
from tickwire.netstack.ws import ws_reserve
from tickwire.types import ST_RECV, ST_SENT

log = logging.getLogger("tickwire.engine.spin")

READ_MAX = 1 << 16  # bytes per recv (the receive buffer keeps room for this much after a partial frame)
SLICE_US = 200  # default time slice: the slow path's timers run at least this often

# The process-wide kill flag the native SIGUSR1 handler sets (kept for the life of the process: the handler
# holds its address).
KILL_FLAG = np.zeros(1, np.uint64)


def build_utcp_spin_slice(kernel: Callable[..., int]) -> Callable[..., Any]:
    """The slice loop over the userspace TCP stack (``--stack dpdk``), specialised on one strategy kernel
    (memoised). Where the socket slice (``spin_slice`` of tickwire.engine.passes) reads the socket, this one polls
    the DPDK port (``utcp_poll``: receive burst, TCP, transmit burst) and copies the connection's in-order bytes
    into the same receive buffer (``utcp_recv`` at ``ws_reserve``), then runs the same inner pass; its frames go
    out with ``utcp_send``. It calls DPDK through cffi, so numba cannot cache it: it compiles in each process
    (the inner pass it calls comes from the disk cache). Signature::

        utcp_spin_slice(box, st, slot, can_send, slice_ns, read_max, kill, py_tier)
            -> (reason, n_spans, n_resps, n_fallback, tx_len, sent, err)

    ``box`` the boxed HotState (bind it with HotPass.bind), ``st`` the stack's UtcpState, ``slot`` the
    connection, ``can_send`` 0 while the transport holds bytes the window did not take yet (frames are then left
    in ``s.op.tx`` for it); the rest as the socket slice.
    """
    cached = _UTCP_SLICES.get(kernel)
    if cached is not None:
        return cached
    from tickwire.netstack.utcp import UTCP_EOF, utcp_poll, utcp_recv, utcp_send

    received_pass = build_hot_pass(kernel).received_pass

    @njit  # the stack's ring copies take array views (reference counts, no allocation): NRT stays on
    def utcp_spin_slice(box, st, slot, can_send, slice_ns, read_max, kill, py_tier):
        s = box.s
        r, stages = s.recv, s.probes.stages
        deadline = shims.monotonic_ns() + slice_ns
        while True:
            if kill[0] != 0:
                s.risk.state[0].killed = 1
                return SPIN_KILLED, 0, 0, 0, 0, 0, 0
            w = ws_reserve(r.ws_st, r.rx, read_max)
            if w < 0:
                return SPIN_OVERFLOW, 0, 0, 0, 0, 0, 0
            utcp_poll(st)
            n = utcp_recv(st, slot, r.rx, w, read_max)
            if n > 0:
                ns, n_resp, n_fb, tx_len, sent = received_pass(s, n, shims.rdtsc(), -1)
                if tx_len > 0 and can_send != 0:
                    sent = max(utcp_send(st, slot, s.op.tx, 0, tx_len), 0)  # what the window refused: transport
                    stages[(s.probes.count[0].passes - 1) % stages.shape[0], ST_SENT] = shims.rdtsc()
                outcome = pass_outcome(s, ns, n_resp, n_fb, tx_len, sent, py_tier)
                if outcome >= 0:
                    return outcome, ns, n_resp, n_fb, tx_len, sent, 0
            elif n == UTCP_EOF:
                return SPIN_CLOSED, 0, 0, 0, 0, 0, 0
            elif n < 0:
                return SPIN_ERROR, 0, 0, 0, 0, 0, -n
            if shims.monotonic_ns() >= deadline:
                return SPIN_TIME, 0, 0, 0, 0, 0, 0

    _UTCP_SLICES[kernel] = utcp_spin_slice
    return utcp_spin_slice


_UTCP_SLICES: dict = {}


def arm_kill_flag(sig: int = signal.SIGUSR1) -> bool:
    """Make ``sig`` also set :data:`KILL_FLAG` (native handler, chained to the handler installed before: call it
    after the event loop's add_signal_handler). False when the native library refuses."""
    KILL_FLAG[0] = 0
    return lib.tw_flag_on_signal(sig, lib_ptr(KILL_FLAG)) == 0


def lib_ptr(arr: np.ndarray) -> Any:
    """A cffi void* to ``arr``'s data (``arr`` must outlive every use of the pointer)."""
    from tickwire.native import ffi

    return ffi.cast("void *", arr.ctypes.data)


class SpinDriver:
    """Runs spin slices for one engine on the event loop's thread (see the module docstring)."""

    def __init__(self, engine: Any, slice_us: int = SLICE_US, read_max: int = READ_MAX,
                 network: Any = None) -> None:
        self.engine = engine
        self.slice_ns = int(slice_us * 1000)
        self.read_max = read_max
        self.py_tier = 1 if engine.py_strategy is not None else 0
        self.network = network  # a UtcpNetwork (--stack dpdk): slices poll its port instead of reading a socket
        if network is None:
            self.spin_slice = engine.hot.entry("spin", 0, 0, 0, 0, KILL_FLAG, 0)
        else:
            self.spin_slice = engine.hot.bind(build_utcp_spin_slice(engine.kernel), network.stack.state, 0, 0, 0,
                                              0, KILL_FLAG, 0)
        self.slices = 0
        self.reasons = [0] * len(SPIN_REASONS)
        self.cpu = -1  # the CPU the last slice started on
        self._owned: Any = None

    def describe(self) -> str:
        """Which driver ran and where, and why its slices returned (for the run report)."""
        reasons = ", ".join(f"{name} {n}" for name, n in zip(SPIN_REASONS, self.reasons) if n)
        return f"spin on cpu {self.cpu}: {self.slices} slices of {self.slice_ns // 1000} µs ({reasons or 'none'})"

    def warm_up(self) -> None:
        """Compile the slice now (a closed socket pair, or a closed slot of the stack: one slice that sees the
        connection gone)."""
        import socket

        if self.network is not None:
            from tickwire.netstack.utcp_state import CLOSED, T_STATE

            tcb = self.network.stack.state.tcb
            slot = int(np.flatnonzero(tcb[:, T_STATE] == CLOSED)[0])
            self.spin_slice(self.network.stack.state, slot, 0, 0, self.read_max, np.zeros(1, np.uint64),
                            self.py_tier)
            return

        a, b = socket.socketpair()
        b.close()
        try:
            self.spin_slice(a.fileno(), -1, 0, self.read_max, np.zeros(1, np.uint64), self.py_tier)
        finally:
            a.close()

    def _transport(self) -> Any:
        session = self.engine.session
        if session is None or not session.connected.is_set():
            return None
        t = session.transport
        if t is None or t.closed:
            return None
        if self.network is not None:
            return t if t.is_spinnable() else None
        return t if t.direct_fd >= 0 else None

    def run_slice(self) -> int:
        """One slice on the connected socket and the slow-path work it hands back; returns its reason, or -1
        when there is no plaintext connection to spin on."""
        t = self._transport()
        if t is None:
            return -1
        if t is not self._owned:
            t.pause_reading()  # from now on this driver reads the socket
            self._owned = t
        self.cpu = lib.tw_getcpu()
        if self.network is not None:
            reason, ns, n_resp, n_fb, tx_len, sent, err = self.spin_slice(
                t.state, t.slot, 1 if t.can_send_direct() else 0, self.slice_ns, self.read_max, KILL_FLAG,
                self.py_tier)
        else:
            send_fd = t.direct_fd if t.can_send_direct() else -1  # something queued: the transport sends first
            reason, ns, n_resp, n_fb, tx_len, sent, err = self.spin_slice(t.direct_fd, send_fd, self.slice_ns,
                                                                       self.read_max, KILL_FLAG, self.py_tier)
        self.slices += 1
        self.reasons[reason] += 1
        engine = self.engine
        if reason == SPIN_KILLED:
            KILL_FLAG[0] = 0
            engine.kill("signal")
        elif reason == SPIN_WORK:
            engine.after_pass(ns, n_resp, n_fb, tx_len, sent, self._last_read_tsc())
            if ns == engine.spans.shape[0]:
                engine.on_bytes(b"", int(lib.tw_rdtsc()))  # the rest of that read, through the same deframer
        elif reason != SPIN_TIME:
            engine.after_pass(ns, n_resp, n_fb, tx_len, sent)
            why = {SPIN_CLOSED: "closed by the venue", SPIN_OVERFLOW: "a frame larger than the receive buffer",
                   SPIN_ERROR: f"socket error {errno.errorcode.get(err, err)}"}[reason]
            log.warning("spin driver: connection %s: reconnecting", why)
            engine.session.drop_connection()
        return reason

    def _last_read_tsc(self) -> int:
        """The receive stamp of the slice's last pass (its probe row)."""
        probes = self.engine.probes
        return int(probes.stages[(probes.passes - 1) % probes.capacity, ST_RECV])

    async def run(self) -> None:
        """Spin until cancelled; between slices the event loop runs (and waits while there is no connection)."""
        while True:
            if self.run_slice() < 0:
                await asyncio.sleep(0.001)
            else:
                await asyncio.sleep(0)
