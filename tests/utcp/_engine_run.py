"""`tickwire run` in the test network: the simulator on kernel TCP in the peer's namespace, the engine in the DPDK
side's namespace over the userspace stack (``--stack dpdk``, its port on the veth) or over kernel TCP on the same
veth (``--stack kernel``, with the stack's address lent to the interface for the run)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from _utcp_net import StackNet, dp_devargs, stop

TICKWIRE = str(Path(sys.executable).parent / "tickwire")
SYSTEM_TESTS = str(Path(__file__).parents[1] / "system")
START_UP_S = 600  # the engine compiles its compiled path cold in a new process (minutes on a loaded machine)


def on_cpu(cpu: int | None) -> list[str]:
    """A command prefix that runs the command on ``cpu`` only (nothing for None)."""
    return [] if cpu is None else ["taskset", "-c", str(cpu)]


def start_sim(net: StackNet, rate: int = 50, cpu: int | None = None) -> tuple[subprocess.Popen, dict]:
    """The simulator in the peer's namespace on kernel TCP (all its addresses), ``rate`` book updates a second,
    on ``cpu`` when given; its ready line."""
    proc = subprocess.Popen(["ip", "netns", "exec", net.peer_ns, *on_cpu(cpu), sys.executable, "-m", "tickwire.sim",
                             "--host", "0.0.0.0", "--port", "0", "--ready-json", "--rate", str(rate),
                             "--instruments", "BTC-PERPETUAL"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
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
    """`tickwire run` in the DPDK side's namespace (``--stack dpdk`` by default), pinned to ``cpu`` when given
    (``--pin --cpu``: the EAL then takes that CPU as its lcore); its stderr log is read line by line."""

    def __init__(self, net: StackNet, info: dict, driver: str, duration_s: int, runtime_dir: str,
                 stack: str = "dpdk", strategy: str | None = None, cpu: int | None = None) -> None:
        url = f"ws://{net.peer_ip}:{info['port']}/ws/api/v2"
        placement = ["--no-pin"] if cpu is None else ["--pin", "--cpu", str(cpu)]  # the engine pins itself
        cmd = ["ip", "netns", "exec", net.dp_ns, TICKWIRE, "run", "--venue", "sim", "--url", url, "--stack", stack,
               "--driver", driver, *placement, "--no-capture", "--duration", f"{duration_s}s", "--json", "-v"]
        if stack == "dpdk":
            cmd += ["--port-spec", dp_devargs(net), "--ip", f"{net.stack_ip}/30"]
        if strategy:
            cmd += ["--strategy", strategy]
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



