"""The compiled hot pass: bytes -> deframe -> decode -> book -> strategy -> risk -> encode -> frame -> send.

The state of the pass is one :class:`HotState`: a handful of named records (NamedTuples of preallocated arrays)
passed as units — the WebSocket receive side and decoder outputs (:class:`Receive`), the market view
(``Market``), the account view (``Account``: orders and exposure), the order path (:class:`OrderPath`), risk
(``RiskState``), the probe rings, the engine counters and the strategy params. Everything works on those arrays;
the only calls out are the _tw_native shims (TSC, clock, and send: on a socket or through a TLS session, see
netstack.tls), bound by symbol (tickwire.engine.shims) so that every kernel is cached on disk. This module
holds the parts of the pass that do not depend on the strategy; the pass itself, with the strategy kernel
compiled in, is tickwire.engine.passes, specialised and cached per kernel by tickwire.engine.kernel_cache.

Python calls the pass through :class:`HotPass`: the state is boxed once (a numba struct reference holding the
HotState) and each entry point is compiled for its exact argument types, so a call from Python unboxes one
object instead of ~40 arrays and skips numba's per-call type dispatch (see :class:`HotPass`).

Order requests carry JSON-RPC ids ``ORDER_ID_BASE + cid * 4 + kind`` so that the slow path knows, from the id
alone, which client order and which request an answer belongs to (no lookup table, no allocation).
"""
from __future__ import annotations

import functools
import os
from typing import Any, Callable, NamedTuple

import numpy as np
from numba import njit, typeof, types
from numba.extending import overload
from numba.experimental import structref

from tickwire.deribit import json_encode as encode
from tickwire.deribit.json_decode import new_outputs
from tickwire.engine import risk, shims
from tickwire.engine.kernel_cache import build_hot_pass
from tickwire.engine.orders import L_CANCEL_SENT, L_EDIT_SENT, Account, apply_local, is_live, take_slot
from tickwire.engine.probes import ProbeRings, md_applied
from tickwire.engine.strategy import Market
from tickwire.md.book import GAP, IGNORED, book_apply_event, book_top
from tickwire.netstack import ws
from tickwire.netstack.ws import OP_TEXT, ws_encode
from tickwire.types import (
    ACT_CANCEL, ACT_CANCEL_ALL, ACT_EDIT, ACT_NEW, ACT_NONE, ACTION_DTYPE, BOOK_NO_PRICE, C_BOOK_UPDATES,
    C_CANCELS_SENT, C_CREDITS_SPENT, C_MESSAGES, C_ORDERS_SENT, C_RESYNCS, C_RISK_REFUSED, EV_BOOK, EV_TICKER,
    EV_TRADE, EVF_LAST,
    INSTRUMENT_NAME_BYTES, ORD_OPEN, ORD_PARTIALLY_FILLED, ORD_PENDING_CANCEL, ORD_PENDING_NEW, RISK_MAX_OPEN,
    RISK_OK, ST_DECODED, ST_RECV,
)

ORDER_ID_BASE = 1 << 40
REQ_NEW, REQ_CANCEL, REQ_CANCEL_ALL, REQ_EDIT = 0, 1, 2, 3


@njit(cache=True, _nrt=False)
def order_req_id(cid: int, kind: int) -> int:
    """The JSON-RPC id of request ``kind`` (REQ_*) about client order ``cid``."""
    return ORDER_ID_BASE + cid * 4 + kind


class Receive(NamedTuple):
    """The WebSocket receive side and the compiled decoder's outputs (tickwire.deribit.json_decode)."""

    ws_st: np.ndarray  # deframer state (tickwire.netstack.ws)
    rx: np.ndarray  # uint8 receive buffer: reads land at ws_reserve(ws_st, rx, n)
    spans: np.ndarray  # complete messages of the last read
    ctrl: np.ndarray  # reassembly area of fragmented / control frames
    insts: np.ndarray  # INSTRUMENT_DTYPE: codec slot == engine instrument index
    events: np.ndarray  # EVENT_DTYPE market-data events of the last read
    resps: np.ndarray  # ORDER_RESP_DTYPE answers to order requests
    fb: np.ndarray  # fallback rows: spans the compiled decoder left to the slow path


