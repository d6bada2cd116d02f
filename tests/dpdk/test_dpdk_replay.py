"""`tickwire replay --source dpdk`: the same capture through net_pcap gives exactly the file source's books."""
from __future__ import annotations

from pathlib import Path

import pytest

from _harness import run_child
from tickwire.netstack import _fp_synth as synth

pytestmark = pytest.mark.dpdk


def _two_sessions(path: Path) -> None:
    """Two interleaved WebSocket sessions (BTC and ETH books) as one Ethernet capture."""
    packets = []
    for port, instrument, seed in ((51000, "BTC-PERPETUAL", 11), (51001, "ETH-PERPETUAL", 12)):
        stream = synth.ws_frames(synth.book_messages(1500, seed=seed, instrument=instrument))
        packets += [(ts + (port - 51000) * 3_000, frame)
                    for ts, frame, *_ in synth.session_packets(stream, client=("127.0.0.1", port), mss=1000)]
    synth.write_packets(path, sorted(packets, key=lambda p: p[0]))


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
