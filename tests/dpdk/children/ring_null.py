"""net_ring (loopback: what a port transmits it receives) and net_null: correctness, then throughput loops."""
from __future__ import annotations

import _common
import numpy as np

from tickwire import clock
from tickwire.netstack import _dpdk_loops as loops
from tickwire.netstack.dpdk import Mempool, Port


def main() -> None:
    a = _common.args()
    eal = _common.eal(a, ["net_ring0", "net_null0"])
    pool = Mempool.create("ringnull", 8191)
    ring, null = Port.by_name("net_ring0"), Port.by_name("net_null0")
    ring.setup(pool)
    null.setup(pool)
    # loopback correctness: frames of every size 60..1514 sent through tx_burst come back identical
    rng = np.random.default_rng(a["seed"])
    lengths = rng.integers(60, 1515, a["frames"]).astype(np.int32)
    offsets = np.concatenate(([0], np.cumsum(lengths[:-1]))).astype(np.int64)
    blob = rng.integers(0, 256, int(lengths.sum())).astype(np.uint8)
    scratch = np.zeros(32, np.uint64)
    buf = np.zeros(blob.size, np.uint8)
    got_off, got_len, stamps = (np.zeros(a["frames"], t) for t in (np.int64, np.int32, np.int64))
    state = loops.new_rx_state()
    sent = received = 0
    while sent < a["frames"]:  # the ring holds 1024 descriptors: send and drain in slices
        k = loops.tx_batch(ring.port_id, 0, pool.addr, blob, offsets, lengths, sent, min(512, a["frames"] - sent),
                           scratch, 32)
        assert k > 0, k
        sent += k
        received = loops.rx_into_batch(ring.port_id, 0, scratch, 32, state, buf, got_off, got_len, stamps,
                                       received, a["frames"], 1, 3)
    identical = received == sent and bool(np.array_equal(buf, blob)) and bool(np.array_equal(got_len, lengths))
    hz = clock.tsc_hz()
    cycles = int(hz * a["seconds"])
    mbufs = np.zeros(32, np.uint64)
    loops.rx_touch_loop(null.port_id, 0, mbufs, 32, 1000, cycles, loops.TOUCH_DATA)  # compile
    null_pkts, _, _, null_cyc = loops.rx_touch_loop(null.port_id, 0, mbufs, 32, 10**12, cycles,
                                                   loops.TOUCH_DATA)
    ring_pkts, ring_cyc = _common.io_forward(ring, pool, 32, cycles)
    ring.close()
    null.close()
    in_use = pool.in_use
    pool.free()
    eal.cleanup()
    _common.emit({"sent": int(sent), "received": int(received), "identical": identical,
                  "null_pps": null_pkts / (null_cyc / hz), "null_cycles_per_packet": null_cyc / max(null_pkts, 1),
                  "ring_pps": ring_pkts / (ring_cyc / hz), "in_use_after_close": in_use})


if __name__ == "__main__":
    main()
