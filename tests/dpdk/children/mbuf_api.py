"""The per-mbuf shims called from @njit code: alloc+copy, tx_burst/rx_burst through net_ring, data pointer
(uint8_t* indexed directly, and an address viewed with numba.carray), lengths, free; and a jumbo frame from
net_pcap arriving as a chain of segments, copied out whole."""
from __future__ import annotations

import _common
import numba
import numpy as np
from numba import njit

from tickwire.netstack import _dpdk_loops as loops
from tickwire.netstack.dpdk import Mempool, Port, dpdk_module

lib = dpdk_module().lib


@njit
def bounce(port: int, pool: int, frame: np.ndarray, out: np.ndarray) -> tuple[int, int, int, int, int]:
    """Copy `frame` into an mbuf, send it through the ring, receive it, read it two ways. Returns
    (sent, received, pkt_len, nb_segs, first byte via uint8_t*); out receives the bytes via carray."""
    handles = np.zeros(4, np.uint64)
    handles[0] = lib.tw_dpdk_tx_mbuf_copy(pool, frame.ctypes.data, frame.size)
    sent = lib.tw_dpdk_tx_burst(port, 0, handles.ctypes.data, 1)
    got = lib.tw_dpdk_rx_burst(port, 0, handles.ctypes.data, 4)
    m = handles[0]
    length = lib.tw_dpdk_mbuf_pkt_len(m)
    first = lib.tw_dpdk_mbuf_mtod(m)[0]
    view = numba.carray(lib.tw_dpdk_mbuf_mtod(m), (lib.tw_dpdk_mbuf_data_len(m),))
    out[: view.size] = view
    segs = lib.tw_dpdk_mbuf_nb_segs(m)
    lib.tw_dpdk_mbuf_free(m)
    return sent, got, length, segs, first


def main() -> None:
    a = _common.args()
    eal = _common.eal(a, ["net_ring0", f"net_pcap0,rx_pcap={a['jumbo_pcap']}"])
    pool = Mempool.create("api", 2047)
    ring, pcap = Port.by_name("net_ring0"), Port.by_name("net_pcap0")
    ring.setup(pool)
    pcap.setup(pool)
    frame = np.frombuffer(bytes.fromhex(a["frame"]), np.uint8).copy()
    out = np.zeros(frame.size, np.uint8)
    avail_before = pool.available
    sent, got, length, segs, first = bounce(ring.port_id, pool.addr, frame, out)
    # the jumbo frame: larger than one mbuf, so net_pcap chains segments; rx_into_batch copies all of them
    state, buf = loops.new_rx_state(), np.zeros(1 << 16, np.uint8)
    offsets, lengths, stamps = np.zeros(8, np.int64), np.zeros(8, np.int32), np.zeros(8, np.int64)
    n = loops.rx_into_batch(pcap.port_id, 0, np.zeros(32, np.uint64), 32, state, buf, offsets, lengths, stamps,
                            0, 8, 1000, 20)
    result = {"sent": int(sent), "received": int(got), "pkt_len": int(length), "nb_segs": int(segs),
              "first_byte": int(first), "bytes_equal": bool(np.array_equal(out, frame)),
              "pool_restored": pool.available == avail_before, "data_room": pool.data_room,
              "jumbo": [bytes(buf[offsets[i]:offsets[i] + lengths[i]]).hex() for i in range(n)]}
    ring.close()
    pcap.close()
    pool.free()
    eal.cleanup()
    _common.emit(result)


if __name__ == "__main__":
    main()
