"""The simulator publishes Deribit multicast SBE in one namespace; DPDK (net_af_packet) receives it on the
other end of the veth and the multicast feed handler builds books from it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from _harness import ChildProcess, veth_namespaces

pytestmark = [pytest.mark.dpdk, pytest.mark.netns]


def test_simulator_multicast_through_dpdk_builds_books() -> None:
    with veth_namespaces() as pair:
        rx = ChildProcess("sim_mcast_rx", {"iface": pair.rx_if, "expect": 1000, "seconds": 30,
                                               "start_timeout": 60}, netns=pair.rx_ns)
        sim = None
        try:
            rx.wait_line("READY", timeout=60)
            sim = subprocess.Popen(["ip", "netns", "exec", pair.tx_ns, sys.executable, "-m", "tickwire.cli", "sim",
                                    "--port", "0", "--rate", "200", "--multicast", f"{pair.tx_ip}:6100",
                                    "--ready-json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
            ready = json.loads(sim.stdout.readline() or "{}")
            assert ready, sim.stderr.read()[-2000:] if sim.poll() is not None else "simulator printed nothing"
            got = rx.result(timeout=60)
        finally:
            rx.kill()
            if sim is not None:
                if sim.poll() is None:
                    os.killpg(sim.pid, signal.SIGTERM)
                sim.communicate(timeout=20)
    stats = got["stats"]
    assert got["payloads"] >= 1000, got
    assert stats["snapshots"] >= 1, stats
    if stats["gaps"] == 0:  # nothing lost on the way: no book chain may break
        assert stats["book_gaps"] == 0, stats
    else:  # a loaded 2-core host starved the receiver and the ring dropped frames: each loss is reported
        assert stats["missing"] >= stats["gaps"], stats
    # ...and the books still end valid (recovered from the snapshot channels where frames were lost)
    live = [name for name, book in got["books"].items() if book["messages"] > 0 and book["valid"]]
    assert len(live) >= 2, got["books"]
