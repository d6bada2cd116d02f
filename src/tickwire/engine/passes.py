"""The compiled pass of one strategy kernel: the template that tickwire.engine.kernel_cache specialises.

The strategy kernel is a compile-time constant of the pass (a global, so a call does not type a function
argument), so the pass is compiled once per kernel. A closure over the kernel could not be cached on disk (numba
keys a closure's cache on its pickled cell contents, which hold a per-process dispatcher id): instead this file is
the *source* of a module per kernel. :func:`tickwire.engine.kernel_cache.specialised` writes a copy of it into the
cache directory with the two specialisation lines below replaced (``kernel`` imported from the strategy's
module, ``CACHE`` true), so numba caches every function here next to that copy and a later process loads them in
milliseconds. This file itself is never compiled.

Entry points, each taking the :class:`~tickwire.engine.hotpath.HotState` first: ``received_pass`` (bytes already
read into the receive buffer), ``read_pass`` (one read handed over by the event loop), ``applied_pass`` (market
data already applied to the books, e.g. a multicast batch), ``timer_pass``, ``replay_pass`` and ``backtest_pass``
(the backtest) and
``spin_slice`` (the spin driver's loop, tickwire.engine.spin). The ``box_*`` functions are the same entry points
taking the boxed state (tickwire.engine.hotpath.HotPass), which is how Python calls them.
"""
from __future__ import annotations

import errno

from numba import njit

from tickwire.deribit.json_decode import decode_read
from tickwire.clock import realtime_to_tsc
from tickwire.engine import shims
from tickwire.engine.backtest_account import deliver
from tickwire.engine.backtest_exchange import arrive_until, must_stop, on_market, submit
from tickwire.engine.hotpath import (
    SPIN_CLOSED, SPIN_ERROR, SPIN_KILLED, SPIN_OVERFLOW, SPIN_TIME, admit_actions, admit_and_encode, apply_events,
    apply_read, encode_actions, mark_applied, new_probe_row, pass_outcome, refresh_top, send_actions, timers_due,
)
from tickwire.engine.probes import RX_STAMP, RX_TSC_HZ, stamp_kernel_rx
from tickwire.engine.strategy import K_BOOK, K_TIMER
from tickwire.netstack.ws import ws_reserve
from tickwire.types import (
    C_MESSAGES, C_RISK_REFUSED, EV_BOOK, EV_TICKER, EV_TRADE, ST_BOOK, ST_ENCODED, ST_RISK, ST_SENT, ST_STRATEGY,
)

# --- specialisation (kernel_cache rewrites these two lines) ---
from tickwire.engine.hotpath import no_strategy as kernel  # noqa: E402
CACHE = False
# --- end of specialisation ---

_EAGAIN, _EINTR = errno.EAGAIN, errno.EINTR


@njit(cache=CACHE, _nrt=False)
def call(kind, inst, ev, s, n_act):
    """One kernel call writing from ``act[n_act]``; a count outside what it could have written is garbage:
    counted as refused, nothing of it kept."""
    act = s.op.act
    room = act.shape[0] - n_act
    if room <= 0:
        return n_act
    n = kernel(kind, inst, ev, s.mkt, s.acct, s.params, act[n_act:])
    if n < 0 or n > room:
        s.counters[C_RISK_REFUSED] += 1
        return n_act
    return n_act + n


@njit(cache=CACHE, _nrt=False)
def decide(s, events, n_ev, now_ns):
    """The strategy part of a pass at local time ``now_ns``: the kernel on each trade and ticker event of
    ``events[:n_ev]`` (in order), on each touched instrument (K_BOOK), then on each due timer. Returns the
    number of actions written to ``s.op.act``."""
    mkt = s.mkt
    mkt.clock[0] = now_ns
    refresh_top(mkt)
    n_inst = mkt.touched.shape[0]
    n_act = 0
    for k in range(n_ev):
        ev = events[k]
        if ev.inst < 0 or ev.inst >= n_inst:
            continue
        if ev.kind == EV_TRADE or ev.kind == EV_TICKER:
            n_act = call(ev.kind, ev.inst, ev, s, n_act)
        elif ev.kind == EV_BOOK:
            mkt.last_ev[ev.inst] = k
    for inst in range(n_inst):
        if mkt.touched[inst] != 0 and n_ev > 0:
            n_act = call(K_BOOK, inst, events[mkt.last_ev[inst]], s, n_act)
    for inst in range(n_inst):
        if 0 < mkt.timer[inst] <= now_ns:
            mkt.timer[inst] = 0
            mkt.wake[0].inst = inst
            mkt.wake[0].exch_ts = now_ns
            n_act = call(K_TIMER, inst, mkt.wake[0], s, n_act)
    return n_act


