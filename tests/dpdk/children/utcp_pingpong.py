"""Round-trip benchmark child: the userspace stack (net_af_packet on a veth) sends `size` bytes to an echo
server and spins until they are back, `n` times after `warmup`; every round trip timed in a compiled loop, and
split into its parts (``PARTS``) by CLOCK_MONOTONIC stamps around the send and the poll that received the echo."""
from __future__ import annotations

import _common
import numpy as np
from numba import njit

from tickwire.native import lib as native
from tickwire.netstack.dpdk import Mempool, Port
from tickwire.netstack.utcp import UtcpStack, utcp_poll, utcp_recv, utcp_send
from tickwire.netstack.utcp_state import T_RTO


# utcp_send (build, tx copy, kick); until the poll that got the echo's frames started; that poll (rx burst, copy,
# stack input, output); from its end to the bytes copied out
PARTS = ("send", "wait", "rx_poll", "recv")


@njit
def pingpong(st, msg: np.ndarray, buf: np.ndarray, n: int, warmup: int, rtt: np.ndarray, parts: np.ndarray,
             max_ns: int) -> int:
    """Timed round trips into rtt and their PARTS into parts[i, :]; returns how many timed ones completed (fewer
    when max_ns ran out or the stream failed)."""
    size = msg.size
    give_up = native.tw_monotonic_ns() + max_ns
    for i in range(warmup + n):
        t0 = native.tw_monotonic_ns()
        if utcp_send(st, 0, msg, 0, size) != size:
            return max(0, i - warmup)
        t_sent = native.tw_monotonic_ns()
        t_poll = t_polled = t_sent
        got = 0
        while got < size:
            t = native.tw_monotonic_ns()
            if utcp_poll(st) > 0 and got == 0:
                t_poll, t_polled = t, native.tw_monotonic_ns()
            k = utcp_recv(st, 0, buf, got, size - got)
            if k < 0 or native.tw_monotonic_ns() > give_up:
                return max(0, i - warmup)
            got += k
        if i >= warmup:
            t_end = native.tw_monotonic_ns()
            rtt[i - warmup] = t_end - t0
            parts[i - warmup, 0] = t_sent - t0
            parts[i - warmup, 1] = t_poll - t_sent
            parts[i - warmup, 2] = t_polled - t_poll
            parts[i - warmup, 3] = t_end - t_polled
    return n


def main() -> None:
    a = _common.args()
    eal = _common.eal(a, [a["devargs"]], cores=a.get("core", "0"))
    pool = Mempool.create("pp", 4095)
    port = Port(0)
    port.setup(pool)
    stack = UtcpStack(port, pool, f"{a['stack_ip']}/30", **a.get("limits", {}))
    stack.connect(a["peer_ip"], a["port"], slot=0)
    stack.wait_established(0, timeout_s=30)
    msg = np.frombuffer(b"x" * a["size"], np.uint8).copy()
    buf = np.zeros(a["size"], np.uint8)
    rtt = np.zeros(a["n"], np.int64)
    parts = np.zeros((a["n"], len(PARTS)), np.int64)
    done = pingpong(stack.state, msg, buf, a["n"], a["warmup"], rtt, parts, int(a["seconds"] * 1e9))
    rto_ms = int(stack.state.tcb[0, T_RTO]) / 1e6
    stack.close(0)
    for _ in range(1000):
        stack.poll()
    counters = stack.counters()
    port.close()
    pool.free()
    eal.cleanup()
    _common.emit({"rtt_ns": rtt[:done].tolist(), "done": done,
                  "parts_ns": {p: parts[:done, j].tolist() for j, p in enumerate(PARTS)}, "rto_ms": rto_ms,
                  "counters": counters})


if __name__ == "__main__":
    main()
