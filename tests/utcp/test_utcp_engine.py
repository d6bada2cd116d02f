"""`tickwire run --stack dpdk`: the engine's session over the userspace TCP stack on a DPDK port.

The simulator runs on kernel TCP in the peer namespace; the engine runs (as the `tickwire run` command, in its
own process: one EAL per process) in the DPDK side's namespace with its port on one end of the veth
(net_af_packet). Instruments come over HTTP on a separate kernel-routed management link, as on a host with a
management NIC beside its trading port; every WebSocket byte goes through the stack. While it trades, the
simulator's socket is destroyed (`ss -K`: the kernel sends a RST): the session must reconnect through the same
stack and quote again, and at the end no order of ours is left open.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from _utcp_net import StackNet, dp_devargs, management_link, stack_network, stop

pytestmark = [pytest.mark.dpdk, pytest.mark.netns, pytest.mark.timeout(900)]

TICKWIRE = str(Path(sys.executable).parent / "tickwire")
SYSTEM_TESTS = str(Path(__file__).parents[1] / "system")
START_UP_S = 600  # the engine compiles its compiled path cold in a new process (minutes on a loaded machine)


def start_sim(net: StackNet) -> tuple[subprocess.Popen, dict]:
    """The simulator in the peer's namespace on kernel TCP (all its addresses); its ready line."""
    proc = subprocess.Popen(["ip", "netns", "exec", net.peer_ns, sys.executable, "-m", "tickwire.sim", "--host",
                             "0.0.0.0", "--port", "0", "--ready-json", "--rate", "50", "--instruments",
                             "BTC-PERPETUAL"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    line = proc.stdout.readline()
    try:
        info = json.loads(line)
        return proc, {**info, "port": urlsplit(info["url"]).port}
    except (ValueError, KeyError):
        stop(proc)
        raise AssertionError(f"simulator did not start: {line!r}") from None


def venue_query(net: StackNet, info: dict, method: str, **params: object) -> object:
    """The simulator's state, asked over HTTP from inside its namespace (not through the engine)."""
    script = ("import json, sys; sys.path.insert(0, %r); from engine_sys import venue_call; "
              "from tickwire.deribit.venue import Venue; from tickwire.deribit.auth import Credentials; "
              "a = json.loads(sys.argv[1]); v = Venue('', a['http'], Credentials(a['id'], a['secret']), True); "
              "print(json.dumps(venue_call(v, a['method'], **a['params'])))" % SYSTEM_TESTS)
    arg = json.dumps({"http": f"http://{net.peer_ip}:{info['port']}/api/v2", "id": info["client_id"],
                      "secret": info["client_secret"], "method": method, "params": params})
    out = subprocess.run(["ip", "netns", "exec", net.peer_ns, sys.executable, "-c", script, arg],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def our_open_orders(net: StackNet, info: dict) -> list[dict]:
    orders = venue_query(net, info, "private/get_open_orders_by_instrument", instrument_name="BTC-PERPETUAL")
    return [o for o in orders if str(o.get("label", "")).startswith("tw")]


class EngineRun:
    """`tickwire run --stack dpdk` in the DPDK side's namespace; its stderr log is read line by line."""

    def __init__(self, net: StackNet, info: dict, driver: str, duration_s: int, runtime_dir: str) -> None:
        url = f"ws://{net.peer_ip}:{info['port']}/ws/api/v2"
        cmd = ["ip", "netns", "exec", net.dp_ns, TICKWIRE, "run", "--venue", "sim", "--url", url, "--stack", "dpdk",
               "--port-spec", dp_devargs(net), "--ip", f"{net.stack_ip}/30", "--driver", driver, "--no-pin",
               "--no-capture", "--duration", f"{duration_s}s", "--json", "-v"]
        env = {**os.environ, "TICKWIRE_CLIENT_ID": info["client_id"], "TICKWIRE_CLIENT_SECRET": info["client_secret"],
               "TICKWIRE_RUNTIME_DIR": runtime_dir}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                     start_new_session=True)
        self.log: list[str] = []

    def wait_ready(self, more_than: int, timeout_s: float) -> int:
        """Until a session is ready after more than ``more_than`` reconnects; its reconnect count (-1: none)."""
        deadline = time.monotonic() + timeout_s
        while self.wait_log("session ready", max(0.0, deadline - time.monotonic())):
            count = int(self.log[-1].rsplit("reconnects=", 1)[1].split(")")[0])
            if count > more_than:
                return count
        return -1

    def wait_log(self, needle: str, timeout_s: float) -> bool:
        """Read stderr until a line holds ``needle`` (True), the process ends or ``timeout_s`` passes (False)."""
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(self.proc.stderr, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                if not sel.select(timeout=min(1.0, max(0.0, deadline - time.monotonic()))):
                    continue
                line = self.proc.stderr.readline()
                if not line:
                    return False
                self.log.append(line)
                if needle in line:
                    return True
            return False
        finally:
            sel.close()

    def result(self, timeout_s: float) -> dict:
        try:
            out, err = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stop(self.proc)
            raise AssertionError("tickwire run did not end; log:\n" + "".join(self.log[-40:])) from None
        self.log.append(err)
        assert self.proc.returncode == 0, f"tickwire run exited {self.proc.returncode}:\n" + "".join(self.log)[-4000:]
        return json.loads(out)


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
