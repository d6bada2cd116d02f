"""Differential check of the userspace stack's segments: a capture from inside the peer's namespace, read by
dpkt (checksums, header sanity, payload against the stream, acknowledgements against what the peer sent) and by
tshark's own TCP analysis."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import _segcheck
from _pattern import pattern
from _utcp_net import assert_identical, capture, impair, stack_network, transfer

pytestmark = [pytest.mark.dpdk, pytest.mark.netns]


def tshark_count(pcap: Path, display_filter: str) -> int:
    out = subprocess.run(["tshark", "-r", str(pcap), "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
                          "-Y", display_filter, "-T", "fields", "-e", "frame.number"],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    return len(out.split())


@pytest.mark.parametrize("loss_pct", [0, 3], ids=["clean", "loss3"])
def test_segments_are_well_formed_and_consistent(tmp_path: Path, loss_pct: int) -> None:
    spec = {"down": 200_000, "up": 200_000, "seed": 23}
    pcap = tmp_path / "peer.pcap"
    with stack_network() as net:
        if loss_pct:
            impair(net, loss_pct=loss_pct)
        with capture(net, pcap):
            mine, theirs = transfer(net, [spec])
    c = mine["conns"][0]
    assert_identical(spec, c, theirs["conns"][0])
    up = pattern(spec["seed"] + 1, spec["up"])
    found = _segcheck.check(pcap, net.stack_ip, net.peer_ip, c["lport"], c["iss"], up)
    assert found["problems"] == []
    # every captured data segment was checked against the stream; how many there are is not fixed: the veth
    # coalesces segments (GRO) and a loaded host's capture may drop some (the whole stream is compared above)
    assert found["syn_options"] >= 1 and found["data_segments"] > 0
    if shutil.which("tshark"):
        ours = f"ip.src == {net.stack_ip}"
        assert tshark_count(pcap, f"{ours} && (tcp.checksum.status == \"Bad\" || ip.checksum.status == \"Bad\" "
                                  f"|| _ws.malformed)") == 0
        if not loss_pct:  # a clean link: tshark sees no retransmission or out-of-order segment from the stack
            assert tshark_count(pcap, f"{ours} && (tcp.analysis.retransmission || tcp.analysis.out_of_order "
                                      f"|| tcp.analysis.ack_lost_segment)") == 0
        else:  # under loss tshark sees the stack retransmit, as its counters say
            assert tshark_count(pcap, f"{ours} && tcp.analysis.retransmission") > 0
            assert mine["counters"]["retransmits"] > 0
