"""`tickwire replay --source dpdk`: the same capture through net_pcap gives exactly the file source's books."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _harness import RUNTIME_DIR, run_child
import synth_session as synth

CAPTURE_FOR_ERRORS = Path(__file__).parents[1] / "data" / "deribit-multicast" / "sample_capture_v1_6.pcapng"


def _two_sessions(path: Path) -> None:
    """Two interleaved WebSocket sessions (BTC and ETH books) as one Ethernet capture."""
    packets = []
    for port, instrument, seed in ((51000, "BTC-PERPETUAL", 11), (51001, "ETH-PERPETUAL", 12)):
        stream = synth.ws_frames(synth.book_messages(1500, seed=seed, instrument=instrument))
        packets += [(ts + (port - 51000) * 3_000, frame)
                    for ts, frame, *_ in synth.session_packets(stream, client=("127.0.0.1", port), mss=1000)]
    synth.write_packets(path, sorted(packets, key=lambda p: p[0]))


@pytest.mark.dpdk
def test_dpdk_source_gives_the_file_sources_books(tmp_path: Path) -> None:
    capture = tmp_path / "session.pcap"
    _two_sessions(capture)
    # small batches and a 64 KiB buffer: many batches, packets carried over between them
    r = run_child("replay_dpdk", {"capture": str(capture), "batch": 64, "buf_bytes": 1 << 16}, timeout=120)
    assert r["frames_equal"] and r["stamps_equal_us"]
    file_report = r["file"]
    assert set(file_report["instruments"]) == {"BTC-PERPETUAL", "ETH-PERPETUAL"}
    assert file_report["instruments"]["BTC-PERPETUAL"]["book_messages"] == 1500
    for dpdk_report in r["dpdk"]:  # max speed and 1x, in one process: a vdev hot-plugged and removed each time
        assert dpdk_report["source"] == "dpdk:session.pcap"
        assert {k: v for k, v in dpdk_report.items() if k != "source"} == \
               {k: v for k, v in file_report.items() if k != "source"}


def _replay_cli(capture: Path, source: str) -> dict:
    cmd = [sys.executable, "-m", "tickwire.cli", "replay", str(capture), "--source", source, "--json", "--no-timing"]
    before = set(RUNTIME_DIR.glob("twreplay-*"))
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    finally:
        for leftover in set(RUNTIME_DIR.glob("twreplay-*")) - before:  # only if the child died before its clean-up
            shutil.rmtree(leftover, ignore_errors=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


@pytest.mark.dpdk
def test_tickwire_replay_source_dpdk_cli(tmp_path: Path) -> None:
    capture = tmp_path / "s.pcap"
    _two_sessions(capture)
    via_dpdk, via_file = _replay_cli(capture, "dpdk"), _replay_cli(capture, "file")
    assert via_dpdk.pop("source") == "dpdk:s.pcap" and via_file.pop("source") == "s.pcap"
    assert via_dpdk == via_file and via_file["instruments"]


def test_unknown_source_is_rejected() -> None:
    from tickwire.md.replay import open_source

    with pytest.raises(ValueError, match="known: file, dpdk"):
        open_source(CAPTURE_FOR_ERRORS, "rdma")
