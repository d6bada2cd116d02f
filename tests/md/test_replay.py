"""`tickwire replay` on synthetic sessions (reordered/duplicated/overlapping/lost TCP segments, fragmented and
control frames, slow-path messages, instruments learned from get_instruments) against the reference pipeline."""
from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import orjson
import pytest

from _reference import reference_books
from tickwire.md.replay import PcapSource, Replay, replay_file
import synth_session as synth
from tickwire.netstack.pcap import PacketBatch
from tickwire.netstack.ws import OP_CONT, OP_PING, OP_TEXT, ref_encode
from tickwire.types import BOOK_ASK, BOOK_BID, PKT_UDP


DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLES = {p.name: p.read_bytes() for p in sorted((DATA / "deribit").glob("*.json"))}
TICKWIRE = str(Path(sys.executable).with_name("tickwire"))

INSTRUMENTS = orjson.dumps({"jsonrpc": "2.0", "id": 7, "result": [
    {"instrument_name": "BTC-27DEC24", "tick_size": 2.5, "min_trade_amount": 10, "kind": "future"}]})


def _server_stream(seed: int = 1) -> tuple[bytes, list[bytes]]:
    """Server frames: instruments, two interleaved book streams, trades/tickers/heartbeats/orders, a fragmented
    message with a ping between its fragments."""
    btc = synth.book_messages(1500, seed=seed)
    fut = synth.book_messages(300, seed=seed + 1, instrument="BTC-27DEC24")
    fut = [m.replace(b'.5,', b'.0,') for m in fut]  # tick 2.5: keep prices on whole dollars... checked below
    extras = [SAMPLES[n] for n in ("cmp_trades_BTC-PERPETUAL_raw.json", "nautilus_ws_ticker_btc_perpetual_100ms.json",
                                   "nautilus_ws_heartbeat_test_request.json", "nautilus_ws_order_buy_response.json",
                                   "nautilus_ws_book_grouped_snapshot_none_10_100ms.json")]
    rnd = random.Random(seed)
    msgs = [INSTRUMENTS]
    i = j = 0
    while i < len(btc) or j < len(fut):
        if i < len(btc) and (j >= len(fut) or rnd.random() < 0.8):
            msgs.append(btc[i])
            i += 1
        else:
            msgs.append(fut[j])
            j += 1
        if rnd.random() < 0.02:
            msgs.append(rnd.choice(extras))
    frames = bytearray()
    for k, m in enumerate(msgs):
        if k == 700:  # fragmented, with a control frame in between
            a, b = len(m) // 3, 2 * len(m) // 3
            frames += ref_encode(m[:a], OP_TEXT, fin=False) + ref_encode(b"hb", OP_PING)
            frames += ref_encode(m[a:b], OP_CONT, fin=False) + ref_encode(m[b:], OP_CONT)
        else:
            frames += ref_encode(m, OP_TEXT)
    return bytes(frames), msgs


