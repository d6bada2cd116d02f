"""TCP reassembly on scapy-crafted captures: reordered, duplicated, overlapping and lost segments across the 2**32
sequence wrap give the byte-identical stream, or the same stream as the reference twin with the gaps reported."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.all import IP, TCP, Ether, Raw, wrpcap

import synth_session as synth
from tickwire.netstack.packet import N_COUNTS, new_packets, parse_packets
from tickwire.netstack.pcap import read_capture
from tickwire.netstack.tcp import (
    CH_PACKET, EVT_MIDSTREAM, EVT_NEW_CONN, EVT_RESET, TcpReassembler, ref_reassemble, seq_diff, tcp_flush,
    tcp_segment,
)
from tickwire.types import PKT_TCP

SERVER = ("127.0.0.1", 8022)
CLIENT = ("127.0.0.2", 51000)
STREAM = synth.UPGRADE_RESPONSE + synth.ws_frames(synth.book_messages(40, seed=5))
ISN = 0xFFFFFFFF - 3000  # the stream crosses the 2**32 wrap


def _segments(rnd: random.Random, stream: bytes) -> list[tuple[int, bytes]]:
    out, i = [], 0
    while i < len(stream):
        n = rnd.randrange(1, 900)
        out.append(((ISN + 1 + i) & 0xFFFFFFFF, stream[i:i + n]))
        i += n
    return out


def _perturb(rnd: random.Random, segs: list[tuple[int, bytes]], stream: bytes, lose: bool) -> list:
    pkts = list(segs)
    for _ in range(len(segs) // 4):  # overlapping retransmissions with other boundaries
        a = rnd.randrange(len(stream))
        b = min(len(stream), a + rnd.randrange(1, 1500))
        pkts.insert(rnd.randrange(len(pkts) + 1), ((ISN + 1 + a) & 0xFFFFFFFF, stream[a:b]))
    for _ in range(len(segs) // 5):  # exact duplicates
        pkts.insert(rnd.randrange(len(pkts) + 1), rnd.choice(segs))
    for i in range(len(pkts) - 1):  # local reordering
        if rnd.random() < 0.3:
            j = min(len(pkts) - 1, i + rnd.randrange(1, 6))
            pkts[i], pkts[j] = pkts[j], pkts[i]
    if lose:
        lost = set(rnd.sample(range(len(segs)), k=max(1, len(segs) // 10)))
        keep = {segs[i] for i in range(len(segs)) if i not in lost}
        lost_segs = {segs[i] for i in lost}
        pkts = [p for p in pkts if p in keep or p not in lost_segs and p not in segs]
        # a retransmission may still cover a lost segment's bytes: that is fine, the reference sees the same packets
    return pkts


def _write(path: Path, seg_pkts: list[tuple[int, bytes]]) -> None:
    frames = [Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=CLIENT[0], dst=SERVER[0])
              / TCP(sport=CLIENT[1], dport=SERVER[1], flags="S", seq=123),
              Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01") / IP(src=SERVER[0], dst=CLIENT[0])
              / TCP(sport=SERVER[1], dport=CLIENT[1], flags="SA", seq=ISN, ack=124)]
    for seq, payload in seg_pkts:
        frames.append(Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01") / IP(src=SERVER[0], dst=CLIENT[0])
                      / TCP(sport=SERVER[1], dport=CLIENT[1], flags="PA", seq=seq, ack=124) / Raw(payload))
    wrpcap(str(path), frames)


def _reassemble(path: Path) -> tuple[dict[int, bytes], dict[int, list[int]], list[int]]:
    cap = read_capture(path)
    pk = new_packets(len(cap))
    parse_packets(cap.data, cap.off, cap.caplen, cap.ts_ns, cap.linktype, pk, np.zeros(N_COUNTS, np.int64))
    r = TcpReassembler(max_flows=8, max_segs=64, pool_bytes=1 << 20)
    streams: dict[int, bytearray] = {}
    gaps: dict[int, list[int]] = {}
    events = []

    def take(f: int, k: int, buf: np.ndarray) -> None:
        for src, off, n, gap in r.chunks[:k]:
            if gap:
                gaps.setdefault(f, []).append(len(streams.setdefault(f, bytearray())))
            area = buf if src == CH_PACKET else r.pool
            streams.setdefault(f, bytearray()).extend(area[off:off + n].tobytes())

    for i in range(len(cap)):
        assert pk[i]["kind"] == PKT_TCP
        f, evt, k = tcp_segment(*r.arrays, pk[i], cap.data)
        events.append(evt)
        take(f, k, cap.data)
    for f in np.nonzero(r.flows[:, 0])[0]:
        take(int(f), tcp_flush(r.flows, r.segs, r.g, r.chunks, f), cap.data)
    return {f: bytes(s) for f, s in streams.items()}, gaps, events


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32), st.booleans())
def test_reordered_duplicated_overlapping_lost(tmp_path_factory, seed: int, lose: bool) -> None:
    rnd = random.Random(seed)
    segs = _segments(rnd, STREAM)
    pkts = _perturb(rnd, segs, STREAM, lose)
    path = tmp_path_factory.mktemp("tcp") / "s.pcap"
    _write(path, pkts)
    streams, gaps, events = _reassemble(path)
    assert events[0] == EVT_NEW_CONN and events[1] == EVT_NEW_CONN
    server_flows = [f for f in streams if streams[f]]
    assert len(server_flows) == 1
    got, got_gaps = streams[server_flows[0]], gaps.get(server_flows[0], [])
    ref, ref_gaps = ref_reassemble([(seq, p, False) for seq, p in pkts], ISN)
    assert got == ref and got_gaps == ref_gaps
    if not lose:
        assert got == STREAM and not got_gaps  # byte-identical
    elif not ref_gaps:
        assert STREAM.startswith(got)  # only the tail was lost: nothing after it to reveal a gap
    else:
        assert len(got) < len(STREAM)


def test_midstream_start_rst_and_syn_restart(tmp_path: Path) -> None:
    def frame(flags: str, seq: int, payload: bytes = b"") -> Ether:
        return (Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01") / IP(src=SERVER[0], dst=CLIENT[0])
                / TCP(sport=SERVER[1], dport=CLIENT[1], flags=flags, seq=seq, ack=1) / Raw(payload))

    frames = [frame("PA", 5000, b"abc"), frame("PA", 5003, b"def"), frame("PA", 5010, b"later"),
              frame("R", 5009), frame("SA", 70), frame("PA", 71, b"new"), frame("FA", 74)]
    wrpcap(str(tmp_path / "m.pcap"), frames)
    streams, gaps, events = _reassemble(tmp_path / "m.pcap")
    assert events[0] == EVT_MIDSTREAM and events[3] == EVT_RESET and events[4] == EVT_NEW_CONN
    assert list(streams.values()) == [b"abcdefnew"]  # buffered 'later' dropped by the RST


def test_seq_diff_wraps() -> None:
    assert seq_diff(5, 0xFFFFFFFF) == 6 and seq_diff(0xFFFFFFFF, 5) == -6 and seq_diff(7, 7) == 0