@njit(cache=CACHE, _nrt=False)
def decide_and_send(s, events, n_ev, row, fd):
    """The part of a pass after the books changed (:func:`decide` on ``events[:n_ev]``), then risk,
    encode, frame and send on ``fd`` (-1: the caller sends); stamps probe row ``row`` from ST_BOOK on.
    Returns (bytes framed in ``s.op.tx``, bytes sent or -errno)."""
    stages = s.probes.stages
    stages[row, ST_BOOK] = shims.rdtsc()
    now_ns = shims.monotonic_ns()
    n_act = decide(s, events, n_ev, now_ns)
    if n_act == 0:
        return 0, 0
    tsc = shims.rdtsc()
    stages[row, ST_STRATEGY] = tsc
    admit_actions(s, n_act, now_ns)
    stages[row, ST_RISK] = shims.rdtsc()
    tx_len = encode_actions(s, n_act, tsc)
    stages[row, ST_ENCODED] = shims.rdtsc()
    sent = 0
    if tx_len > 0 and fd >= 0:
        sent = shims.send(fd, s.op.tx.ctypes.data, tx_len)
        stages[row, ST_SENT] = shims.rdtsc()
    return tx_len, sent


@njit(cache=CACHE, _nrt=False)
def received_pass(s, n, recv_tsc, fd):
    """The inner pass over ``n`` bytes already written into ``s.recv.rx`` at ``ws_reserve(ws_st, rx, n)``
    (a socket read straight into the buffer, or :func:`read_pass`'s copy): deframe + decode, apply the
    book events, run the strategy kernel on each changed book, check risk, encode, frame and send on ``fd``
    (-1: the caller sends). Returns (n_spans, n_resps, n_fallback, bytes framed in ``s.op.tx``, bytes sent
    or -errno); when n_spans == len(spans) call again with n = 0. Allocates nothing."""
    r = s.recv
    ns, n_ev, n_resp, n_fb = decode_read(r.ws_st, r.rx, n, r.spans, r.ctrl, r.insts, r.events, r.resps, r.fb,
                                         recv_tsc, 0)
    row = new_probe_row(s.probes, recv_tsc)
    s.counters[C_MESSAGES] += ns
    if not apply_read(s, n_ev) and not timers_due(s.mkt, shims.monotonic_ns()):
        return ns, n_resp, n_fb, 0, 0
    tx_len, sent = decide_and_send(s, r.events, n_ev, row, fd)
    return ns, n_resp, n_fb, tx_len, sent


@njit(cache=CACHE, _nrt=False)
def read_pass(s, data, recv_tsc, fd):
    """One socket read handed over as ``data`` (uint8): copied into the receive buffer, then
    ``received_pass``. Returns its tuple, or n_spans -1 when the bytes do not fit the buffer."""
    r = s.recv
    n = data.shape[0]
    w = ws_reserve(r.ws_st, r.rx, n)
    if w < 0:
        return -1, 0, 0, 0, 0
    for i in range(n):
        r.rx[w + i] = data[i]
    return received_pass(s, n, recv_tsc, fd)


