"""The userspace stack's test network: a DPDK port on one end of a veth, a kernel TCP peer beyond a bridge.

``stack_network()`` builds three namespaces (addresses from 198.18.0.0/15, no route out)::

    dp_ns: dp_if (DPDK net_af_packet, no kernel address) <-veth-> mid_ns: m_dp + br0 + m_pe <-veth-> peer_ns: peer_if

The DPDK side's interface has no kernel address (its kernel neither answers ARP nor resets our connections) and
no IPv6. Checksum/segmentation offloads are off everywhere: af_packet would otherwise hand the stack partial
checksums and 64 KB GSO frames. Faults are made in ``mid_ns`` on the bridged path, so both endpoints see real
wire faults: this kernel has no netem (CONFIG_NET_SCH_NETEM unset), so ``impair`` uses nftables instead - random
drops in the bridge's forward hook (loss), ``dup to`` the other port at ingress (duplication), and a random share
of frames steered into a slow HTB class (reordering; with a second rate, delay jitter). ``link_down`` takes the
peer's side of the bridge down (the peer vanishes).
"""
from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "dpdk"))

from _harness import ChildProcess, run_child  # noqa: E402  (tests/dpdk holds the DPDK child runner)
from _pattern import pattern  # noqa: E402

__all__ = ["StackNet", "stack_network", "impair", "link_down", "link_up", "ChildProcess", "run_child", "Peer",
           "pattern",
           "dp_devargs", "kernel_path", "transfer", "assert_identical", "capture", "stop", "management_link"]

STACK_MAC = "02:74:75:00:00:01"
PEER_MAC = "02:74:75:00:00:02"


@dataclass(frozen=True)
class StackNet:
    dp_ns: str
    dp_if: str
    stack_ip: str
    mid_ns: str
    m_dp: str
    m_pe: str
    peer_ns: str
    peer_if: str
    peer_ip: str


def _run(*cmd: str, stdin: str | None = None) -> None:
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=20)
    if r.returncode:
        raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")


def _ns(ns: str, *cmd: str, stdin: str | None = None) -> None:
    _run("ip", "netns", "exec", ns, *cmd, stdin=stdin)


