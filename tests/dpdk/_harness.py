"""Running DPDK in child processes (one EAL per process) and building throw-away namespaces for it.

``run_child`` starts ``tests/dpdk/children/<name>.py`` with its arguments as JSON (optionally inside a
network namespace), bounds it in time, always removes the EAL's /var/run/dpdk/<prefix> directory, and
returns the JSON object the child prints as its last stdout line. ``veth_namespaces`` creates two namespaces
joined by a veth pair addressed from 198.18.0.0/15 (no route out) and deletes them whatever happens.
"""
from __future__ import annotations

import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CHILDREN = Path(__file__).parent / "children"
RUNTIME_DIR = Path("/var/run/dpdk")


def new_prefix() -> str:
    """A unique EAL --file-prefix for one child (names its /var/run/dpdk directory)."""
    return f"twdp-{secrets.token_hex(4)}"


def _cleanup_runtime(prefix: str) -> None:
    shutil.rmtree(RUNTIME_DIR / prefix, ignore_errors=True)
    try:
        RUNTIME_DIR.rmdir()  # only when empty: other runs may be using it
    except OSError:
        pass


def child_command(name: str, args: dict, netns: str | None = None) -> list[str]:
    cmd = [sys.executable, str(CHILDREN / f"{name}.py"), json.dumps(args)]
    return ["ip", "netns", "exec", netns, *cmd] if netns else cmd


class ChildProcess:
    """A running child: ``wait_line`` for its progress lines, ``result`` for its final JSON."""

    def __init__(self, name: str, args: dict, netns: str | None = None) -> None:
        self.name = name
        self.prefix = args.setdefault("prefix", new_prefix())
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(child_command(name, args, netns), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
        self.lines: list[str] = []

    def wait_line(self, expected: str, timeout: float) -> None:
        """Block until the child prints a line equal to ``expected`` (e.g. READY)."""
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    continue
                line = self.proc.stdout.readline()
                if not line:
                    break
                self.lines.append(line)
                if line.strip() == expected:
                    return
        finally:
            sel.close()
        self.kill()
        raise AssertionError(f"{self.name}: no {expected!r} within {timeout}s; stderr:\n{self._stderr_tail()}")

    def result(self, timeout: float) -> dict:
        """Wait for the child to exit and return its last stdout line as JSON (AssertionError on failure)."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            out, err = self.proc.communicate()
            raise AssertionError(f"{self.name} timed out after {timeout}s; stderr:\n{err[-3000:]}") from None
        finally:
            _cleanup_runtime(self.prefix)
        lines = (("".join(self.lines)) + out).strip().splitlines()
        if self.proc.returncode != 0 or not lines:
            raise AssertionError(f"{self.name} exited {self.proc.returncode}; stdout tail: {lines[-5:]}; "
                                 f"stderr:\n{err[-3000:]}")
        return json.loads(lines[-1])

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        _cleanup_runtime(self.prefix)

    def _stderr_tail(self) -> str:
        try:
            _, err = self.proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            return "(no stderr)"
        return (err or "")[-3000:]


def run_child(name: str, args: dict, timeout: float = 60.0, netns: str | None = None) -> dict:
    """Run a child to completion and return its JSON result."""
    child = ChildProcess(name, args, netns)
    try:
        return child.result(timeout)
    finally:
        child.kill()


@dataclass(frozen=True)
class VethPair:
    """Two namespaces joined by a veth: ``rx_ns``/``rx_if``/``rx_ip`` and ``tx_ns``/``tx_if``/``tx_ip``."""

    rx_ns: str
    rx_if: str
    rx_ip: str
    rx_mac: str
    tx_ns: str
    tx_if: str
    tx_ip: str
    tx_mac: str


@contextmanager
def veth_namespaces() -> Iterator[VethPair]:
    """Create twdp-* namespaces and a veth pair between them (198.18.x.1/30 <-> .2/30); always delete them."""
    from pyroute2 import IPRoute, netns

    tag = secrets.token_hex(3)
    third = secrets.randbelow(250) + 1
    pair = VethPair(f"twdp-rx-{tag}", f"twdp{tag}r", f"198.18.{third}.1", "02:74:77:00:00:01",
                    f"twdp-tx-{tag}", f"twdp{tag}t", f"198.18.{third}.2", "02:74:77:00:00:02")
    created: list[str] = []
    try:
        for ns in (pair.rx_ns, pair.tx_ns):
            netns.create(ns)
            created.append(ns)
        with IPRoute() as ipr:
            ipr.link("add", ifname=pair.rx_if, kind="veth", peer=pair.tx_if)
            for ifname, ns in ((pair.rx_if, pair.rx_ns), (pair.tx_if, pair.tx_ns)):
                ipr.link("set", index=ipr.link_lookup(ifname=ifname)[0], net_ns_fd=ns)
        for ns, ifname, ip, mac in ((pair.rx_ns, pair.rx_if, pair.rx_ip, pair.rx_mac),
                                    (pair.tx_ns, pair.tx_if, pair.tx_ip, pair.tx_mac)):
            with IPRoute(netns=ns) as nsr:
                idx = nsr.link_lookup(ifname=ifname)[0]
                nsr.link("set", index=idx, address=mac)
                nsr.addr("add", index=idx, address=ip, prefixlen=30)
                nsr.link("set", index=idx, state="up")
                nsr.link("set", index=nsr.link_lookup(ifname="lo")[0], state="up")
        yield pair
    finally:
        for ns in created:
            try:
                netns.remove(ns)  # removing a namespace deletes the veth end inside it (and so its peer)
            except OSError:
                pass
