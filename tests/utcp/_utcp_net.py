"""The userspace stack's test network: a DPDK port on one end of a veth, a kernel TCP peer on the other.

``stack_network()`` creates two namespaces joined by a veth (addresses from 198.18.0.0/15, no route out): in
``dp_ns`` the DPDK side's interface has no kernel address (the kernel there neither answers ARP nor resets our
connections) and no IPv6; in ``peer_ns`` the peer has ``peer_ip``. Checksum/segmentation offloads are off on
both ends: af_packet would otherwise hand the stack partial checksums and 64 KB GSO frames. ``netem`` applies
faults to one interface's egress (the DPDK port's af_packet socket goes through the qdisc: qdisc_bypass=0).
"""
from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "dpdk"))

from _harness import ChildProcess, run_child  # noqa: E402  (tests/dpdk holds the DPDK child runner)
from _pattern import pattern  # noqa: E402

__all__ = ["StackNet", "stack_network", "netem", "ChildProcess", "run_child", "Peer", "pattern", "dp_devargs"]

STACK_MAC = "02:74:75:00:00:01"
PEER_MAC = "02:74:75:00:00:02"


@dataclass(frozen=True)
class StackNet:
    dp_ns: str
    dp_if: str
    stack_ip: str
    peer_ns: str
    peer_if: str
    peer_ip: str


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=20)


def _ns(ns: str, *cmd: str) -> None:
    _run("ip", "netns", "exec", ns, *cmd)


@contextmanager
def stack_network() -> Iterator[StackNet]:
    """Create the two namespaces and the veth; always delete them (with every qdisc and process-less socket)."""
    tag = secrets.token_hex(3)
    third = secrets.randbelow(250) + 1
    net = StackNet(f"twut-dp-{tag}", f"twut{tag}d", f"198.18.{third}.1", f"twut-pe-{tag}", f"twut{tag}p",
                   f"198.18.{third}.2")
    created: list[str] = []
    try:
        for ns in (net.dp_ns, net.peer_ns):
            _run("ip", "netns", "add", ns)
            created.append(ns)
        _run("ip", "link", "add", net.dp_if, "type", "veth", "peer", "name", net.peer_if)
        _run("ip", "link", "set", net.dp_if, "netns", net.dp_ns)
        _run("ip", "link", "set", net.peer_if, "netns", net.peer_ns)
        _ns(net.dp_ns, "sysctl", "-qw", f"net.ipv6.conf.{net.dp_if}.disable_ipv6=1")
        _ns(net.peer_ns, "sysctl", "-qw", f"net.ipv6.conf.{net.peer_if}.disable_ipv6=1")
        _run("ip", "-n", net.dp_ns, "link", "set", net.dp_if, "address", STACK_MAC, "up")
        _run("ip", "-n", net.peer_ns, "link", "set", net.peer_if, "address", PEER_MAC, "up")
        _run("ip", "-n", net.peer_ns, "addr", "add", f"{net.peer_ip}/30", "dev", net.peer_if)
        for ns, ifname in ((net.dp_ns, net.dp_if), (net.peer_ns, net.peer_if)):
            _run("ip", "-n", ns, "link", "set", "lo", "up")
            _ns(ns, "ethtool", "-K", ifname, "tx", "off", "rx", "off", "tso", "off", "gso", "off", "gro", "off")
        yield net
    finally:
        for ns in created:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


def netem(ns: str, ifname: str, *spec: str) -> None:
    """Replace the egress qdisc of ifname with netem ``spec`` (e.g. "loss", "2%"); no spec removes it."""
    subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", ifname, "root"], capture_output=True,
                   timeout=20)
    if spec:
        _ns(ns, "tc", "qdisc", "add", "dev", ifname, "root", "netem", *spec)


def dp_devargs(net: StackNet) -> str:
    """net_af_packet on the DPDK side of the veth, through the qdisc (so netem there applies)."""
    return f"net_af_packet0,iface={net.dp_if},qpairs=1,framecnt=2048,qdisc_bypass=0"


class Peer:
    """The kernel TCP peer (tests/utcp/peer.py) in the peer namespace; ``result()`` is its JSON report."""

    def __init__(self, net: StackNet, **args: object) -> None:
        cmd = ["ip", "netns", "exec", net.peer_ns, sys.executable, str(HERE / "peer.py"),
               json.dumps({"ip": net.peer_ip, **args})]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        line = self.proc.stdout.readline()
        if line.strip() != "LISTENING":
            self.proc.kill()
            raise AssertionError(f"peer did not start: {line!r} {self.proc.stderr.read()[-2000:]}")

    def result(self, timeout: float) -> dict:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError(f"peer timed out; stderr: {err[-2000:]}") from None
        if self.proc.returncode != 0 or not out.strip():
            raise AssertionError(f"peer exited {self.proc.returncode}: {err[-2000:]}")
        return json.loads(out.strip().splitlines()[-1])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