@contextmanager
def stack_network() -> Iterator[StackNet]:
    """Create the three namespaces, two veths and the bridge; always delete them."""
    tag = secrets.token_hex(3)
    third = secrets.randbelow(250) + 1
    net = StackNet(f"twut-dp-{tag}", f"tw{tag}d", f"198.18.{third}.1", f"twut-mid-{tag}", f"tw{tag}md",
                   f"tw{tag}mp", f"twut-pe-{tag}", f"tw{tag}p", f"198.18.{third}.2")
    created: list[str] = []
    try:
        for ns in (net.dp_ns, net.mid_ns, net.peer_ns):
            _run("ip", "netns", "add", ns)
            created.append(ns)
            _ns(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
            _ns(ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        for (end_ns, end_if, mid_if) in ((net.dp_ns, net.dp_if, net.m_dp), (net.peer_ns, net.peer_if, net.m_pe)):
            _run("ip", "link", "add", end_if, "type", "veth", "peer", "name", mid_if)
            _run("ip", "link", "set", end_if, "netns", end_ns)
            _run("ip", "link", "set", mid_if, "netns", net.mid_ns)
        _run("ip", "-n", net.dp_ns, "link", "set", net.dp_if, "address", STACK_MAC)
        _run("ip", "-n", net.peer_ns, "link", "set", net.peer_if, "address", PEER_MAC)
        _run("ip", "-n", net.peer_ns, "addr", "add", f"{net.peer_ip}/30", "dev", net.peer_if)
        _run("ip", "-n", net.mid_ns, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
        for ns, ifname in ((net.dp_ns, net.dp_if), (net.mid_ns, net.m_dp), (net.mid_ns, net.m_pe),
                           (net.peer_ns, net.peer_if)):
            _ns(ns, "ethtool", "-K", ifname, "tx", "off", "rx", "off", "tso", "off", "gso", "off", "gro", "off")
            if ns == net.mid_ns:
                _run("ip", "-n", ns, "link", "set", ifname, "master", "br0")
            _run("ip", "-n", ns, "link", "set", ifname, "up")
        _run("ip", "-n", net.mid_ns, "link", "set", "br0", "up")
        yield net
    finally:
        for ns in created:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


def management_link(net: StackNet) -> str:
    """A second, kernel-routed veth between the DPDK side's namespace and the peer's (a host's management NIC
    beside its trading port, e.g. for the venue's HTTP API); the peer's address ``net.peer_ip`` is routed over
    it for the kernel of ``dp_ns`` only (the DPDK port knows nothing of it). Returns our management address.
    Deleted with the namespaces."""
    third = int(net.peer_ip.split(".")[2])
    ours, theirs = f"198.19.{third}.1", f"198.19.{third}.2"
    a, b = net.dp_if + "g", net.peer_if + "g"
    _run("ip", "link", "add", a, "type", "veth", "peer", "name", b)
    _run("ip", "link", "set", a, "netns", net.dp_ns)
    _run("ip", "link", "set", b, "netns", net.peer_ns)
    _run("ip", "-n", net.dp_ns, "addr", "add", f"{ours}/30", "dev", a)
    _run("ip", "-n", net.peer_ns, "addr", "add", f"{theirs}/30", "dev", b)
    _run("ip", "-n", net.dp_ns, "link", "set", a, "up")
    _run("ip", "-n", net.peer_ns, "link", "set", b, "up")
    _run("ip", "-n", net.dp_ns, "route", "add", f"{net.peer_ip}/32", "via", theirs)
    return ours


SLOW_CLASS = "1:20"


def impair(net: StackNet, loss_pct: float = 0.0, dup_pct: int = 0, slow_pct: int = 0,
           slow_rate: str = "2mbit") -> None:
    """Faults on the bridged path, both directions: drop loss_pct % of frames, duplicate dup_pct %, send slow_pct %
    through an HTB class limited to slow_rate (they fall behind the others: reordering, delay jitter)."""
    rules = [f"numgen random mod 1000 < {int(loss_pct * 10)} drop"] if loss_pct else []
    if slow_pct:
        rules.append(f"numgen random mod 100 < {slow_pct} meta priority set {SLOW_CLASS}")
        for ifname in (net.m_dp, net.m_pe):
            _ns(net.mid_ns, "tc", "qdisc", "replace", "dev", ifname, "root", "handle", "1:", "htb", "default", "10")
            _ns(net.mid_ns, "tc", "class", "add", "dev", ifname, "parent", "1:", "classid", "1:10", "htb", "rate",
                "10gbit")
            _ns(net.mid_ns, "tc", "class", "add", "dev", ifname, "parent", "1:", "classid", SLOW_CLASS, "htb",
                "rate", slow_rate, "ceil", slow_rate)
    script = "table bridge twut {\n chain forward_faults {\n  type filter hook forward priority 0; policy accept;\n"
    script += "".join(f"  {r}\n" for r in rules) + " }\n}\n"
    if dup_pct:
        script += "table netdev twdup {\n"
        for src, dst in ((net.m_dp, net.m_pe), (net.m_pe, net.m_dp)):
            script += (f" chain from_{src} {{\n  type filter hook ingress device \"{src}\" priority 0;\n"
                       f"  numgen random mod 100 < {dup_pct} dup to \"{dst}\"\n }}\n")
        script += "}\n"
    _ns(net.mid_ns, "nft", "-f", "-", stdin=script)


def link_down(net: StackNet) -> None:
    """The peer vanishes: its side of the bridge goes down (frames to it are dropped, none come back)."""
    _run("ip", "-n", net.mid_ns, "link", "set", net.m_pe, "down")


def link_up(net: StackNet) -> None:
    _run("ip", "-n", net.mid_ns, "link", "set", net.m_pe, "up")


@contextmanager
def kernel_path(net: StackNet) -> Iterator[None]:
    """For a ``--stack kernel`` run: the stack's address on the DPDK side's interface and the peer routed over it
    (a management link's route to the peer is replaced for the block), so kernel TCP takes the same veth and
    bridge as the userspace stack; all of it undone afterwards."""
    ns = ["ip", "-n", net.dp_ns]
    routes = subprocess.run([*ns, "route", "show", f"{net.peer_ip}/32"], capture_output=True, text=True,
                            timeout=20).stdout.split()
    subprocess.run([*ns, "addr", "add", f"{net.stack_ip}/30", "dev", net.dp_if], check=True, timeout=20)
    try:
        if routes:
            subprocess.run([*ns, "route", "replace", f"{net.peer_ip}/32", "dev", net.dp_if], check=True, timeout=20)
        yield
    finally:
        if routes:
            subprocess.run([*ns, "route", "replace", *routes], check=True, timeout=20)
        subprocess.run([*ns, "addr", "del", f"{net.stack_ip}/30", "dev", net.dp_if], check=True, timeout=20)


def dp_devargs(net: StackNet, driver: str = "af_packet") -> str:
    """The DPDK port on the stack's side of the veth: net_af_packet, or net_af_xdp (an AF_XDP socket; the kernel
    still runs the veth driver and an XDP program, but frames skip its network stack and the af_packet copy)."""
    if driver == "af_xdp":
        return f"net_af_xdp0,iface={net.dp_if},start_queue=0,queue_count=1"
    return f"net_af_packet0,iface={net.dp_if},qpairs=1,framecnt=2048"


class Peer:
    """The kernel TCP peer (tests/utcp/peer.py) in the peer namespace; ``result()`` is its JSON report."""

    def __init__(self, net: StackNet, **args: object) -> None:
        cmd = ["ip", "netns", "exec", net.peer_ns, sys.executable, str(HERE / "peer.py"),
               json.dumps({"ip": net.peer_ip, **args})]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        line = self.proc.stdout.readline()
        if line.strip() != "LISTENING":
            stop(self.proc)
            raise AssertionError(f"peer did not start: {line!r}")

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
        stop(self.proc)


def stop(proc: subprocess.Popen) -> None:
    """Kill a helper process if it still runs, reap it and close its pipes."""
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=10)


PORT = 40123
FAST_TIMERS = {"rto_min_ms": 20, "rto_init_ms": 200}


def transfer(net: StackNet, conns: list[dict], limits: dict | None = None, seconds: float = 120.0,
             driver: str = "af_packet") -> tuple[dict, dict]:
    """Run the peer and the DPDK client for `conns`; returns (client result, peer result)."""
    peer = Peer(net, port=PORT, conns=conns, seconds=seconds)
    client = ChildProcess("utcp_client", {"devargs": dp_devargs(net, driver), "stack_ip": net.stack_ip,
                                          "peer_ip": net.peer_ip, "port": PORT, "conns": conns,
                                          "limits": limits or FAST_TIMERS, "seconds": seconds}, netns=net.dp_ns)
    try:
        got = client.result(timeout=seconds + 120)
        return got, peer.result(timeout=30)
    finally:
        client.kill()
        peer.kill()


def assert_identical(spec: dict, mine: dict, theirs: dict) -> None:
    """What each side received is exactly what the other sent."""
    assert mine["received"] == spec["down"]
    assert mine["sha256"] == hashlib.sha256(pattern(spec["seed"], spec["down"])).hexdigest()
    assert theirs["received"] == spec["up"]
    assert theirs["sha256"] == hashlib.sha256(pattern(spec["seed"] + 1, spec["up"])).hexdigest()


@contextmanager
def capture(net: StackNet, path: Path) -> Iterator[None]:
    """tcpdump on the peer's interface (inside its namespace) for the duration of the block; waits until the
    capture is running and until it is flushed."""
    proc = subprocess.Popen(["ip", "netns", "exec", net.peer_ns, "tcpdump", "-i", net.peer_if, "-U", "-s", "0",
                             "-w", str(path), "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()  # "tcpdump: listening on ..."
    if "listening" not in line:
        stop(proc)
        raise AssertionError(f"tcpdump did not start: {line}")
    try:
        yield
    finally:
        proc.send_signal(2)
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            stop(proc)
