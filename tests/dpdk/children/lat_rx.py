"""Latency receiver on the rx end of a veth, spinning: mode "dpdk" (net_af_packet -> rx_into_batch, the DPDK
source) or "kernel" (the multicast feed's kernel-socket source: a socket joined to the group, read by
netstack.mcast.recv_into_batch). Each datagram carries the sender's CLOCK_MONOTONIC stamp and its sequence
number (little-endian u64 each); the result per packet is receive time - stamp, once it is in our batch."""
from __future__ import annotations

import time

import _common
import numpy as np
from numba import njit

from tickwire.native import lib as native
from tickwire.netstack import _dpdk_loops as loops
from tickwire.netstack.mcast import McastSocketSource, recv_into_batch

UDP_PAYLOAD = 42  # Ethernet 14 + IPv4 20 + UDP 8


@njit
def _u64(buf: np.ndarray, at: int) -> int:
    v = 0
    for i in range(8):
        v |= np.int64(buf[at + i]) << (8 * i)
    return v


@njit
def dpdk_loop(port, mbufs, state, buf, offsets, lengths, stamps, lat, seqs, udp_port, deadline_ns):
    got = 0
    while got < lat.size:
        state[1] = 0
        n = loops.rx_into_batch(port, 0, mbufs, 32, state, buf, offsets, lengths, stamps, 0, 32, 1, 1)
        now = native.tw_monotonic_ns()
        for i in range(n):
            o = offsets[i]
            if (lengths[i] >= UDP_PAYLOAD + 16 and buf[o + 12] == 8 and buf[o + 13] == 0 and buf[o + 23] == 17
                    and (np.int64(buf[o + 36]) << 8 | buf[o + 37]) == udp_port and got < lat.size):
                lat[got] = now - _u64(buf, o + UDP_PAYLOAD)
                seqs[got] = _u64(buf, o + UDP_PAYLOAD + 8)
                got += 1
        if n == 0 and now > deadline_ns:
            break
    return got


@njit
def kernel_loop(fds, buf, offsets, lengths, rx_ns, lat, seqs, deadline_ns):
    got = 0
    while got < lat.size:
        offsets[0] = 0
        n = recv_into_batch(fds, buf, offsets, lengths, rx_ns, 0, 32, 1)
        now = native.tw_monotonic_ns()
        for i in range(n):
            if lengths[i] >= 16 and got < lat.size:
                lat[got] = now - _u64(buf, offsets[i])
                seqs[got] = _u64(buf, offsets[i] + 8)
                got += 1
        if n == 0 and now > deadline_ns:
            break
    return got


def main() -> None:
    a = _common.args()
    lat, seqs = np.zeros(a["count"], np.int64), np.zeros(a["count"], np.int64)
    if a["mode"] == "dpdk":
        from tickwire.netstack.dpdk import Mempool, Port

        eal = _common.eal(a, [f"net_af_packet0,iface={a['iface']},qpairs=1,framecnt=4096"], cores=a["core"])
        pool = Mempool.create("lat", 4095)
        port = Port.by_name("net_af_packet0")
        port.setup(pool)
        port.wait_link_up(5)
        mbufs, state, buf = np.zeros(32, np.uint64), loops.new_rx_state(), np.zeros(1 << 16, np.uint8)
        offsets, lengths, stamps = np.zeros(32, np.int64), np.zeros(32, np.int32), np.zeros(32, np.int64)
        args = (port.port_id, mbufs, state, buf, offsets, lengths, stamps)
        dpdk_loop(*args, lat[:0], seqs[:0], a["port"], 0)  # compile before READY
        print("READY", flush=True)
        got = dpdk_loop(*args, lat, seqs, a["port"], time.monotonic_ns() + int(a["seconds"] * 1e9))
        port.close()
        pool.free()
        eal.cleanup()
    else:
        native.tw_set_affinity_mask(1 << int(a["core"]))
        with McastSocketSource([(a["group"], a["port"])], interface=a["ip"], busy_poll_us=0) as src:
            args = (src.fds, src.buf, src.offsets, src.lengths, src.rx_ns)
            kernel_loop(*args, lat[:0], seqs[:0], 0)
            print("READY", flush=True)
            got = kernel_loop(*args, lat, seqs, time.monotonic_ns() + int(a["seconds"] * 1e9))
    _common.emit({"latency_ns": lat[:got].tolist(), "seq": seqs[:got].tolist()})


if __name__ == "__main__":
    main()