@njit(cache=CACHE, _nrt=False)
def applied_pass(s, events, n_ev, recv_tsc, fd):
    """The hot pass for market data whose book events are already applied (the multicast feed applies
    them while decoding): probes, ``touched``, then the decide part. Returns (bytes framed in
    ``s.op.tx``, bytes sent or -errno)."""
    row = new_probe_row(s.probes, recv_tsc)  # recv: the feed handed its events over (decoded, applied)
    if not mark_applied(s, events, n_ev) and not timers_due(s.mkt, shims.monotonic_ns()):
        return 0, 0
    return decide_and_send(s, events, n_ev, row, fd)


@njit(cache=CACHE, _nrt=False)
def replay_pass(s, events, n_ev, now_ns):
    """The backtest's pass (tickwire.engine.backtest): ``events[:n_ev]`` (one replayed message) applied to
    the books, the decide part at the replayed local time ``now_ns``, risk and encode, nothing sent.
    Returns (actions decided, bytes framed in ``s.op.tx``)."""
    s.mkt.touched[:] = 0
    apply_events(s, events, n_ev)
    n_act = decide(s, events, n_ev, now_ns)
    if n_act == 0:
        return 0, 0
    return n_act, admit_and_encode(s, n_act, now_ns)


@njit(cache=CACHE, _nrt=False)
def backtest_timers(s, x, until_ns):
    """The backtest's kernel timers due before ``until_ns``, each at its own time (the venue's answers due by
    then first); what they decide goes to the venue model ``x`` (bounded: a kernel re-arming a timer in the
    past would loop)."""
    timer = s.mkt.timer
    for _ in range(1000):
        t = -1
        for inst in range(timer.shape[0]):
            if 0 < timer[inst] < until_ns and (t < 0 or timer[inst] < t):
                t = timer[inst]
        if t < 0:
            return
        deliver(s, x, t)
        n_act, tx_len = replay_pass(s, s.recv.events[:0], 0, t)
        if tx_len > 0:
            submit(s, x, n_act, tx_len, t)


@njit(cache=CACHE, _nrt=False)
def backtest_pass(s, events, starts, n_msgs, i, x):
    """The backtest's loop (tickwire.engine.backtest) over messages ``i`` .. ``n_msgs - 1`` of one decoded chunk
    (``events[starts[i]:starts[i + 1]]``), against the compiled venue model ``x``
    (tickwire.engine.backtest_exchange): per message, the venue's answers due by its capture time (applied as
    the live slow path does, tickwire.engine.backtest_account), due kernel timers, the requests reaching the
    venue by its exchange time, ``replay_pass`` at its capture time, the requests it framed to the venue, then
    the venue's queues and fills. Returns the next message index (``n_msgs``: all done; less when the venue
    model must hand over to Python first, see ``must_stop``)."""
    while i < n_msgs and not must_stop(x):
        lo, hi = starts[i], starts[i + 1]
        now, venue_ns = events[lo].recv_ts, events[hi - 1].exch_ts
        deliver(s, x, now)
        backtest_timers(s, x, now)
        arrive_until(s, x, venue_ns)
        n_act, tx_len = replay_pass(s, events[lo:hi], hi - lo, now)
        if tx_len > 0:
            submit(s, x, n_act, tx_len, now)
        on_market(s, x, events, lo, hi, venue_ns)
        i += 1
    return i


@njit(cache=CACHE, _nrt=False)
def backtest_finish(s, x, until_ns):
    """After the capture: the answers still in flight reach the engine by ``until_ns``."""
    deliver(s, x, until_ns)


@njit(cache=CACHE, _nrt=False)
def timer_pass(s, fd):
    """Due kernel timers outside a read (the engine's timer loop): the decide part with no events."""
    if not timers_due(s.mkt, shims.monotonic_ns()):
        return 0, 0
    row = new_probe_row(s.probes, shims.rdtsc())
    return decide_and_send(s, s.recv.events, 0, row, fd)