def new_receive(insts: np.ndarray, rx_bytes: int = 1 << 22, n_spans: int = 512) -> Receive:
    """Buffers for one client connection (server -> client frames are never masked)."""
    spans = ws.new_spans(n_spans)
    events, resps, fb = new_outputs(events=1 << 16, resps=1024, spans=spans.shape[0])
    return Receive(ws.new_state(ws.PH_FRAMES, ws.MASK_NO), ws.new_rx(rx_bytes), spans, ws.new_ctrl(), insts,
                   events, resps, fb)


class OrderPath(NamedTuple):
    """Every array the order path needs, preallocated once per engine (see :func:`encode_actions`)."""

    act: np.ndarray  # ACTION_DTYPE: the actions of one decision
    ids: np.ndarray  # int64[3]: orders sent + 1, next masking key index, last client id given out
    keys: np.ndarray  # int64: WebSocket masking keys from the OS CSPRNG, refilled on the slow path
    names: np.ndarray  # uint8[n_inst, 48] instrument names, name_len bytes each
    name_len: np.ndarray  # int64[n_inst]
    meta: np.ndarray  # int64[n_inst, 4] = (tick_num, tick_scale, lot_num, lot_scale)
    label: np.ndarray  # uint8: the run's label prefix (client ids travel in Deribit's label)
    frag: np.ndarray  # the request encoder's fixed fragments (tickwire.deribit.json_encode.fragments)
    frag_off: np.ndarray
    payload: np.ndarray  # uint8 scratch for one request
    tx: np.ndarray  # uint8: the framed requests of one decision

    def refill_keys(self) -> None:
        """New masking keys (the slow path calls this periodically: keys must not be predictable)."""
        self.keys[:] = np.frombuffer(os.urandom(4 * self.keys.shape[0]), np.uint32)


def new_order_path(names: list[str], meta: np.ndarray, label: str, n_keys: int = 4096,
                   n_actions: int = 64) -> OrderPath:
    """The order path of an engine trading ``names`` (``meta`` as in :class:`OrderPath`)."""
    name_bytes = np.zeros((len(names), INSTRUMENT_NAME_BYTES), np.uint8)
    name_len = np.zeros(len(names), np.int64)
    for i, name in enumerate(names):
        raw = name.encode()
        name_bytes[i, :len(raw)] = np.frombuffer(raw, np.uint8)
        name_len[i] = len(raw)
    frag, frag_off = encode.fragments()
    return OrderPath(np.zeros(n_actions, ACTION_DTYPE), np.array([1, 1, 0], np.int64),
                     np.frombuffer(os.urandom(4 * n_keys), np.uint32).astype(np.int64), name_bytes, name_len,
                     meta, np.frombuffer(label.encode(), np.uint8).copy(), frag, frag_off,
                     np.zeros(1024, np.uint8), np.zeros(1 << 16, np.uint8))


class HotState(NamedTuple):
    """The whole state of the compiled pass, as a few records (see the module docstring)."""

    recv: Receive
    mkt: Market
    acct: Account
    op: OrderPath
    risk: risk.RiskState
    probes: ProbeRings
    counters: np.ndarray  # int64[N_COUNTERS] (C_*)
    params: np.ndarray  # float64: the numba strategy's params


@njit(cache=True, _nrt=False)
def _frame(op, n, tx_len):
    key = op.keys[op.ids[1] % op.keys.shape[0]]
    op.ids[1] += 1
    w = ws_encode(op.tx, tx_len, op.payload, 0, n, OP_TEXT, True, True, key)
    return tx_len + (w if w > 0 else 0)


@njit(cache=True, _nrt=False)
def admit_actions(s, n_act, now_ns):
    """Risk phase over ``s.op.act[:n_act]``: each action passes :func:`risk.admit` (reserving what it uses) or
    becomes ACT_NONE. A new order gets its order-table slot and client id here (``act[k].cid``, see
    tickwire.engine.orders.take_slot)."""
    act, orders, ids, counters = s.op.act, s.acct.orders, s.op.ids, s.counters
    mask = orders.shape[0] - 1
    for k in range(n_act):
        a = act[k]
        if a.kind == ACT_EDIT and orders[a.cid & mask].cid == a.cid:
            a.inst = orders[a.cid & mask].inst  # an edit names only the order: risk checks it on its instrument
            a.side = orders[a.cid & mask].side
        verdict = risk.admit(a, s.risk, s.acct.expo, s.mkt.bid, s.mkt.ask, now_ns)
        if verdict == RISK_OK and a.kind == ACT_NEW:
            cid = take_slot(s.acct, ids[2])
            if cid < 0:
                verdict = RISK_MAX_OPEN  # every slot of the order table holds a live order (the pool counts it)
            else:
                a.cid = cid
                ids[0] += 1
                ids[2] = cid
        if verdict != RISK_OK:
            counters[C_RISK_REFUSED] += 1
            a.kind = ACT_NONE
        else:
            counters[C_CREDITS_SPENT] += 1


