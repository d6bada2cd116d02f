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
from typing import Any

import numpy as np

from tickwire.engine.passes import (
    SPIN_CLOSED, SPIN_ERROR, SPIN_KILLED, SPIN_OVERFLOW, SPIN_REASONS, SPIN_TIME, SPIN_WORK,
)
from tickwire.native import lib
from tickwire.types import ST_RECV

log = logging.getLogger("tickwire.engine.spin")

READ_MAX = 1 << 16  # bytes per recv (the receive buffer keeps room for this much after a partial frame)
SLICE_US = 200  # default time slice: the slow path's timers run at least this often

# The process-wide kill flag the native SIGUSR1 handler sets (kept for the life of the process: the handler
# holds its address).
KILL_FLAG = np.zeros(1, np.uint64)


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

    def __init__(self, engine: Any, slice_us: int = SLICE_US, read_max: int = READ_MAX) -> None:
        self.engine = engine
        self.slice_ns = int(slice_us * 1000)
        self.read_max = read_max
        self.py_tier = 1 if engine.py_strategy is not None else 0
        self.spin_slice = engine.hot.entry("spin", 0, 0, 0, 0, KILL_FLAG, 0)
        self.slices = 0
        self.reasons = [0] * len(SPIN_REASONS)
        self.cpu = -1  # the CPU the last slice started on
        self._owned: Any = None

    def describe(self) -> str:
        """Which driver ran and where, and why its slices returned (for the run report)."""
        reasons = ", ".join(f"{name} {n}" for name, n in zip(SPIN_REASONS, self.reasons) if n)
        return f"spin on cpu {self.cpu}: {self.slices} slices of {self.slice_ns // 1000} µs ({reasons or 'none'})"

    def warm_up(self) -> None:
        """Compile the slice now (a closed socket pair: one slice that sees the peer gone)."""
        import socket

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
        return t if t is not None and not t.closed and t.direct_fd >= 0 else None

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