@njit(cache=CACHE, _nrt=False)
def spin_slice(s, fd, send_fd, slice_ns, read_max, kill, py_tier):
    """One time slice of the spin driver (tickwire.engine.spin)::

        spin_slice(s, fd, send_fd, slice_ns, read_max, kill, py_tier)
            -> (reason, n_spans, n_resps, n_fallback, tx_len, sent, err)

    Busy-polls ``fd`` (the plaintext TCP socket) with the non-blocking recv shim straight into the receive
    buffer and runs :func:`received_pass` on every read; the kernel's receive stamp of each read (when the socket
    has them on) goes into its probe rows as ST_KERNEL_RX, as the async driver's reads do. ``send_fd`` is the socket it may write (-1 while the
    transport has bytes queued: frames are then left in ``s.op.tx`` for it), ``kill`` a uint64[1] flag,
    ``py_tier`` 1 when a Python-tier strategy must see every book change. The counts are those of the last inner
    pass (the slow path handles ``s.recv.resps[:n_resps]``, ``s.recv.fb[:n_fallback]`` and
    ``s.op.tx[sent:tx_len]`` exactly as after an async read); ``err`` is the errno of SPIN_ERROR."""
    r, rx = s.recv, s.probes.rx
    deadline = shims.monotonic_ns() + slice_ns
    while True:
        if kill[0] != 0:
            s.risk.state[0].killed = 1  # no order passes from here on, before Python even runs
            return SPIN_KILLED, 0, 0, 0, 0, 0, 0
        w = ws_reserve(r.ws_st, r.rx, read_max)
        if w < 0:
            return SPIN_OVERFLOW, 0, 0, 0, 0, 0, 0
        n = shims.recv_ts(fd, r.rx[w:].ctypes.data, read_max, rx.ctypes.data)
        if n > 0:
            recv_tsc, now_ns, first_pass = shims.rdtsc(), shims.realtime_ns(), s.probes.count[0].passes
            ns, n_resp, n_fb, tx_len, sent = received_pass(s, n, recv_tsc, send_fd)
            kernel_tsc = realtime_to_tsc(rx[RX_STAMP], recv_tsc, now_ns, float(rx[RX_TSC_HZ]))
            if kernel_tsc > 0:  # the socket has kernel receive stamps on (the transport turns them on)
                stamp_kernel_rx(s.probes.stages, s.probes.count, first_pass, kernel_tsc)
            outcome = pass_outcome(s, ns, n_resp, n_fb, tx_len, sent, py_tier)
            if outcome >= 0:
                return outcome, ns, n_resp, n_fb, tx_len, sent, 0
        elif n == 0:
            return SPIN_CLOSED, 0, 0, 0, 0, 0, 0
        elif n != -_EAGAIN and n != -_EINTR:
            return SPIN_ERROR, 0, 0, 0, 0, 0, -n
        if shims.monotonic_ns() >= deadline:
            return SPIN_TIME, 0, 0, 0, 0, 0, 0


# The entry points on the boxed state: what Python calls (tickwire.engine.hotpath.HotPass.entry).
@njit(cache=CACHE)
def box_read(box, data, recv_tsc, fd):
    return read_pass(box.s, data, recv_tsc, fd)


@njit(cache=CACHE)
def box_applied(box, events, n_ev, recv_tsc, fd):
    return applied_pass(box.s, events, n_ev, recv_tsc, fd)


@njit(cache=CACHE)
def box_timers(box, fd):
    return timer_pass(box.s, fd)


@njit(cache=CACHE)
def box_send(box, n_act, fd):
    return send_actions(box.s, n_act, fd)


@njit(cache=CACHE)
def box_replay(box, events, n_ev, now_ns):
    return replay_pass(box.s, events, n_ev, now_ns)


@njit(cache=CACHE)
def box_backtest(box, events, starts, n_msgs, i, x):
    return backtest_pass(box.s, events, starts, n_msgs, i, x)


@njit(cache=CACHE)
def box_backtest_finish(box, x, until_ns):
    return backtest_finish(box.s, x, until_ns)


@njit(cache=CACHE)
def box_admit(box, n_act, now_ns):
    return admit_and_encode(box.s, n_act, now_ns)


@njit(cache=CACHE)
def box_spin(box, fd, send_fd, slice_ns, read_max, kill, py_tier):
    return spin_slice(box.s, fd, send_fd, slice_ns, read_max, kill, py_tier)