@njit(cache=True, _nrt=False)
def encode_actions(s, n_act, tsc):
    """Encode phase: record the admitted actions of ``s.op.act[:n_act]`` in the order table and write their
    framed requests into ``s.op.tx``; returns the bytes to send."""
    op, orders, counters = s.op, s.acct.orders, s.counters
    payload, frag, frag_off = op.payload, op.frag, op.frag_off
    tx_len = 0
    mask = orders.shape[0] - 1
    for k in range(n_act):
        a = op.act[k]
        if a.kind == ACT_NEW:
            o = orders[a.cid & mask]
            o.cid = a.cid
            o.inst = a.inst
            o.side = a.side
            o.state = ORD_PENDING_NEW
            o.otype = a.otype
            o.post_only = a.post_only
            o.price = a.price
            o.amount = a.amount
            o.filled = 0
            o.last_ts = 0
            o.oid_len = 0
            o.req_id = order_req_id(a.cid, REQ_NEW)
            o.sent_tsc = tsc
            o.ack_tsc = 0
            m = op.meta[a.inst]
            n = encode.encode_new(payload, frag, frag_off, o.req_id, op.names[a.inst], op.name_len[a.inst],
                                  a.side, a.otype, a.tif, a.post_only, a.price, m[0], m[1], a.amount, m[2], m[3],
                                  op.label, op.label.shape[0], a.cid)
            counters[C_ORDERS_SENT] += 1
        elif a.kind == ACT_CANCEL:
            slot = a.cid & mask
            o = orders[slot]
            if o.cid != a.cid or not is_live(o.state) or o.oid_len == 0 or o.state == ORD_PENDING_CANCEL:
                continue  # unknown, finished, not acknowledged yet, or already being cancelled
            apply_local(orders, slot, L_CANCEL_SENT)
            n = encode.encode_cancel(payload, frag, frag_off, order_req_id(a.cid, REQ_CANCEL), o.oid, o.oid_len)
            counters[C_CANCELS_SENT] += 1
        elif a.kind == ACT_EDIT:
            slot = a.cid & mask
            o = orders[slot]
            if (o.cid != a.cid or o.oid_len == 0 or (o.state != ORD_OPEN and o.state != ORD_PARTIALLY_FILLED)
                    or a.amount > o.amount):
                continue  # only a resting, acknowledged order, never larger (risk reserved no more exposure)
            apply_local(orders, slot, L_EDIT_SENT)
            o.price = a.price
            o.amount = a.amount
            m = op.meta[a.inst]
            n = encode.encode_edit(payload, frag, frag_off, order_req_id(a.cid, REQ_EDIT), o.oid, o.oid_len,
                                   a.price, m[0], m[1], a.amount, m[2], m[3])
            counters[C_ORDERS_SENT] += 1
        elif a.kind == ACT_CANCEL_ALL:
            n = encode.encode_cancel_all(payload, frag, frag_off, order_req_id(0, REQ_CANCEL_ALL))
            counters[C_CANCELS_SENT] += 1
        else:
            continue
        tx_len = _frame(op, n, tx_len)
    return tx_len


@njit(cache=True, _nrt=False)
def refresh_top(mkt):
    """Best bid/ask ticks per instrument for risk (0 when a side is empty or the book is invalid)."""
    for inst in range(mkt.bid.shape[0]):
        bp, bq, ap, aq = book_top(mkt.px, mkt.qty, mkt.st, inst)
        ok = mkt.st[inst].valid != 0 and bp != BOOK_NO_PRICE and ap != BOOK_NO_PRICE
        mkt.bid[inst] = bp if ok else 0
        mkt.ask[inst] = ap if ok else 0


@njit(cache=True, _nrt=False)
def admit_and_encode(s, n_act, now_ns):
    """Risk at ``now_ns`` and encode for ``s.op.act[:n_act]``; returns the bytes framed in ``s.op.tx``."""
    tsc = shims.rdtsc()
    admit_actions(s, n_act, now_ns)
    return encode_actions(s, n_act, tsc)


