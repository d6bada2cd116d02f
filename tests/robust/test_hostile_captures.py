"""Hostile captures: checksums verified on the capture path, one rule for damaged files, and a fuzz of 100
corrupt variants (truncations, bit flips, huge length fields) through `tickwire replay` with 0 crashes and 0
tracebacks."""
from __future__ import annotations

import json
import random
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import synth_session as synth

from tickwire.md.replay import replay_file
from tickwire.netstack.packet import CSUM_AUTO, CSUM_STRICT, N_COUNTS, CNT_OFFLOADED, new_packets, parse_packets
from tickwire.types import PKT_BAD_CHECKSUM, PKT_TCP, PKT_UDP

pytestmark = pytest.mark.timeout(900)

DATA = Path(__file__).resolve().parent.parent / "data"
ETH, IP_AT, TCP_AT = 14, 14, 34  # synth frames: Ethernet, IPv4 without options, TCP without options


def _session(path: Path, n: int = 300) -> list[bytes]:
    pkts = synth.session_packets(synth.ws_frames(synth.book_messages(n, seed=5)), mss=700)
    frames = [f for _, f, *_ in pkts]
    synth.write_packets(path, [(t, f) for t, f, *_ in pkts])
    return frames


def _parse(frames: list[bytes], csum: int = CSUM_AUTO) -> tuple[np.ndarray, np.ndarray]:
    buf = np.frombuffer(b"".join(frames), np.uint8)
    off = np.cumsum([0] + [len(f) for f in frames[:-1]]).astype(np.int64)
    out, counts = new_packets(len(frames)), np.zeros(N_COUNTS, np.int64)
    parse_packets(buf, off, np.array([len(f) for f in frames], np.int32), np.zeros(len(frames), np.int64),
                  np.ones(len(frames), np.int32), out, counts, csum)
    return out, counts


def _flip(frame: bytes, at: int) -> bytes:
    return frame[:at] + bytes([frame[at] ^ 0x40]) + frame[at + 1:]


def _partial(frame: bytes) -> bytes:
    """The frame as a capture on the sending host shows it: the TCP checksum holds the pseudo-header sum only."""
    ip = frame[IP_AT:IP_AT + 20]
    total = struct.unpack("!H", ip[2:4])[0]
    words = struct.unpack("!6H", ip[12:20] + struct.pack("!BBH", 0, 6, total - 20))
    s = sum(words)
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return frame[:TCP_AT + 16] + struct.pack("!H", s) + frame[TCP_AT + 18:]


def _udp_frame(payload: bytes, good: bool = True) -> bytes:
    src, dst = bytes([10, 0, 0, 1]), bytes([239, 1, 2, 3])
    udp = struct.pack("!HHHH", 5000, 6000, 8 + len(payload), 0) + payload
    csum = synth._checksum(src + dst + struct.pack("!BBH", 0, 17, len(udp)) + udp)
    udp = udp[:6] + struct.pack("!H", csum if good else csum ^ 0x0101) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 1, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", synth._checksum(ip)) + ip[12:]
    return b"\x01\x00\x5e\x01\x02\x03\x02\x00\x00\x00\x00\x02\x08\x00" + ip + udp


def test_checksums_are_verified_and_bad_frames_dropped(tmp_path: Path) -> None:
    frames = _session(tmp_path / "s.pcap", n=20)
    data = next(k for k, f in enumerate(frames) if len(f) > 200)
    bad = [frames[data], _flip(frames[data], len(frames[data]) - 5),  # payload bit: TCP checksum fails
           _flip(frames[data], IP_AT + 8),  # TTL bit: the IPv4 header checksum fails
           _partial(frames[data]),  # offloaded: partial pseudo-header sum
           _udp_frame(b"x" * 33), _udp_frame(b"x" * 33, good=False)]
    out, counts = _parse(bad)
    assert list(out["kind"]) == [PKT_TCP, PKT_BAD_CHECKSUM, PKT_BAD_CHECKSUM, PKT_TCP, PKT_UDP, PKT_BAD_CHECKSUM]
    assert counts[PKT_BAD_CHECKSUM] == 3 and counts[CNT_OFFLOADED] == 1
    out, counts = _parse(bad, CSUM_STRICT)  # strict: the offloaded partial sum is refused too
    assert out["kind"][3] == PKT_BAD_CHECKSUM and counts[PKT_BAD_CHECKSUM] == 4


