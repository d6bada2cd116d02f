"""TCP reassembly on streams longer than the out-of-order pool (OOO_MAX_SEGS = 256 segments per flow): the pool's
slots and bytes are reused hundreds of times over. Packets go straight to ``tcp_segment`` (parsed records over one
buffer, no pcap round trip) so a few hundred long streams run in seconds.

Properties (each checked on >= 200 generated streams of 300..900 segments):
- reordered (by up to 200 positions), duplicated and overlapping segments give the byte-identical stream;
- segments lost for good (never retransmitted) cost exactly their own bytes: the output is the stream without them,
  with one gap mark at each place they were, whether the loss is declared when 256 segments wait behind it or at
  the end of the capture.
"""
from __future__ import annotations

import random

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickwire.netstack.tcp import (
    CH_PACKET, EVT_NEW_CONN, F_GAP_BYTES, OOO_MAX_SEGS, TcpReassembler, tcp_flush, tcp_segment,
)
from tickwire.types import PACKET_DTYPE, PKT_TCP, TCP_ACK, TCP_PSH, TCP_SYN

SERVER, CLIENT = (0x7F000001, 8022), (0x7F000002, 51000)
ISN = 0xFFFFFFFF - 5000  # every stream crosses the 2**32 sequence wrap
WINDOW = 200  # largest displacement of a reordered segment: below the pool bound, so reordering alone loses nothing


def _cut(rnd: random.Random, n_segs: int) -> tuple[bytes, list[tuple[int, int]]]:
    """A random stream cut into n_segs segments of 1..200 bytes: (stream, [(start, end)])."""
    bounds, pos = [], 0
    for _ in range(n_segs):
        n = rnd.randint(1, 200)
        bounds.append((pos, pos + n))
        pos += n
    return rnd.randbytes(pos), bounds


def _reorder(rnd: random.Random, items: list) -> list:
    """Each item moves by less than WINDOW positions."""
    keyed = sorted(((i + rnd.random() * WINDOW, item) for i, item in enumerate(items)), key=lambda kv: kv[0])
    return [item for _, item in keyed]


def _reassemble(stream: bytes, pieces: list[tuple[int, int]]) -> tuple[bytes, list[int], int]:
    """Send the SYN-ACK, then every (start, end) piece of ``stream`` as one segment, then flush.
    Returns (delivered bytes, output offsets of gap marks, bytes declared lost)."""
    buf = np.frombuffer(stream, dtype=np.uint8)
    pk = np.zeros(1, dtype=PACKET_DTYPE)[0]
    pk["kind"], pk["src_ip"], pk["sport"], pk["dst_ip"], pk["dport"] = PKT_TCP, SERVER[0], SERVER[1], *CLIENT
    r = TcpReassembler(max_flows=8, max_segs=4096, pool_bytes=1 << 20)
    out, gaps = bytearray(), []

    def take(k: int) -> None:
        for src, off, n, gap in r.chunks[:k]:
            if gap:
                gaps.append(len(out))
            out.extend((buf if src == CH_PACKET else r.pool)[off:off + n].tobytes())

    pk["tcp_flags"], pk["seq"], pk["payload_off"], pk["payload_len"] = TCP_SYN | TCP_ACK, ISN, 0, 0
    f, evt, k = tcp_segment(*r.arrays, pk, buf)
    assert evt & EVT_NEW_CONN and k == 0
    pk["tcp_flags"] = TCP_ACK | TCP_PSH
    for start, end in pieces:
        pk["seq"], pk["payload_off"], pk["payload_len"] = (ISN + 1 + start) & 0xFFFFFFFF, start, end - start
        f2, _, k = tcp_segment(*r.arrays, pk, buf)
        assert f2 == f
        take(k)
    take(tcp_flush(r.flows, r.segs, r.g, r.chunks, f))
    return bytes(out), gaps, int(r.flows[f, F_GAP_BYTES])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32), st.integers(OOO_MAX_SEGS + 44, 900))
def test_long_reordered_duplicated_overlapping_stream_is_byte_identical(seed: int, n_segs: int) -> None:
    rnd = random.Random(seed)
    stream, bounds = _cut(rnd, n_segs)
    pieces = list(bounds)
    for _ in range(n_segs // 5):  # exact duplicates
        pieces.append(rnd.choice(bounds))
    for _ in range(n_segs // 5):  # retransmissions with other boundaries, overlapping delivered or buffered data
        a = rnd.randrange(len(stream))
        pieces.append((a, min(len(stream), a + rnd.randint(1, 600))))
    # each copy goes near the position of its bytes in the stream, so the window bounds what waits in the pool
    pieces.sort(key=lambda p: p[0])
    got, gaps, lost = _reassemble(stream, _reorder(rnd, pieces))
    assert (gaps, lost) == ([], 0)
    assert got == stream


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32), st.integers(OOO_MAX_SEGS + 44, 900), st.integers(1, 6))
def test_segments_lost_for_good_cost_exactly_their_bytes(seed: int, n_segs: int, n_lost: int) -> None:
    rnd = random.Random(seed)
    stream, bounds = _cut(rnd, n_segs)
    lost = set(rnd.sample(range(n_segs), n_lost))
    got, gaps, lost_bytes = _reassemble(stream, _reorder(rnd, [b for i, b in enumerate(bounds) if i not in lost]))
    want, want_gaps = bytearray(), []
    for i, (start, end) in enumerate(bounds):
        if i in lost:
            if i - 1 not in lost:  # adjacent lost segments are one gap
                want_gaps.append(len(want))
        else:
            want.extend(stream[start:end])
    if n_segs - 1 in lost:  # a lost tail has no later byte to reveal it: no gap mark, and not counted
        tail = [i for i in range(n_segs) if all(j in lost for j in range(i, n_segs))][0]
        want_gaps = want_gaps[:-1]
        lost_tail = sum(bounds[j][1] - bounds[j][0] for j in range(tail, n_segs))
    else:
        lost_tail = 0
    assert got == bytes(want)
    assert gaps == want_gaps
    assert lost_bytes == sum(bounds[i][1] - bounds[i][0] for i in lost) - lost_tail
