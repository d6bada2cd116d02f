"""`tickwire run --stack dpdk`: the engine's session over the userspace TCP stack on a DPDK port.

The simulator runs on kernel TCP in the peer namespace; the engine runs (as the `tickwire run` command, in its
own process: one EAL per process) in the DPDK side's namespace with its port on one end of the veth
(net_af_packet). Instruments come over HTTP on a separate kernel-routed management link, as on a host with a
management NIC beside its trading port; every WebSocket byte goes through the stack. While it trades, the
simulator's socket is destroyed (`ss -K`: the kernel sends a RST): the session must reconnect through the same
stack and quote again, and at the end no order of ours is left open.
"""
from __future__ import annotations

import subprocess
import tempfile
import time

import pytest

from _engine_run import START_UP_S, EngineRun, our_open_orders, start_sim
from _utcp_net import StackNet, management_link, stack_network, stop

pytestmark = [pytest.mark.dpdk, pytest.mark.netns, pytest.mark.timeout(900)]


@pytest.mark.parametrize("driver", ["spin", "async"])
def test_run_over_the_dpdk_stack_trades_and_reconnects_after_a_peer_reset(driver: str) -> None:
    with stack_network() as net, tempfile.TemporaryDirectory() as runtime_dir:
        management_link(net)
        sim, info = start_sim(net)
        engine = EngineRun(net, info, driver, duration_s=25, runtime_dir=runtime_dir)
        try:
            first = engine.wait_ready(-1, START_UP_S)
            # the first connection works (the port's poller once read the slot before it was connected)
            assert first == 0, "no first session:\n" + "".join(engine.log[-40:])
            quoting_before = _wait_for_quotes(net, info, 60)
            reset = subprocess.run(["ip", "netns", "exec", net.peer_ns, "ss", "-K", "dst", net.stack_ip],
                                   capture_output=True, text=True, timeout=20)
            assert reset.returncode == 0, reset.stderr
            assert engine.wait_ready(first, 120) > first, "no reconnect:\n" + "".join(engine.log[-40:])
            # cancel-on-disconnect took the first connection's quotes away: quotes now are the new session's
            quoting_after = _wait_for_quotes(net, info, 60)
            got = engine.result(START_UP_S)
            left_on_venue = our_open_orders(net, info)
        finally:
            stop(engine.proc)
            stop(sim)
    assert quoting_before and quoting_after
    assert got["driver"].startswith("spin on cpu") if driver == "spin" else got["driver"].startswith("async")
    counters = got["counters"]
    assert counters["reconnects"] >= 1
    assert counters["utcp_rst_received"] >= 1  # the reset came through the stack
    assert counters["orders_sent"] >= 2 and counters["cancels_sent"] >= 1
    assert got["open_orders_left"] == 0 and left_on_venue == []
    book = got["books"]["BTC-PERPETUAL"]
    assert book["valid"] and book["gaps"] == 0 and book["errors"] == 0
    assert book["best_bid"] is not None and book["best_ask"] is not None and book["best_bid"] < book["best_ask"]
    assert next(r for r in got["latency_us"] if r["name"] == "Order Placement")["count"] > 0


def _wait_for_quotes(net: StackNet, info: dict, timeout_s: float) -> bool:
    """Until the simulator holds an open order of ours (bounded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if our_open_orders(net, info):
            return True
        time.sleep(0.5)
    return False