def test_replay_drops_a_corrupt_segment_and_says_so(tmp_path: Path) -> None:
    frames = _session(tmp_path / "s.pcap")
    clean = replay_file(tmp_path / "s.pcap").as_dict(timing=False)
    assert "bad_checksum" not in clean["packet_kinds"] and clean["instruments"]["BTC-PERPETUAL"]["valid"]
    k = max(range(len(frames)), key=lambda i: len(frames[i]) if i < len(frames) - 20 else 0)
    corrupt = frames[:k] + [_flip(frames[k], len(frames[k]) - 30)] + frames[k + 1:]
    synth.write_packets(tmp_path / "c.pcap", [(1_700_000_000 * 10**9 + i, f) for i, f in enumerate(corrupt)])
    rep = replay_file(tmp_path / "c.pcap").as_dict(timing=False)
    assert rep["packet_kinds"]["bad_checksum"] == 1
    assert rep["tcp"]["gaps"] >= 1  # the dropped segment is a hole, not wrong bytes in the book
    off = replay_file(tmp_path / "c.pcap", checksums="off").as_dict(timing=False)
    assert "bad_checksum" not in off["packet_kinds"]


def test_replay_accepts_offloaded_checksums_by_default(tmp_path: Path) -> None:
    frames = [_partial(f) if len(f) > 54 else f for f in _session(tmp_path / "s.pcap", n=30)]
    synth.write_packets(tmp_path / "o.pcap", [(1_700_000_000 * 10**9 + i, f) for i, f in enumerate(frames)])
    rep = replay_file(tmp_path / "o.pcap").as_dict(timing=False)
    assert rep["checksums"]["offloaded_accepted"] > 0 and rep["instruments"]["BTC-PERPETUAL"]["valid"]
    strict = replay_file(tmp_path / "o.pcap", checksums="strict").as_dict(timing=False)
    assert strict["packet_kinds"]["bad_checksum"] == rep["checksums"]["offloaded_accepted"]


