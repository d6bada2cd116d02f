"""Packet headers in compiled code: link layer (Ethernet, 802.1Q/802.1ad VLAN, Linux SLL and SLL2, BSD loopback,
raw IPv4) -> IPv4 (options skipped; fragments detected and reported, not reassembled) -> TCP / UDP.

    parse_packets(buf, off, caplen, ts_ns, linktype, out, counts)    counts[PKT_*] += packets of that kind
    out[i] (PACKET_DTYPE) describes packet i; its L4 payload is buf[out[i].payload_off : + out[i].payload_len]

Nothing is copied: payload offsets point into the batch buffer. A frame whose headers are cut or inconsistent is
PKT_MALFORMED (never read past caplen); a payload cut by the snap length is kept and flagged ``truncated``.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tickwire.types import (
    LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_NULL, LINKTYPE_RAW,
    PACKET_DTYPE, PKT_IP_FRAGMENT, PKT_MALFORMED, PKT_OTHER, PKT_TCP, PKT_UDP,
)

ETH_P_IP, ETH_P_8021Q, ETH_P_8021AD = 0x0800, 0x8100, 0x88A8
N_KINDS = 5


@njit(cache=True, inline="always", _nrt=False)
def _be16(b, p):
    return (np.int64(b[p]) << 8) | np.int64(b[p + 1])


@njit(cache=True, inline="always", _nrt=False)
def _be32(b, p):
    return (np.int64(b[p]) << 24) | (np.int64(b[p + 1]) << 16) | (np.int64(b[p + 2]) << 8) | np.int64(b[p + 3])


@njit(cache=True, _nrt=False)
def _l3_start(b, s, n, linktype, r):
    """Offset (from s) of the IPv4 header, -1 when the frame is not IPv4, -2 when its link header is cut."""
    if linktype == LINKTYPE_ETHERNET:
        if n < 14:
            return -2
        et = _be16(b, s + 12)
        p = 14
        while et == ETH_P_8021Q or et == ETH_P_8021AD:
            if n < p + 4:
                return -2
            if r.vlan == 0:
                r.vlan = _be16(b, s + p) & 0x0FFF
            et = _be16(b, s + p + 2)
            p += 4
        return p if et == ETH_P_IP else -1
    if linktype == LINKTYPE_LINUX_SLL:
        if n < 16:
            return -2
        return 16 if _be16(b, s + 14) == ETH_P_IP else -1
    if linktype == LINKTYPE_LINUX_SLL2:
        if n < 20:
            return -2
        return 20 if _be16(b, s) == ETH_P_IP else -1
    if linktype == LINKTYPE_NULL:
        if n < 4:
            return -2
        fam = b[s] | b[s + 3]  # AF_INET = 2 in either byte order
        return 4 if fam == 2 and b[s + 1] == 0 and b[s + 2] == 0 else -1
    if linktype == LINKTYPE_RAW or linktype == LINKTYPE_IPV4:
        return 0 if n >= 1 and (b[s] >> 4) == 4 else -1
    return -1


@njit(cache=True, _nrt=False)
def parse_packet(b, s, n, ts, linktype, r):
    """Fill the PACKET_DTYPE record r for the frame b[s:s+n]; returns its kind."""
    r.ts_ns = ts
    r.payload_off = 0
    r.payload_len = 0
    r.src_ip = 0
    r.dst_ip = 0
    r.seq = 0
    r.ack = 0
    r.sport = 0
    r.dport = 0
    r.tcp_flags = 0
    r.truncated = 0
    r.vlan = 0
    r.kind = PKT_OTHER
    p = _l3_start(b, s, n, linktype, r)
    if p == -1:
        return PKT_OTHER
    if p < 0 or n < p + 20:
        r.kind = PKT_MALFORMED
        return PKT_MALFORMED
    ip = s + p
    if (b[ip] >> 4) != 4:
        return PKT_OTHER
    ihl = (b[ip] & 0x0F) * 4
    total = _be16(b, ip + 2)
    if ihl < 20 or total < ihl or n < p + ihl:
        r.kind = PKT_MALFORMED
        return PKT_MALFORMED
    r.src_ip = _be32(b, ip + 12)
    r.dst_ip = _be32(b, ip + 16)
    frag = _be16(b, ip + 6)
    proto = b[ip + 9]
    avail = min(total, n - p)  # IP bytes we have (Ethernet padding excluded, snaplen cut included)
    if avail < total:
        r.truncated = 1
    if frag & 0x3FFF:  # more-fragments flag or a fragment offset
        r.kind = PKT_IP_FRAGMENT
        return PKT_IP_FRAGMENT
    l4 = ip + ihl
    l4_avail = avail - ihl
    if proto == 6:
        if l4_avail < 20:
            r.kind = PKT_MALFORMED
            return PKT_MALFORMED
        doff = (b[l4 + 12] >> 4) * 4
        if doff < 20 or doff > l4_avail:
            r.kind = PKT_MALFORMED
            return PKT_MALFORMED
        r.sport = _be16(b, l4)
        r.dport = _be16(b, l4 + 2)
        r.seq = _be32(b, l4 + 4)
        r.ack = _be32(b, l4 + 8)
        r.tcp_flags = b[l4 + 13]
        r.payload_off = l4 + doff
        r.payload_len = l4_avail - doff
        r.kind = PKT_TCP
        return PKT_TCP
    if proto == 17:
        if l4_avail < 8:
            r.kind = PKT_MALFORMED
            return PKT_MALFORMED
        ulen = _be16(b, l4 + 4)
        if ulen < 8 or ulen > total - ihl:
            r.kind = PKT_MALFORMED
            return PKT_MALFORMED
        r.sport = _be16(b, l4)
        r.dport = _be16(b, l4 + 2)
        r.payload_off = l4 + 8
        r.payload_len = min(ulen, l4_avail) - 8
        r.kind = PKT_UDP
        return PKT_UDP
    return PKT_OTHER


@njit(cache=True, _nrt=False)
def parse_packets(buf, off, caplen, ts_ns, linktype, out, counts):
    """Parse len(off) frames into out[:len(off)]; adds to ``counts`` (int64, indexed by PKT_* kind)."""
    for i in range(off.shape[0]):
        k = parse_packet(buf, off[i], caplen[i], ts_ns[i], linktype[i], out[i])
        counts[k] += 1


def new_packets(n: int) -> np.ndarray:
    """Output records for parse_packets."""
    return np.zeros(n, dtype=PACKET_DTYPE)