def _write_session(path: Path, seed: int, reorder: bool = False, lose: int = 0) -> int:
    stream, _ = _server_stream()
    client = synth.ws_frames([b'{"jsonrpc":"2.0","id":1,"method":"public/subscribe","params":{}}'] * 3, masked=True)
    pkts = synth.session_packets(stream, client, mss=1000)
    rnd = random.Random(seed)
    out = [(t, f) for t, f, *_ in pkts]
    data_idx = [k for k, p in enumerate(pkts) if p[4] and p[3]]
    if reorder:
        for _ in range(len(out) // 5):  # local swaps, duplicates and overlapping retransmissions
            k = rnd.choice(data_idx[1:-2])
            out[k], out[k + 1] = out[k + 1], out[k]
        for k in rnd.sample(data_idx[1:], 40):
            out.insert(k + rnd.randrange(1, 4), out[k])
        for k in rnd.sample(data_idx[1:-1], 20):
            t, frame, seq, payload, _ = pkts[k]
            merged = payload + pkts[k + 1][3][:300]
            at = next(i for i, (_, f) in enumerate(out) if f == frame) + 1
            out.insert(at, (t, synth.tcp_frame("127.0.0.1", "127.0.0.1", 8022, 51000, seq + 100, 0, 0x18,
                                               merged[100:])))
    lost = 0
    for _ in range(lose):
        k = rnd.choice(data_idx[len(data_idx) // 3:2 * len(data_idx) // 3])
        frame = pkts[k][1]
        before = len(out)
        out = [p for p in out if p[1] != frame]
        lost += before - len(out)
    return synth.write_packets(path, [(t, f) for t, f in out]) and lost


def _compare_with_reference(path: Path) -> dict:
    rep = replay_file(path)
    ref_books, ref_table = reference_books(path)
    data = rep.as_dict(timing=False)
    assert set(data["instruments"]) == set(ref_books) == {"BTC-PERPETUAL", "BTC-27DEC24"}
    replay = Replay()
    rep2 = replay.run(PcapSource(path))
    assert rep2.as_dict(timing=False) == data  # deterministic
    for name, ref in ref_books.items():
        slot = replay.table.slot(name)
        assert replay.books.levels(slot, BOOK_BID) == ref.levels(BOOK_BID), name
        assert replay.books.levels(slot, BOOK_ASK) == ref.levels(BOOK_ASK), name
        assert data["instruments"][name]["checksum"] == f"{ref.checksum():016x}"
        assert data["instruments"][name]["last_change_id"] == ref.last_change_id
        assert data["instruments"][name]["valid"] == ref.valid
    return data


def test_fut_prices_fit_the_learned_tick() -> None:
    _, msgs = _server_stream()
    fut = [orjson.loads(m) for m in msgs if b"BTC-27DEC24" in m and b"subscription" in m]
    levels = [lv for m in fut for side in ("bids", "asks") for lv in m["params"]["data"][side]]
    assert levels and sum(lv[1] % 2.5 == 0 for lv in levels) < len(levels)  # some are not multiples: slow path


def test_replay_equals_reference_pipeline(tmp_path: Path) -> None:
    path = tmp_path / "s.pcap"
    _write_session(path, seed=1)
    data = _compare_with_reference(path)
    assert data["tcp"]["gaps"] == 0 and data["websocket"]["resyncs"] == 0
    assert data["websocket"]["control_frames"] == 1 and data["websocket"]["client_messages"] == 3
    assert data["instruments"]["BTC-PERPETUAL"]["valid"] and data["instruments"]["BTC-PERPETUAL"]["gaps"] == 0
    assert data["json"]["decoded"] > 1500 and data["json"]["fallback"]["not_recognised"] >= 2
    assert data["instruments"]["BTC-PERPETUAL"]["trades"] > 0


def test_reordered_duplicated_overlapping_segments_change_nothing(tmp_path: Path) -> None:
    clean, messy = tmp_path / "clean.pcap", tmp_path / "messy.pcap"
    _write_session(clean, seed=2)
    _write_session(messy, seed=2, reorder=True)
    a, b = replay_file(clean).as_dict(timing=False), _compare_with_reference(messy)
    assert b["tcp"]["duplicates"] > 0 and b["tcp"]["out_of_order"] > 0 and b["tcp"]["overlaps"] > 0
    assert a["instruments"] == b["instruments"] and a["json"] == b["json"] and a["events"] == b["events"]


def test_lost_segment_is_reported_and_the_stream_resumes(tmp_path: Path) -> None:
    path = tmp_path / "lossy.pcap"
    assert _write_session(path, seed=3, lose=1) == 1
    data = replay_file(path).as_dict(timing=False)
    total = len(_server_stream()[1])
    assert data["tcp"]["gaps"] == 1 and data["tcp"]["gap_bytes"] > 0
    assert data["websocket"]["resyncs"] == 1
    assert total - 5 <= data["websocket"]["messages"] < total + 1  # only the frames cut by the gap are gone
    assert data["book_gaps"] >= 1  # the change_id chain noticed the missing book change(s)
    assert not data["instruments"]["BTC-PERPETUAL"]["valid"] or not data["instruments"]["BTC-27DEC24"]["valid"]


def test_cli_json_is_deterministic_and_filters(tmp_path: Path) -> None:
    path = tmp_path / "s.pcap"
    _write_session(path, seed=4)
    cmd = [TICKWIRE, "replay", str(path), "--json", "--no-timing", "--instrument", "BTC-PERPETUAL"]
    outs = [subprocess.run(cmd, capture_output=True, text=True, timeout=120) for _ in range(2)]
    assert outs[0].returncode == 0, outs[0].stderr
    assert outs[0].stdout == outs[1].stdout
    data = json.loads(outs[0].stdout)
    assert list(data["instruments"]) == ["BTC-PERPETUAL"] and "throughput" not in data
    timed = subprocess.run([TICKWIRE, "replay", str(path)], capture_output=True, text=True, timeout=120)
    assert timed.returncode == 0 and "throughput per stage" in timed.stdout and "BTC-PERPETUAL" in timed.stdout
    (tmp_path / "bad.pcap").write_bytes(path.read_bytes()[:24] + b"\x00" * 10)
    bad = subprocess.run([TICKWIRE, "replay", str(tmp_path / "bad.pcap")], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 0 and "truncated record header at byte offset 24" in bad.stdout  # lenient: reported


def test_speed_1x_follows_capture_time(tmp_path: Path) -> None:
    msgs = synth.book_messages(20, seed=9)
    pkts = synth.session_packets(synth.ws_frames(msgs), mss=200, step_ns=30_000_000)
    synth.write_packets(tmp_path / "slow.pcap", [(t, f) for t, f, *_ in pkts])
    span = (pkts[-1][0] - pkts[0][0]) / 1e9
    t0 = time.monotonic()
    paced = replay_file(tmp_path / "slow.pcap", speed="1x").as_dict(timing=False)
    assert time.monotonic() - t0 >= span * 0.95
    assert paced == replay_file(tmp_path / "slow.pcap").as_dict(timing=False)


class _CountUdp:
    """A real UdpHandler: counts UDP payload bytes per destination port (the seam the SBE decoder plugs into)."""

    name = "count"

    def __init__(self) -> None:
        self.ports: dict[int, int] = {}

    def handle(self, batch: PacketBatch, packets: np.ndarray, index: np.ndarray) -> None:
        for i in index:
            assert packets[i]["kind"] == PKT_UDP
            port = int(packets[i]["dport"])
            self.ports[port] = self.ports.get(port, 0) + int(packets[i]["payload_len"])

    def report(self) -> dict:
        return {str(k): v for k, v in sorted(self.ports.items())}


def test_udp_handlers_receive_the_multicast_capture() -> None:
    handler = _CountUdp()
    rep = Replay(udp_handlers=(handler,)).run(PcapSource(DATA / "deribit-multicast" / "sample_capture_v1_6.pcapng"))
    assert rep.packets == 5066 and rep.packet_kinds["udp"] == 5066
    assert sum(handler.ports.values()) > 0 and rep.udp["count"] == handler.report()


def test_bad_speed_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="speed"):
        Replay().run(PcapSource(DATA / "deribit-multicast" / "sample_capture_v1_6.pcapng"), speed="2x")