def test_one_rule_for_truncated_pcap_and_pcapng(tmp_path: Path) -> None:
    """Cut anywhere after the magic: the packets before the cut, the damage reported, exit 0 (pcap and pcapng)."""
    _session(tmp_path / "s.pcap", n=10)
    pcap = (tmp_path / "s.pcap").read_bytes()
    pcapng = (DATA / "deribit-multicast" / "sample_capture_v1_6.pcapng").read_bytes()
    for name, data in (("pcap", pcap), ("pcapng", pcapng)):
        for cut in (6, 20, 30, len(data) // 2, len(data) - 3):
            path = tmp_path / f"cut-{cut}.{name}"
            path.write_bytes(data[:cut])
            out = subprocess.run([sys.executable, "-m", "tickwire.cli", "replay", str(path), "--json", "--no-timing"],
                                 capture_output=True, text=True, timeout=300)
            assert out.returncode == 0, (name, cut, out.stderr[-500:])
            assert json.loads(out.stdout)["capture_error"], (name, cut)
    (tmp_path / "junk.pcap").write_bytes(b"not a capture at all")
    out = subprocess.run([sys.executable, "-m", "tickwire.cli", "replay", str(tmp_path / "junk.pcap")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "not a pcap/pcapng file" in out.stderr


def _ws_length_offsets(data: bytes) -> list[int]:
    """Offsets of WebSocket 16-bit length fields (a server text frame header 0x81 0x7E) in the file."""
    return [i + 2 for i in range(len(data) - 4) if data[i] == 0x81 and data[i + 1] == 0x7E]


def corrupt_variants(sources: list[bytes], n: int, seed: int = 14) -> list[bytes]:
    """``n`` damaged copies: truncations, bit flips, and length fields (pcap record, pcapng block, IPv4 total,
    WebSocket 16/64-bit) set to huge values."""
    rnd = random.Random(seed)
    out = []
    for k in range(n):
        data = bytearray(rnd.choice(sources))
        how = k % 4
        if how == 0:
            data = data[: rnd.randrange(4, len(data))]
        elif how == 1:
            for _ in range(rnd.randrange(1, 9)):
                data[rnd.randrange(len(data))] ^= 1 << rnd.randrange(8)
        elif how == 2:
            at = rnd.choice([24 + 8, 8 + 4, rnd.randrange(len(data) - 4)])  # record incl_len, block length, any
            data[at:at + 4] = rnd.choice([b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x00\x00\x04\x00"])
        else:
            spots = _ws_length_offsets(bytes(data)) or [rnd.randrange(len(data) - 2)]
            at = rnd.choice(spots)
            # a 16-bit length turned into the 64-bit form with a huge value (the header bytes grow by 8)
            huge = rnd.choice([(1 << 63) - 1, (1 << 63) - 3, 1 << 63 | 7, (1 << 64) - 1])
            data[at - 1:at + 2] = bytes([127]) + huge.to_bytes(8, "big")
        out.append(bytes(data))
    return out


FUZZ_RUNNER = r"""
import json, sys, traceback
from typer.testing import CliRunner
from tickwire.cli import app
runner = CliRunner()
for path in sys.argv[1:]:
    for checksums in ("auto", "off"):
        r = runner.invoke(app, ["replay", path, "--json", "--no-timing", "--checksums", checksums])
        tb = r.exception is not None and not isinstance(r.exception, SystemExit)
        print(json.dumps({"file": path, "checksums": checksums, "code": r.exit_code, "traceback": tb,
                          "error": "".join(traceback.format_exception(r.exception))[-800:] if tb else ""}),
              flush=True)
"""


def test_corrupt_capture_fuzz_has_no_crash_and_no_traceback(tmp_path: Path) -> None:
    _session(tmp_path / "s.pcap", n=200)
    sources = [(tmp_path / "s.pcap").read_bytes(),
               (DATA / "deribit-multicast" / "sample_capture_v1_6.pcapng").read_bytes()]
    paths = []
    for k, data in enumerate(corrupt_variants(sources, 100)):
        paths.append(tmp_path / f"v{k:03d}.{'pcapng' if data[:4] == sources[1][:4] else 'pcap'}")
        paths[-1].write_bytes(data)
    out = subprocess.run([sys.executable, "-c", FUZZ_RUNNER, *map(str, paths)], capture_output=True, text=True,
                         timeout=850)
    assert out.returncode == 0, f"the replay process crashed ({out.returncode}): {out.stderr[-2000:]}"
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 200
    tracebacks = [r for r in rows if r["traceback"]]
    assert not tracebacks, tracebacks[:3]
    assert {r["code"] for r in rows} <= {0, 2}, [r for r in rows if r["code"] not in (0, 2)][:3]


@pytest.mark.parametrize("length,error", [((1 << 63) - 1, "message larger than the receive buffer"),
                                          ((1 << 63) - 9, "message larger than the receive buffer"),
                                          (1 << 63 | 1, "64-bit payload length with the top bit set")])
def test_replay_of_a_huge_websocket_length_reports_it_and_distrusts_the_book(tmp_path: Path, length: int,
                                                                              error: str) -> None:
    msgs = synth.book_messages(30, seed=8)
    stream = synth.ws_frames(msgs[:10]) + bytes([0x81, 127]) + length.to_bytes(8, "big") + b"{}" + synth.ws_frames(
        msgs[10:])
    pkts = synth.session_packets(stream, mss=500)  # valid checksums: the bytes reach the deframer
    synth.write_packets(tmp_path / "h.pcap", [(t, f) for t, f, *_ in pkts])
    out = subprocess.run([sys.executable, "-m", "tickwire.cli", "replay", str(tmp_path / "h.pcap"), "--json",
                          "--no-timing"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-800:]
    rep = json.loads(out.stdout)
    assert rep["websocket"]["errors"] == {error: 1}
    assert rep["instruments"]["BTC-PERPETUAL"]["valid"] is False
