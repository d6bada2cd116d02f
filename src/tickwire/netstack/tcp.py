"""TCP reassembly per flow (one direction of a connection) in compiled code.

``tcp_segment`` takes one parsed TCP packet (PACKET_DTYPE) and returns the bytes that became in-order as *chunks*
(rows ``(src, offset, length, gap_before)`` of ``chunks``: src CH_PACKET = the packet buffer, CH_POOL = the
out-of-order pool). Chunks are valid until the next call. Rules:

- sequence numbers are compared modulo 2**32 (wraparound);
- a segment ahead of the expected sequence is buffered in the pool; retransmissions and duplicates are dropped;
  a segment overlapping delivered data contributes only its new tail (first copy wins, like most stacks);
- SYN sets the initial sequence (``EVT_NEW_CONN``; the SYN without ACK is the client side); a flow first seen
  without a SYN starts at its first segment (``EVT_MIDSTREAM``: the consumer must find a frame boundary);
  FIN closes once every byte before it arrived; RST closes at once and drops what was buffered;
- when a flow buffers more than ``OOO_MAX_SEGS`` segments / ``OOO_MAX_BYTES`` bytes (or the pool is full), or at
  ``tcp_flush`` (end of capture), the missing bytes are declared lost: the next chunk carries ``gap_before`` > 0
  and the consumer resumes at its next frame boundary (``ws_resync``).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tickwire.types import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN

CH_PACKET, CH_POOL = 0, 1
EVT_NEW_CONN, EVT_MIDSTREAM, EVT_RESET, EVT_CLOSED, EVT_TABLE_FULL = 1, 2, 4, 8, 16
ST_NONE, ST_OPEN, ST_MIDSTREAM, ST_CLOSED = 0, 1, 2, 3
OOO_MAX_SEGS = 256
OOO_MAX_BYTES = 4 << 20

# flow state columns
(F_USED, F_STATE, F_NEXT, F_ISN, F_FIN, F_OOO_BYTES, F_OOO_SEGS, F_DELIVERED, F_GAPS, F_GAP_BYTES, F_DUPS,
 F_OVERLAPS, F_OOO_PKTS, F_CLIENT, F_KEY0, F_KEY1, F_PKTS) = range(17)
NFS = 18
FLOW_STAT_NAMES = {F_DELIVERED: "bytes", F_GAPS: "gaps", F_GAP_BYTES: "gap_bytes", F_DUPS: "duplicates",
                   F_OVERLAPS: "overlaps", F_OOO_PKTS: "out_of_order", F_PKTS: "packets"}
# globals
G_POOL_TOP, G_SEGS_LIVE, G_FLOWS, G_TABLE_FULL = 0, 1, 2, 3
NG = 4
# segment columns
S_FLOW, S_SEQ, S_LEN, S_OFF, S_FIN = 0, 1, 2, 3, 4


class TcpReassembler:
    """Preallocated flow table (``max_flows``, a power of two), segment slots and out-of-order byte pool."""

    def __init__(self, max_flows: int = 256, max_segs: int = 4096, pool_bytes: int = 16 << 20) -> None:
        if max_flows & (max_flows - 1):
            raise ValueError("max_flows must be a power of two")
        self.flows = np.zeros((max_flows, NFS), dtype=np.int64)
        self.segs = np.full((max_segs, 5), -1, dtype=np.int64)
        self.pool = np.zeros(pool_bytes, dtype=np.uint8)
        self.g = np.zeros(NG, dtype=np.int64)
        self.chunks = np.zeros((max_segs + 2, 4), dtype=np.int64)

    @property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.flows, self.segs, self.pool, self.g, self.chunks

    def flow_stats(self, f: int) -> dict[str, int]:
        return {name: int(self.flows[f, col]) for col, name in FLOW_STAT_NAMES.items()}


@njit(cache=True, inline="always", _nrt=False)
def seq_diff(a, b):
    """a - b as a signed 32-bit difference (sequence space wraps at 2**32)."""
    d = (a - b) & 0xFFFFFFFF
    return d - (1 << 32) if d >= (1 << 31) else d


@njit(cache=True, _nrt=False)
def flow_lookup(flows, key0, key1, insert):
    """Slot of the flow (key0 = src_ip << 32 | dst_ip, key1 = sport << 16 | dport); -1 when absent and not
    inserted (or the table is full)."""
    mask = flows.shape[0] - 1
    h = (key0 * 0x9E3779B1 + key1 * 0x85EBCA77) & 0x7FFFFFFFFFFFFFFF
    i = (h ^ (h >> 17)) & mask
    for _ in range(flows.shape[0]):
        if flows[i, F_USED] == 0:
            if not insert:
                return -1
            flows[i, :] = 0
            flows[i, F_USED] = 1
            flows[i, F_KEY0] = key0
            flows[i, F_KEY1] = key1
            flows[i, F_FIN] = -1
            return i
        if flows[i, F_KEY0] == key0 and flows[i, F_KEY1] == key1:
            return i
        i = (i + 1) & mask
    return -1


@njit(cache=True, _nrt=False)
def _drop_segs(flows, segs, g, f):
    for j in range(segs.shape[0]):
        if segs[j, S_FLOW] == f:
            segs[j, S_FLOW] = -1
            g[G_SEGS_LIVE] -= 1
    flows[f, F_OOO_BYTES] = 0
    flows[f, F_OOO_SEGS] = 0
    if g[G_SEGS_LIVE] == 0:
        g[G_POOL_TOP] = 0


@njit(cache=True, _nrt=False)
def _free_seg(flows, segs, g, j):
    f = segs[j, S_FLOW]
    flows[f, F_OOO_BYTES] -= segs[j, S_LEN]
    flows[f, F_OOO_SEGS] -= 1
    segs[j, S_FLOW] = -1
    g[G_SEGS_LIVE] -= 1
    if g[G_SEGS_LIVE] == 0:
        g[G_POOL_TOP] = 0


@njit(cache=True)
def _compact_pool(segs, pool, g):
    """Move live segments to the front of the pool (rare: the pool filled while segments were freed out of order)."""
    live = np.where(segs[:, S_FLOW] >= 0)[0]
    order = np.argsort(segs[live, S_OFF])
    top = 0
    for k in range(order.shape[0]):
        j = live[order[k]]
        n = segs[j, S_LEN]
        src = segs[j, S_OFF]
        for i in range(n):
            pool[top + i] = pool[src + i]
        segs[j, S_OFF] = top
        top += n
    g[G_POOL_TOP] = top


@njit(cache=True)  # may compact the pool (allocates)
def _store(flows, segs, pool, g, f, seq, buf, off, n, fin):
    """Buffer an out-of-order segment; False when there is no room."""
    for j in range(segs.shape[0]):  # an exact duplicate of a buffered segment
        if segs[j, S_FLOW] == f and segs[j, S_SEQ] == seq and segs[j, S_LEN] >= n:
            flows[f, F_DUPS] += 1
            return True
    if g[G_POOL_TOP] + n > pool.shape[0]:
        _compact_pool(segs, pool, g)
        if g[G_POOL_TOP] + n > pool.shape[0]:
            return False
    for j in range(segs.shape[0]):
        if segs[j, S_FLOW] < 0:
            top = g[G_POOL_TOP]
            pool[top:top + n] = buf[off:off + n]
            segs[j, S_FLOW] = f
            segs[j, S_SEQ] = seq
            segs[j, S_LEN] = n
            segs[j, S_OFF] = top
            segs[j, S_FIN] = fin
            g[G_POOL_TOP] = top + n
            g[G_SEGS_LIVE] += 1
            flows[f, F_OOO_BYTES] += n
            flows[f, F_OOO_SEGS] += 1
            return True
    return False


@njit(cache=True, inline="always", _nrt=False)
def _chunk(chunks, k, src, off, n, gap):
    chunks[k, 0] = src
    chunks[k, 1] = off
    chunks[k, 2] = n
    chunks[k, 3] = gap
    return k + 1


@njit(cache=True, _nrt=False)
def _drain(flows, segs, g, f, chunks, k, gap):
    """Deliver buffered segments that are now in order; ``gap`` bytes were lost before the first one."""
    progress = True
    while progress and flows[f, F_OOO_SEGS] > 0:
        progress = False
        for j in range(segs.shape[0]):
            if segs[j, S_FLOW] != f:
                continue
            d = seq_diff(segs[j, S_SEQ], flows[f, F_NEXT])
            if d > 0:
                continue
            n = segs[j, S_LEN]
            if d + n > 0:
                if d < 0:
                    flows[f, F_OVERLAPS] += 1
                if k < chunks.shape[0]:
                    k = _chunk(chunks, k, CH_POOL, segs[j, S_OFF] - d, n + d, gap)
                    gap = 0
                flows[f, F_NEXT] = (flows[f, F_NEXT] + n + d) & 0xFFFFFFFF
                flows[f, F_DELIVERED] += n + d
            elif n > 0:
                flows[f, F_DUPS] += 1
            if segs[j, S_FIN]:
                flows[f, F_FIN] = (segs[j, S_SEQ] + n) & 0xFFFFFFFF
            _free_seg(flows, segs, g, j)
            progress = True
    return k


@njit(cache=True, _nrt=False)
def _force_gap(flows, segs, g, f, chunks, k):
    """Declare the bytes before the earliest buffered segment lost, then deliver what follows."""
    best = -1
    bd = 0
    for j in range(segs.shape[0]):
        if segs[j, S_FLOW] == f:
            d = seq_diff(segs[j, S_SEQ], flows[f, F_NEXT])
            if best < 0 or d < bd:
                best = j
                bd = d
    if best < 0:
        return k
    if bd > 0:
        flows[f, F_GAPS] += 1
        flows[f, F_GAP_BYTES] += bd
        flows[f, F_NEXT] = segs[best, S_SEQ]
    return _drain(flows, segs, g, f, chunks, k, bd if bd > 0 else 0)


@njit(cache=True, _nrt=False)
def _check_fin(flows, f, evt):
    if flows[f, F_FIN] >= 0 and flows[f, F_NEXT] == flows[f, F_FIN] and flows[f, F_STATE] != ST_CLOSED:
        flows[f, F_STATE] = ST_CLOSED
        evt |= EVT_CLOSED
    return evt


@njit(cache=True)  # may compact the pool (allocates)
def tcp_segment(flows, segs, pool, g, chunks, pk, buf):
    """Account one TCP packet (PACKET_DTYPE record ``pk`` whose payload is in ``buf``). Returns
    (flow slot or -1, EVT_* flags, number of chunk rows written)."""
    key0 = (np.int64(pk.src_ip) << 32) | np.int64(pk.dst_ip)
    key1 = (np.int64(pk.sport) << 16) | np.int64(pk.dport)
    f = flow_lookup(flows, key0, key1, True)
    if f < 0:
        g[G_TABLE_FULL] += 1
        return -1, EVT_TABLE_FULL, 0
    flows[f, F_PKTS] += 1
    fl = pk.tcp_flags
    seq = np.int64(pk.seq)
    n = np.int64(pk.payload_len)
    off = pk.payload_off
    evt = 0
    k = 0
    if fl & TCP_RST:
        _drop_segs(flows, segs, g, f)
        flows[f, F_STATE] = ST_CLOSED
        return f, EVT_RESET, 0
    if fl & TCP_SYN:
        if flows[f, F_STATE] == ST_OPEN and flows[f, F_ISN] == seq:
            if n == 0:
                flows[f, F_DUPS] += 1  # retransmitted SYN
                return f, 0, 0
        else:
            _drop_segs(flows, segs, g, f)
            flows[f, F_STATE] = ST_OPEN
            flows[f, F_ISN] = seq
            flows[f, F_NEXT] = (seq + 1) & 0xFFFFFFFF
            flows[f, F_FIN] = -1
            flows[f, F_CLIENT] = 0 if fl & TCP_ACK else 1
            evt |= EVT_NEW_CONN
        seq = (seq + 1) & 0xFFFFFFFF
    elif flows[f, F_STATE] == ST_NONE:
        _drop_segs(flows, segs, g, f)
        flows[f, F_STATE] = ST_MIDSTREAM
        flows[f, F_NEXT] = seq
        flows[f, F_FIN] = -1
        flows[f, F_CLIENT] = -1
        evt |= EVT_MIDSTREAM
    if flows[f, F_STATE] == ST_CLOSED:
        if n > 0:
            flows[f, F_DUPS] += 1
        return f, evt, 0
    fin = 1 if fl & TCP_FIN else 0
    d = seq_diff(seq, flows[f, F_NEXT])
    if d <= 0:
        if n > 0:
            if d + n <= 0:
                flows[f, F_DUPS] += 1
            else:
                if d < 0:
                    flows[f, F_OVERLAPS] += 1
                k = _chunk(chunks, k, CH_PACKET, off - d, n + d, 0)
                flows[f, F_NEXT] = (flows[f, F_NEXT] + n + d) & 0xFFFFFFFF
                flows[f, F_DELIVERED] += n + d
        if fin and d + n >= 0:
            flows[f, F_FIN] = (seq + n) & 0xFFFFFFFF
        if flows[f, F_OOO_SEGS] > 0:
            k = _drain(flows, segs, g, f, chunks, k, 0)
    elif n > 0 or fin:
        flows[f, F_OOO_PKTS] += 1
        if not _store(flows, segs, pool, g, f, seq, buf, off, n, fin):
            k = _force_gap(flows, segs, g, f, chunks, k)
            if seq_diff(seq, flows[f, F_NEXT]) > 0:  # still ahead: lose what lies between, take this one
                gap = seq_diff(seq, flows[f, F_NEXT])
                flows[f, F_GAPS] += 1
                flows[f, F_GAP_BYTES] += gap
                k = _chunk(chunks, k, CH_PACKET, off, n, gap)
                flows[f, F_NEXT] = (seq + n) & 0xFFFFFFFF
                flows[f, F_DELIVERED] += n
                if fin:
                    flows[f, F_FIN] = flows[f, F_NEXT]
        while flows[f, F_OOO_SEGS] > OOO_MAX_SEGS or flows[f, F_OOO_BYTES] > OOO_MAX_BYTES:
            k = _force_gap(flows, segs, g, f, chunks, k)
    return f, _check_fin(flows, f, evt), k


@njit(cache=True, _nrt=False)
def tcp_flush(flows, segs, g, chunks, f):
    """End of input for flow f: declare what is still missing lost and deliver the buffered rest.
    Returns the number of chunk rows written."""
    k = 0
    while flows[f, F_OOO_SEGS] > 0 and k < chunks.shape[0] - 1:
        k = _force_gap(flows, segs, g, f, chunks, k)
    return k


# ---------------------------------------------------------------------------------------------------------------
# Reference twin: reassemble a list of segments of one direction in plain Python (tests compare the two).

def ref_reassemble(segments: list[tuple[int, bytes, bool]], isn: int) -> tuple[bytes, list[int]]:
    """Segments (seq, payload, syn) of one flow in arrival order -> (stream, byte offsets where data was lost).
    First copy wins; everything still buffered at the end is delivered with the missing bytes declared lost."""
    nxt = (isn + 1) & 0xFFFFFFFF
    out = bytearray()
    gaps: list[int] = []
    pending: list[tuple[int, bytes]] = []

    def rel(s: int) -> int:
        d = (s - nxt) & 0xFFFFFFFF
        return d - (1 << 32) if d >= 1 << 31 else d

    def take(s: int, data: bytes) -> None:
        nonlocal nxt
        d = rel(s)
        if d + len(data) > 0:
            out.extend(data[-d:] if d < 0 else data)
            nxt = (nxt + len(data) + min(d, 0)) & 0xFFFFFFFF

    def drain() -> None:
        while ready := [seg for seg in pending if rel(seg[0]) <= 0]:
            pending.remove(ready[0])
            take(*ready[0])

    for seq, data, syn in segments:
        if syn or not data:
            continue
        if rel(seq) <= 0:
            take(seq, data)
        else:
            pending.append((seq, data))
        drain()
    while pending:
        first = min(pending, key=lambda seg: rel(seg[0]))
        if rel(first[0]) > 0:
            gaps.append(len(out))
            nxt = first[0]
        drain()
    return bytes(out), gaps
