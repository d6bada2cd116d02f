"""Packet headers in compiled code: link layer (Ethernet, 802.1Q/802.1ad VLAN, Linux SLL and SLL2, BSD loopback,
raw IPv4) -> IPv4 (options skipped; fragments detected and reported, not reassembled) -> TCP / UDP.

    parse_packets(buf, off, caplen, ts_ns, linktype, out, counts)    counts[PKT_*] += packets of that kind
    out[i] (PACKET_DTYPE) describes packet i; its L4 payload is buf[out[i].payload_off : + out[i].payload_len]

Nothing is copied: payload offsets point into the batch buffer. A frame whose headers are cut or inconsistent is
PKT_MALFORMED (never read past caplen); a payload cut by the snap length is kept and flagged ``truncated``.

Checksums (``csum`` argument, default CSUM_AUTO): the IPv4 header checksum, and the TCP/UDP checksum over the
pseudo-header and the whole segment, are verified; a frame that fails is PKT_BAD_CHECKSUM (dropped by every
consumer). Captures taken on the sending host (loopback, or a NIC with transmit checksum offload) hold the
kernel's *partial* L4 checksum, the folded pseudo-header sum the NIC would have completed: CSUM_AUTO accepts that
exact value and counts it in ``counts[CNT_OFFLOADED]`` (such a segment's payload cannot be verified);
CSUM_STRICT refuses it; CSUM_OFF verifies nothing. A UDP checksum of 0 means "none" (IPv4) and is accepted; a
payload cut by the snap length cannot be verified and is not.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tickwire.types import (
    LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_NULL, LINKTYPE_RAW,
    PACKET_DTYPE, PKT_BAD_CHECKSUM, PKT_IP_FRAGMENT, PKT_MALFORMED, PKT_OTHER, PKT_TCP, PKT_UDP,
)

ETH_P_IP, ETH_P_8021Q, ETH_P_8021AD = 0x0800, 0x8100, 0x88A8
N_KINDS = 6
CNT_OFFLOADED = N_KINDS  # counts[] slot: L4 checksums left partial by transmit offload (accepted by CSUM_AUTO)
N_COUNTS = N_KINDS + 1
CSUM_OFF, CSUM_AUTO, CSUM_STRICT = 0, 1, 2
CSUM_MODES = {"off": CSUM_OFF, "auto": CSUM_AUTO, "strict": CSUM_STRICT}
# checksum verdicts
_CS_OK, _CS_BAD, _CS_PARTIAL = 0, 1, 2


@njit(cache=True, inline="always", _nrt=False)
def _be16(b, p):
    return (np.int64(b[p]) << 8) | np.int64(b[p + 1])


@njit(cache=True, inline="always", _nrt=False)
def _be32(b, p):
    return (np.int64(b[p]) << 24) | (np.int64(b[p + 1]) << 16) | (np.int64(b[p + 2]) << 8) | np.int64(b[p + 3])


@njit(cache=True, _nrt=False)
def _sum16(b, p, n, acc):
    """Add the big-endian 16-bit words of b[p:p+n] (an odd last byte padded with zero) to the one's-complement
    accumulator acc (kept unfolded in an int64: 2^47 words before it could overflow)."""
    i = 0
    while i + 1 < n:
        acc += (np.int64(b[p + i]) << 8) | np.int64(b[p + i + 1])
        i += 2
    if i < n:
        acc += np.int64(b[p + i]) << 8
    return acc


@njit(cache=True, inline="always", _nrt=False)
def _fold(acc):
    while acc >> 16:
        acc = (acc & 0xFFFF) + (acc >> 16)
    return acc


@njit(cache=True, _nrt=False)
def _l4_checksum(b, ip, l4, l4_len, proto, field):
    """_CS_OK, _CS_BAD or _CS_PARTIAL (the field holds the pseudo-header sum that offload leaves) for the TCP/UDP
    segment b[l4:l4+l4_len] whose checksum field is at b[field:field+2]."""
    pseudo = _sum16(b, ip + 12, 8, np.int64(0)) + proto + l4_len
    if _fold(_sum16(b, l4, l4_len, pseudo)) == 0xFFFF:
        return _CS_OK
    if _be16(b, field) == _fold(pseudo):
        return _CS_PARTIAL
    return _CS_BAD


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
def _bad(r, counts, verdict, csum):
    """True when a checksum verdict drops the frame under mode csum (counts an accepted offloaded one)."""
    if verdict == _CS_PARTIAL:
        if csum == CSUM_STRICT:
            r.kind = PKT_BAD_CHECKSUM
            return True
        counts[CNT_OFFLOADED] += 1
        return False
    if verdict == _CS_BAD:
        r.kind = PKT_BAD_CHECKSUM
        return True
    return False


@njit(cache=True, _nrt=False)
def parse_packet(b, s, n, ts, linktype, r, counts, csum):
    """Fill the PACKET_DTYPE record r for the frame b[s:s+n] (checksums verified per ``csum``); returns its kind."""
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
    if csum != CSUM_OFF and _fold(_sum16(b, ip, ihl, np.int64(0))) != 0xFFFF:
        r.kind = PKT_BAD_CHECKSUM
        return PKT_BAD_CHECKSUM
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
        if csum != CSUM_OFF and not r.truncated and _bad(r, counts, _l4_checksum(b, ip, l4, total - ihl, 6, l4 + 16),
                                                         csum):
            return PKT_BAD_CHECKSUM
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
        if csum != CSUM_OFF and not r.truncated and _be16(b, l4 + 6) != 0 and _bad(
                r, counts, _l4_checksum(b, ip, l4, ulen, 17, l4 + 6), csum):
            return PKT_BAD_CHECKSUM
        r.sport = _be16(b, l4)
        r.dport = _be16(b, l4 + 2)
        r.payload_off = l4 + 8
        r.payload_len = min(ulen, l4_avail) - 8
        r.kind = PKT_UDP
        return PKT_UDP
    return PKT_OTHER


@njit(cache=True, _nrt=False)
def parse_packets(buf, off, caplen, ts_ns, linktype, out, counts, csum=CSUM_AUTO):
    """Parse len(off) frames into out[:len(off)]; adds to ``counts`` (int64, at least N_COUNTS long: indexed by
    PKT_* kind, then CNT_OFFLOADED)."""
    for i in range(off.shape[0]):
        k = parse_packet(buf, off[i], caplen[i], ts_ns[i], linktype[i], out[i], counts, csum)
        counts[k] += 1


def new_packets(n: int) -> np.ndarray:
    """Output records for parse_packets."""
    return np.zeros(n, dtype=PACKET_DTYPE)
