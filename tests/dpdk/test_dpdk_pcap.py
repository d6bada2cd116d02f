"""net_pcap: a real capture in through rx_burst, the same frames out through tx_burst, byte for byte."""
from __future__ import annotations

import hashlib
from pathlib import Path

import dpkt
import pytest

from _harness import run_child

pytestmark = pytest.mark.dpdk

CAPTURE = Path(__file__).parents[1] / "data" / "deribit-multicast" / "sample_capture_v1_6.pcapng"


def _read_pcapng(path: Path) -> list[tuple[float, bytes]]:
    with path.open("rb") as f:
        return [(ts, bytes(buf)) for ts, buf in dpkt.pcapng.Reader(f)]


def test_capture_in_pcap_out_byte_identical(tmp_path: Path) -> None:
    expected = _read_pcapng(CAPTURE)
    out = tmp_path / "out.pcap"
    # a 64 KiB buffer and 256-slot batches force many batches and mbufs carried over between them
    r = run_child("pcap_roundtrip", {"in_pcap": str(CAPTURE), "out_pcap": str(out), "buf_size": 1 << 16,
                                     "max_pkts": 256}, timeout=90)
    assert r["received"] == len(expected) == r["ipackets"]
    assert r["sha256"] == hashlib.sha256(b"".join(b for _, b in expected)).hexdigest()
    # net_pcap stamps each mbuf with the capture time (microseconds in 22.11, libpcap truncates the file's finer
    # resolution); the batch carries it in ns
    assert len(r["stamps"]) == len(expected)
    # tolerance: 1 us of truncation plus float64 rounding of ~1.7e18 ns
    assert max(abs(got - ts * 1e9) for got, (ts, _) in zip(r["stamps"], expected)) < 2000
    assert r["twin_equal"], "compiled rx_into_batch and its plain-Python twin disagree"
    assert r["receiver_equal"], "BatchReceiver gave other frames than rx_into_batch"
    frames = [b for _, b in expected]
    assert r["touch"]["net_pcap3"] == [len(frames), sum(len(f) for f in frames)]
    assert r["touch"]["net_pcap4"] == [len(frames), sum(len(f) + f[0] for f in frames)]
    assert r["state"][2] == 0 and r["state"][0] == 0  # nothing oversize, nothing left pending
    assert r["sent"] == r["opackets"] == len(expected)
    assert r["in_use_after_close"] == 0, "mbufs leaked"
    with out.open("rb") as f:
        written = [bytes(buf) for _, buf in dpkt.pcap.Reader(f)]
    assert written == [b for _, b in expected]
