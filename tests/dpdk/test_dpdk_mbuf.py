"""Per-mbuf shims from @njit code, and multi-segment (jumbo) frames copied out whole."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from _harness import run_child

pytestmark = pytest.mark.dpdk


def test_mbuf_shims_and_jumbo_segments(tmp_path: Path) -> None:
    frame = bytes(Ether(dst="02:00:00:00:00:01") / IP(src="198.18.0.1", dst="198.18.0.2") / UDP() / os.urandom(300))
    jumbo = bytes(Ether() / IP(src="198.18.0.1", dst="198.18.0.2") / UDP() / os.urandom(5000))
    jumbo_pcap = tmp_path / "jumbo.pcap"
    wrpcap(str(jumbo_pcap), [Ether(jumbo)])
    r = run_child("mbuf_api", {"frame": frame.hex(), "jumbo_pcap": str(jumbo_pcap)}, timeout=60)
    assert (r["sent"], r["received"], r["pkt_len"], r["nb_segs"]) == (1, 1, len(frame), 1)
    assert r["first_byte"] == frame[0] and r["bytes_equal"] and r["pool_restored"]
    assert len(jumbo) > r["data_room"]  # so it really arrived as a chain of mbufs
    assert r["jumbo"] == [jumbo.hex()]
