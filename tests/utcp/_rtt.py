"""The 200-byte ping-pong round trip over the same veth path: the userspace stack on DPDK (net_af_packet or
net_af_xdp), kernel TCP with a busy-polling client, kernel TCP with a blocking client; all against the C echo
server in the peer namespace."""
from __future__ import annotations

import subprocess
from pathlib import Path

from _utcp_net import StackNet, dp_devargs, kernel_path, run_child, stop

HERE = Path(__file__).parent
ECHO_PORT = 40200
# Placement, the same for every client: the client polls on one CPU, the echo server (and the softirq work its
# sends start) on the other, so neither waits for the other to be scheduled off a shared CPU.
CLIENT_CPU, ECHO_CPU = "1", "0"


def build(tmp: Path) -> tuple[Path, Path]:
    """Compile the echo server and the kernel client (gcc -O2)."""
    out = []
    for name in ("echo", "pingpong"):
        exe = tmp / name
        subprocess.run(["gcc", "-O2", "-Wall", "-o", str(exe), str(HERE / f"{name}.c")], check=True, timeout=120)
        out.append(exe)
    return out[0], out[1]


def start_echo(net: StackNet, exe: Path, seconds: int) -> subprocess.Popen:
    proc = subprocess.Popen(["ip", "netns", "exec", net.peer_ns, "taskset", "-c", ECHO_CPU, str(exe), net.peer_ip,
                             str(ECHO_PORT), str(seconds)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "LISTENING":
        stop(proc)
        raise AssertionError("echo server did not start")
    return proc


def dpdk_pingpong(net: StackNet, size: int, n: int, warmup: int, limits: dict | None = None,
                  driver: str = "af_packet") -> dict:
    """The stack's run: ``rtt_ns`` (every timed round trip), ``rto_ms`` at the end, its ``counters``."""
    r = run_child("utcp_pingpong", {"devargs": dp_devargs(net, driver), "stack_ip": net.stack_ip,
                                    "peer_ip": net.peer_ip,
                                    "port": ECHO_PORT, "size": size, "n": n, "warmup": warmup, "seconds": 120,
                                    "core": CLIENT_CPU, "limits": limits or {}}, timeout=300, netns=net.dp_ns)
    assert r["done"] == n, f"only {r['done']} of {n} round trips completed"
    return r


def dpdk_rtts(net: StackNet, size: int, n: int, warmup: int, driver: str = "af_packet") -> list[int]:
    return dpdk_pingpong(net, size, n, warmup, driver=driver)["rtt_ns"]


def kernel_rtts(net: StackNet, exe: Path, mode: str, size: int, n: int, warmup: int) -> list[int]:
    """The kernel client in the DPDK side's namespace, with the stack's address lent to the same interface."""
    with kernel_path(net):
        out = subprocess.run(["ip", "netns", "exec", net.dp_ns, "taskset", "-c", CLIENT_CPU, str(exe), net.peer_ip,
                              str(ECHO_PORT), str(size), str(n), str(warmup), mode], check=True,
                             capture_output=True, text=True, timeout=180).stdout
    return [int(x) for x in out.split()]
