"""Compiled DPDK receive/transmit loops (numba) over the ``_tw_dpdk`` shims, and their plain-Python twins.

Per-packet mbuf access is done in C (``tw_dpdk_rx_touch_free``, ``tw_dpdk_rx_copy``): numba reading mbuf fields
through int-to-pointer casts is ~25 % slower (gathers). These functions call cffi, so they cannot use numba's
on-disk cache; they stay small. Arrays: ``mbufs`` uint64 (room for ``burst`` handles), ``state`` uint64[4]
(see ``tw_dpdk_rx_copy`` in ffi/dpdk.c), batch arrays ``buf`` uint8, ``offsets`` int64, ``lengths`` int32,
``stamps`` int64.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tickwire.native import lib as _native
from tickwire.netstack.dpdk import dpdk_module

_lib = dpdk_module().lib

RX_STATE_PENDING, RX_STATE_POS, RX_STATE_OVERSIZE, RX_STATE_RECEIVED = 0, 1, 2, 3


def new_rx_state() -> np.ndarray:
    """The uint64[4] carry-over state ``rx_into_batch`` needs (pending mbufs, byte position, drops, total)."""
    return np.zeros(4, dtype=np.uint64)


TOUCH_NONE, TOUCH_LEN, TOUCH_DATA = 0, 1, 2  # per-packet work of rx_touch_loop (see tw_dpdk_rx_touch_free)


@njit
def rx_touch_loop(port: int, queue: int, mbufs: np.ndarray, burst: int, max_packets: int,
                  max_cycles: int, touch: int) -> tuple[int, int, int, int]:
    """Receive, touch every packet (``TOUCH_NONE``: not at all, as testpmd's rxonly; ``TOUCH_LEN``: its length;
    ``TOUCH_DATA``: its length and first byte), free: until max_packets or max_cycles TSC cycles. Returns
    (packets, non-empty bursts, checksum, elapsed cycles). One C call per poll (``tw_dpdk_rx_touch_free``:
    rx_burst + touch + free_bulk)."""
    packets = 0
    bursts = 0
    acc = np.zeros(1, np.uint64)
    acc_addr = acc.ctypes.data
    start = _native.tw_rdtsc()
    end = start + max_cycles
    addr = mbufs.ctypes.data
    while packets < max_packets:
        n = _lib.tw_dpdk_rx_touch_free(port, queue, addr, burst, touch, acc_addr)
        if n > 0:
            packets += n
            bursts += 1
            if (bursts & 1023) == 0 and _native.tw_rdtsc() > end:
                break
        elif _native.tw_rdtsc() > end:
            break
    return packets, bursts, acc[0], _native.tw_rdtsc() - start


@njit(_nrt=False)
def io_forward_loop(port: int, queue: int, mbufs: np.ndarray, burst: int, max_cycles: int) -> tuple[int, int]:
    """testpmd's io forwarding on one port: receive a burst and transmit it back (``tw_dpdk_rx_tx_back``), until
    max_cycles TSC cycles. On net_ring (whose transmit ring is its receive ring) the packets put in first circulate
    for ever. Returns (packets received, elapsed cycles)."""
    packets = 0
    polls = 0
    start = _native.tw_rdtsc()
    end = start + max_cycles
    addr = mbufs.ctypes.data
    while True:
        packets += _lib.tw_dpdk_rx_tx_back(port, queue, addr, burst)
        polls += 1
        if (polls & 1023) == 0 and _native.tw_rdtsc() > end:
            break
    return packets, _native.tw_rdtsc() - start


@njit(_nrt=False)
def rx_into_batch(port: int, queue: int, mbufs: np.ndarray, burst: int, state: np.ndarray, buf: np.ndarray,
                  offsets: np.ndarray, lengths: np.ndarray, stamps: np.ndarray, first: int, max_pkts: int,
                  ts_mult: int, max_idle_polls: int) -> int:
    """Fill batch slots first.. until max_pkts, the buffer is full, or max_idle_polls empty polls in a row.

    Returns the index after the last filled slot. ``state[1]`` is the next free byte of ``buf``: reset it to 0
    (and start again at slot 0) for a new batch; mbufs that did not fit stay pending in ``mbufs``/``state``.
    """
    idle = 0
    i = first
    while i < max_pkts and idle < max_idle_polls:
        k = _lib.tw_dpdk_rx_copy(port, queue, mbufs.ctypes.data, burst, state.ctypes.data, buf.ctypes.data,
                                 buf.size, offsets.ctypes.data, lengths.ctypes.data, stamps.ctypes.data,
                                 i, max_pkts, ts_mult)
        if k == 0:
            if state[0] > 0:  # the next packet does not fit in what is left of buf: the batch is full
                break
            idle += 1
        else:
            idle = 0
            i += k
    return i


def rx_into_batch_reference(port: int, queue: int, mbufs: np.ndarray, burst: int, state: np.ndarray,
                            buf: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, stamps: np.ndarray,
                            first: int, max_pkts: int, ts_mult: int, max_idle_polls: int) -> int:
    """Plain-Python twin of ``rx_into_batch``: rx_burst and one mbuf at a time, no batch helper in C.

    Stamps of PMDs that do not stamp packets are the receive time, so only stamped PMDs (net_pcap) compare equal.
    """
    mod = dpdk_module()
    ffi, lib = mod.ffi, mod.lib
    handles = ffi.cast("void *", mbufs.ctypes.data)
    idle = 0
    i = first
    while i < max_pkts and idle < max_idle_polls:
        have = int(state[0])
        if have == 0:
            have = lib.tw_dpdk_rx_burst(port, queue, handles, min(burst, max_pkts - i))
            state[3] += have
        if have == 0:
            idle += 1
            continue
        idle = 0
        now = _native.tw_realtime_ns()
        j = 0
        while j < have and i < max_pkts:
            m = int(mbufs[j])
            plen = lib.tw_dpdk_mbuf_pkt_len(m)
            pos = int(state[1])
            if plen > buf.size:
                state[2] += 1
                lib.tw_dpdk_mbuf_free(m)
                j += 1
                continue
            if pos + plen > buf.size:
                break
            lib.tw_dpdk_mbuf_copy_out(m, ffi.cast("void *", buf.ctypes.data + pos), plen)
            stamp = lib.tw_dpdk_mbuf_rx_timestamp(m)
            offsets[i], lengths[i] = pos, plen
            stamps[i] = stamp * ts_mult if stamp >= 0 else now
            state[1] = pos + plen
            lib.tw_dpdk_mbuf_free(m)
            i += 1
            j += 1
        mbufs[: have - j] = mbufs[j:have].copy()
        state[0] = have - j
        if state[0] > 0:
            break
    return i


@njit(_nrt=False)
def tx_batch(port: int, queue: int, pool: int, buf: np.ndarray, offsets: np.ndarray, lengths: np.ndarray,
             first: int, count: int, scratch: np.ndarray, burst: int) -> int:
    """Send packets first..first+count of a batch in bursts (each copied into an mbuf of ``pool``).

    Returns packets sent; a negative errno when a burst could not be built (-ENOBUFS: pool empty, -EMSGSIZE:
    a packet larger than one mbuf). Stops early when the device accepts nothing.
    """
    sent = 0
    while sent < count:
        n = min(burst, count - sent)
        rc = _lib.tw_dpdk_tx_copy(port, queue, pool, buf.ctypes.data, offsets.ctypes.data, lengths.ctypes.data,
                                  first + sent, n, scratch.ctypes.data)
        if rc < 0:
            return rc
        sent += rc
        if rc < n:
            break
    return sent
