"""net_af_packet on one end of a veth: receive until `expect` UDP frames to our ports arrived (or a deadline).

Prints READY once the port is up, then the frames (hex) as the JSON result. mode "link_down" instead reports
what waiting for the link of a downed net_tap interface raises.
"""
from __future__ import annotations

import subprocess
import time

import _common
import numpy as np

from tickwire.netstack import _dpdk_loops as loops
from tickwire.netstack.dpdk import LinkDownError, Mempool, Port


def is_ours(frame: bytes, ports: set[int]) -> bool:
    """IPv4/UDP to one of the test's destination ports (the kernel also emits IPv6 router solicitations etc.)."""
    return (len(frame) >= 42 and frame[12:14] == b"\x08\x00" and frame[23] == 17
            and int.from_bytes(frame[36:38], "big") in ports)


def link_down(a: dict) -> None:
    """net_tap reports the kernel interface's state (net_af_packet in 22.11 always says up): take it down."""
    eal = _common.eal(a, [f"net_tap0,iface={a['iface']}"])
    pool = Mempool.create("tap", 1023)
    port = Port.by_name("net_tap0")
    port.setup(pool)
    up_before = port.wait_link_up(timeout_s=5).up
    subprocess.run(["ip", "link", "set", a["iface"], "down"], check=True)
    try:
        port.wait_link_up(timeout_s=0.5)
        result = {"error": None, "up_before": up_before}
    except LinkDownError as exc:
        result = {"error": "LinkDownError", "message": str(exc), "up_before": up_before}
    port.close()
    pool.free()
    eal.cleanup()
    _common.emit(result)


def main() -> None:
    a = _common.args()
    if a.get("mode") == "link_down":
        link_down(a)
        return
    eal = _common.eal(a, [f"net_af_packet0,iface={a['iface']},qpairs=1,framecnt=4096"])
    pool = Mempool.create("veth", 4095)
    port = Port.by_name("net_af_packet0")
    port.setup(pool)
    port.wait_link_up(timeout_s=5)
    info = port.info()
    print("READY", flush=True)
    ports = set(a["udp_ports"])
    mbufs = np.zeros(32, np.uint64)
    state = loops.new_rx_state()
    buf = np.zeros(1 << 20, np.uint8)
    offsets, lengths, stamps = np.zeros(4096, np.int64), np.zeros(4096, np.int32), np.zeros(4096, np.int64)
    frames: list[str] = []
    deadline = time.monotonic() + a["seconds"]
    while len(frames) < a["expect"] and time.monotonic() < deadline:
        state[loops.RX_STATE_POS] = 0
        n = loops.rx_into_batch(port.port_id, 0, mbufs, 32, state, buf, offsets, lengths, stamps, 0, 4096, 1, 1000)
        frames += [bytes(buf[offsets[i]:offsets[i] + lengths[i]]).hex() for i in range(n)
                   if is_ours(bytes(buf[offsets[i]:offsets[i] + lengths[i]]), ports)]
        if n == 0:
            time.sleep(0.001)  # 2 shared cores: do not spin the sender off the CPU
    stats = port.stats()
    port.close()
    pool.free()
    eal.cleanup()
    _common.emit({"frames": frames, "driver": info.driver, "ipackets": stats.ipackets})


if __name__ == "__main__":
    main()
