"""Ethernet + IPv4 for the userspace stack: big-endian field access, the Internet checksum, transmit slots.

Compiled (``cache=True``), pure: they read and write the ``UtcpState`` arrays only. A frame is built in one
transmit slot (``tx_slot``), its length recorded in ``txlen``; the port loop sends the batch and resets it.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tickwire.netstack.utcp_state import CFG_IP_ID, CFG_TX_COUNT, CFG_TX_FULL, FRAME_SLOT

ETH_HLEN = 14
IP_HLEN = 20
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
PROTO_TCP = 6
BROADCAST_MAC = 0xFFFFFFFFFFFF


@njit(cache=True, inline="always", _nrt=False)
def rd16(b: np.ndarray, i: int) -> int:
    return (np.int64(b[i]) << 8) | np.int64(b[i + 1])


@njit(cache=True, inline="always", _nrt=False)
def rd32(b: np.ndarray, i: int) -> int:
    return (np.int64(b[i]) << 24) | (np.int64(b[i + 1]) << 16) | (np.int64(b[i + 2]) << 8) | np.int64(b[i + 3])


@njit(cache=True, inline="always", _nrt=False)
def rd48(b: np.ndarray, i: int) -> int:
    return (rd16(b, i) << 32) | rd32(b, i + 2)


@njit(cache=True, inline="always", _nrt=False)
def wr16(b: np.ndarray, i: int, v: int) -> None:
    b[i] = (v >> 8) & 0xFF
    b[i + 1] = v & 0xFF


@njit(cache=True, inline="always", _nrt=False)
def wr32(b: np.ndarray, i: int, v: int) -> None:
    wr16(b, i, (v >> 16) & 0xFFFF)
    wr16(b, i + 2, v & 0xFFFF)


@njit(cache=True, inline="always", _nrt=False)
def wr48(b: np.ndarray, i: int, v: int) -> None:
    wr16(b, i, (v >> 32) & 0xFFFF)
    wr32(b, i + 2, v & 0xFFFFFFFF)


@njit(cache=True, _nrt=False)
def copy_bytes(dst: np.ndarray, d_at: int, src: np.ndarray, s_at: int, n: int) -> None:
    """dst[d_at:d_at+n] = src[s_at:s_at+n] as a plain loop: a slice assignment would need numba's runtime (it
    may allocate a temporary when the two could overlap), and the stack's kernels are compiled without it."""
    for i in range(n):
        dst[d_at + i] = src[s_at + i]


@njit(cache=True, _nrt=False)
def csum_add(b: np.ndarray, start: int, n: int, acc: int) -> int:
    """Add bytes b[start:start+n] as big-endian 16-bit words to a ones'-complement accumulator (unfolded)."""
    i = start
    end = start + n - 1
    while i < end:
        acc += (np.int64(b[i]) << 8) | np.int64(b[i + 1])
        i += 2
    if n & 1:
        acc += np.int64(b[start + n - 1]) << 8
    return acc


@njit(cache=True, inline="always", _nrt=False)
def csum_fold(acc: int) -> int:
    """Fold the accumulator to 16 bits and complement it: the value to write in a checksum field."""
    while acc >> 16:
        acc = (acc & 0xFFFF) + (acc >> 16)
    return (~acc) & 0xFFFF


@njit(cache=True, _nrt=False)
def pseudo_header_sum(src: int, dst: int, proto: int, length: int) -> int:
    """The IPv4 pseudo-header's contribution to a TCP/UDP checksum."""
    return (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + proto + length


@njit(cache=True, _nrt=False)
def tx_slot(st) -> int:
    """Offset of the next free transmit slot, or -1 when the batch is full (the frame is then not built)."""
    n = st.cfg[CFG_TX_COUNT]
    if n >= st.txlen.size:
        st.cfg[CFG_TX_FULL] = 1  # the port loop flushes and runs the output again
        return -1
    return n * FRAME_SLOT


@njit(cache=True, _nrt=False)
def tx_commit(st, length: int) -> None:
    """Record the frame just built in the current slot (``length`` bytes)."""
    n = st.cfg[CFG_TX_COUNT]
    st.txlen[n] = length
    st.cfg[CFG_TX_COUNT] = n + 1


@njit(cache=True, _nrt=False)
def write_eth(b: np.ndarray, at: int, dst_mac: int, src_mac: int, ethertype: int) -> None:
    wr48(b, at, dst_mac)
    wr48(b, at + 6, src_mac)
    wr16(b, at + 12, ethertype)


@njit(cache=True, _nrt=False)
def write_ipv4(st, b: np.ndarray, at: int, src: int, dst: int, proto: int, payload_len: int) -> None:
    """A 20-byte IPv4 header (DF set, TTL 64) with its checksum, at ``at``."""
    b[at] = 0x45
    b[at + 1] = 0
    wr16(b, at + 2, IP_HLEN + payload_len)
    ident = st.cfg[CFG_IP_ID]
    st.cfg[CFG_IP_ID] = (ident + 1) & 0xFFFF
    wr16(b, at + 4, ident)
    wr16(b, at + 6, 0x4000)
    b[at + 8] = 64
    b[at + 9] = proto
    wr16(b, at + 10, 0)
    wr32(b, at + 12, src)
    wr32(b, at + 16, dst)
    wr16(b, at + 10, csum_fold(csum_add(b, at, IP_HLEN, 0)))
