"""`tickwire run` pinned, memory locked and recorded: the header says where it ran, the stage table starts at the
kernel's receive stamp, and the capture gives the wire rows with every round trip joined."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# the engine compiles its hot pass in the child process (minutes on a cold numba cache)
pytestmark = pytest.mark.timeout(900)


def test_run_pins_locks_records_and_reports_the_wire_rows() -> None:
    cpu = max(os.sched_getaffinity(0))
    out = subprocess.run([sys.executable, "-m", "tickwire.cli", "run", "--duration", "4s", "--cpu", str(cpu),
                          "--strategy", "tickwire.bench.pingpong:PingPong", "--json"],
                         capture_output=True, text=True, timeout=850)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    place = result["placement"]
    assert place["pinned"] and place["engine_cpu"] == cpu and place["cpu_source"] == "--cpu"
    if len(os.sched_getaffinity(0)) > 1:
        assert place["sim_cpus"] and cpu not in place["sim_cpus"]
    assert place["memory_locked"] == (os.geteuid() == 0)
    assert result["header"].startswith(f"engine on CPU {cpu} (--cpu); simulator on CPU")
    assert result["gc"]["safe_point_collections"] >= 1  # once a second while trading, none automatic

    stages = {s["name"]: s for s in result["hot_path_stages_us"]}
    kernel = stages["kernel rx -> user read"]
    # reads carry the kernel's stamp (the first ones may not: the kernel enables stamping by deferred work)
    assert 0 < kernel["count"] <= stages["recv -> decoded"]["count"] and kernel["p50_us"] > 0

    wire = {s["name"]: s for s in result["wire_us"]}
    counts = result["wire_counts"]
    orders = result["counters"]["orders_sent"]
    assert orders >= 1
    assert counts["order_round_trips_not_in_capture"] == 0 and counts["position_round_trips_not_in_capture"] == 0
    assert wire["order placement: venue part"]["count"] == wire["order placement: ours"]["count"] >= orders - 1
    assert wire["position query: venue part"]["count"] == wire["position query: ours"]["count"] >= 1
    t2t = wire["tick to trade on the wire (book packet -> order packet)"]
    assert t2t["count"] >= orders and 0 < t2t["p50_us"] < t2t["max_us"] + 1e-9
    assert result["wire_note"] == ""


def test_run_without_pinning_or_capture_says_so() -> None:
    out = subprocess.run([sys.executable, "-m", "tickwire.cli", "run", "--duration", "2s", "--no-pin",
                          "--no-capture", "--json"], capture_output=True, text=True, timeout=850)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert not result["placement"]["pinned"] and result["header"].startswith("engine and simulator not pinned")
    assert result["wire_us"] == []


def test_run_refuses_a_cpu_it_may_not_use() -> None:
    out = subprocess.run([sys.executable, "-m", "tickwire.cli", "run", "--cpu", "4095"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and "CPU 4095 is not available" in out.stderr and "Traceback" not in out.stderr
