"""Round-trip benchmark child: the userspace stack (net_af_packet on a veth) sends `size` bytes to an echo
server and spins until they are back, `n` times after `warmup`; every round trip timed in a compiled loop."""
from __future__ import annotations

import _common
import numpy as np
from numba import njit

from tickwire.native import lib as native
from tickwire.netstack.dpdk import Mempool, Port
from tickwire.netstack.utcp import UtcpStack, utcp_poll, utcp_recv, utcp_send
from tickwire.netstack.utcp_state import T_RTO


@njit
def pingpong(st, msg: np.ndarray, buf: np.ndarray, n: int, warmup: int, rtt: np.ndarray, max_ns: int) -> int:
    """Timed round trips into rtt; returns how many timed ones completed (fewer when max_ns ran out or the
    stream failed)."""
    size = msg.size
    give_up = native.tw_monotonic_ns() + max_ns
    for i in range(warmup + n):
        t0 = native.tw_monotonic_ns()
        if utcp_send(st, 0, msg, 0, size) != size:
            return max(0, i - warmup)
        got = 0
        while got < size:
            utcp_poll(st)
            k = utcp_recv(st, 0, buf, got, size - got)
            if k < 0 or native.tw_monotonic_ns() > give_up:
                return max(0, i - warmup)
            got += k
        if i >= warmup:
            rtt[i - warmup] = native.tw_monotonic_ns() - t0
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
    done = pingpong(stack.state, msg, buf, a["n"], a["warmup"], rtt, int(a["seconds"] * 1e9))
    rto_ms = int(stack.state.tcb[0, T_RTO]) / 1e6
    stack.close(0)
    for _ in range(1000):
        stack.poll()
    counters = stack.counters()
    port.close()
    pool.free()
    eal.cleanup()
    _common.emit({"rtt_ns": rtt[:done].tolist(), "done": done, "rto_ms": rto_ms, "counters": counters})


if __name__ == "__main__":
    main()