@njit(cache=True, _nrt=False)
def send_actions(s, n_act, fd):
    """The order path for actions decided outside the hot pass (Python tier, timers, kill switch): risk, encode,
    frame and send ``s.op.act[:n_act]`` on ``fd`` (-1: the caller sends). Returns (bytes framed, sent or -errno)."""
    tx_len = admit_and_encode(s, n_act, shims.monotonic_ns())
    sent = 0
    if tx_len > 0 and fd >= 0:
        sent = shims.send(fd, s.op.tx.ctypes.data, tx_len)
    return tx_len, sent


@njit(cache=True, _nrt=False)
def apply_read(s, n_ev):
    """Apply the book events of the read just decoded (``s.recv.events[:n_ev]``): see :func:`apply_events`."""
    s.mkt.clock[1] = n_ev
    return apply_events(s, s.recv.events, n_ev)


@njit(cache=True, _nrt=False)
def apply_events(s, events, n_ev):
    """Apply the book events of ``events[:n_ev]``: ``touched[inst]`` becomes 1 for an instrument whose book
    changed, 2 when its change_id chain broke (the slow path resyncs it); each applied message is stamped in the
    market-data probe ring. Returns whether the strategy has anything to see (a book changed, a trade, a
    ticker)."""
    mkt, counters = s.mkt, s.counters
    any_book = False
    for k in range(n_ev):
        ev = events[k]
        if ev.kind == EV_TRADE or ev.kind == EV_TICKER:
            any_book = True
        if ev.kind != EV_BOOK:
            continue
        r = book_apply_event(mkt.px, mkt.qty, mkt.st, ev)
        if r == GAP:
            mkt.touched[ev.inst] = 2
            counters[C_RESYNCS] += 1
        elif r != IGNORED and ev.flags & EVF_LAST:
            md_applied(s.probes.md, s.probes.count, ev.inst, ev.change_id)
            counters[C_BOOK_UPDATES] += 1
            if mkt.touched[ev.inst] == 0:
                mkt.touched[ev.inst] = 1
            any_book = True
    return any_book


@njit(cache=True, _nrt=False)
def mark_applied(s, events, n_ev):
    """Book events applied elsewhere (the multicast feed applies them while decoding): probes and ``touched``
    as :func:`apply_read` does. Returns whether any book changed."""
    mkt = s.mkt
    any_book = False
    for k in range(n_ev):
        ev = events[k]
        if (ev.kind == EV_TRADE or ev.kind == EV_TICKER) and 0 <= ev.inst < mkt.touched.shape[0]:
            any_book = True
        if ev.kind == EV_BOOK and ev.flags & EVF_LAST and 0 <= ev.inst < mkt.touched.shape[0]:
            md_applied(s.probes.md, s.probes.count, ev.inst, ev.change_id)
            s.counters[C_MESSAGES] += 1
            s.counters[C_BOOK_UPDATES] += 1
            if mkt.touched[ev.inst] == 0:
                mkt.touched[ev.inst] = 1
            any_book = True
    return any_book


@njit(cache=True, _nrt=False)
def new_probe_row(probes, recv_tsc):
    """Start the probe row of one pass: cleared, stamped received and decoded (decoded: now)."""
    c = probes.count[0]
    row = c.passes % probes.stages.shape[0]
    c.passes += 1
    for k in range(probes.stages.shape[1]):
        probes.stages[row, k] = 0
    probes.stages[row, ST_RECV] = recv_tsc
    probes.stages[row, ST_DECODED] = shims.rdtsc()
    return row


@njit(cache=True, _nrt=False)
def timers_due(mkt, now_ns):
    """Whether a kernel timer (``mkt.timer``) has reached ``now_ns``."""
    for inst in range(mkt.timer.shape[0]):
        if 0 < mkt.timer[inst] <= now_ns:
            return True
    return False


@njit(cache=True, _nrt=False)
def no_strategy(kind, inst, ev, mkt, acct, params, out):
    """The kernel slot of a Python-tier strategy: the compiled pass decides nothing itself."""
    return 0


# Why a spin slice returned (the first item of its result; tickwire.engine.spin).
SPIN_TIME, SPIN_WORK, SPIN_KILLED, SPIN_CLOSED, SPIN_ERROR, SPIN_OVERFLOW = range(6)
SPIN_REASONS = ("time", "work", "killed", "closed", "error", "overflow")


@njit(cache=True, _nrt=False)
def pass_outcome(s, ns, n_resp, n_fb, tx_len, sent, py_tier):
    """What a spin slice does after one inner pass: SPIN_CLOSED (the stream ended or broke), SPIN_WORK (answers,
    fallbacks, a full span table, frames not sent whole, a broken change_id chain, a Python-tier strategy to
    call), or -1: keep spinning (the touched books were already seen by the compiled strategy)."""
    r, touched = s.recv, s.mkt.touched
    if ns < 0 or r.ws_st[ws.S_PHASE] == ws.PH_CLOSED:
        return SPIN_CLOSED
    resync = False
    for k in range(touched.shape[0]):
        resync = resync or touched[k] == 2
    if (n_resp > 0 or n_fb > 0 or ns == r.spans.shape[0] or sent != tx_len or resync
            or (py_tier != 0 and ns > 0)):
        return SPIN_WORK
    for k in range(touched.shape[0]):
        touched[k] = 0
    return -1


class HotStateBoxType(types.StructRef):
    """The numba type of :class:`HotStateBox` (a struct reference: unlike a jitclass, its type is the same in
    every process, so the entry points taking it are cached on disk)."""

    def preprocess_fields(self, fields: Any) -> tuple:
        return tuple((name, types.unliteral(t)) for name, t in fields)


class HotStateBox(structref.StructRefProxy):
    """A :class:`HotState` boxed once: one object for Python to pass, the same arrays underneath. Made by
    :func:`box_state` (numba's generic proxy constructor would be compiled again in every process)."""


structref.register(HotStateBoxType)
structref.define_boxing(HotStateBoxType, HotStateBox)


def _new_box(s: HotState) -> HotStateBox:
    raise NotImplementedError("compiled only")


@overload(_new_box)
def _new_box_impl(s):  # type: ignore[no-untyped-def]  # numba wants the same signature as impl's
    box_type = HotStateBoxType([("s", s)])

    def impl(s):  # type: ignore[no-untyped-def]
        box = structref.new(box_type)
        box.s = s
        return box
    return impl


@njit(cache=True)
def box_state(s: HotState) -> HotStateBox:
    """``s`` boxed (:class:`HotStateBox`)."""
    return _new_box(s)


class HotPass:
    """The compiled pass of one engine, callable from Python at the cost of one boxed argument.

    numba's dispatcher types every argument on every call (~0.1 µs per array, more for tuples) and unboxes each
    array; with ~40 arrays that was 3-4 µs per socket read. Here the :class:`HotState` is boxed once
    (:class:`HotStateBox`; its arrays stay shared with Python), and each entry point (the ``box_*`` functions of
    tickwire.engine.passes, specialised on the strategy kernel by tickwire.engine.kernel_cache) is compiled ahead
    for its exact argument types: a call runs the compiled wrapper directly, unboxing one object, a data array
    and a few ints. The argument types are therefore fixed: ``data`` a C-contiguous uint8 array, ``events`` a
    C-contiguous EVENT_DTYPE array, the rest Python ints.

    ``read(data, recv_tsc, fd)``: one socket read (``read_pass``);
    ``send(n_act, fd)``: risk, encode and send ``state.op.act[:n_act]`` (:func:`send_actions`);
    ``timers(fd)``: the kernel's due timers (``timer_pass``).
    """

    def __init__(self, state: HotState, kernel: Callable[..., int]) -> None:
        self.state = state
        self.passes = build_hot_pass(kernel)
        self._box = box_state(state)
        self.read = self.entry("read", np.zeros(0, np.uint8), 0, 0)
        self._applied = self.entry("applied", state.recv.events[:0], 0, 0, 0)
        self.send = self.entry("send", 0, 0)
        self.timers = self.entry("timers", 0)

    def applied(self, events: np.ndarray, recv_tsc: int, fd: int) -> tuple[int, int]:
        """A batch of book events already applied to the books (``applied_pass``)."""
        return self._applied(events, events.shape[0], recv_tsc, fd)

    def entry(self, name: str, *example: Any) -> Callable[..., Any]:
        """The entry point ``box_<name>`` of this engine's pass, compiled (or loaded from the cache) for the types
        of ``example`` and bound to this state: call it with the arguments after the state."""
        return self.bind(getattr(self.passes, "box_" + name), *example)

    def bind(self, dispatcher: Any, *example: Any) -> Callable[..., Any]:
        """``dispatcher`` (an @njit function taking the boxed state first) compiled for the types of ``example``
        and bound to this state."""
        compiled = dispatcher.compile(tuple(typeof(a) for a in (self._box, *example)))
        return functools.partial(compiled, self._box)
