"""Benchmark child: the compiled receive loop (rx_burst, touch each packet, free) on one virtual device; with
``three_calls`` the former binding (rx_burst, touch and free_bulk as three C calls per burst)."""
from __future__ import annotations

import _common
import numpy as np

from tickwire import clock
from tickwire.netstack import _dpdk_loops as loops
from tickwire.netstack.dpdk import Mempool, Port


def main() -> None:
    a = _common.args()
    eal = _common.eal(a, [a["vdev"]], cores=a["core"], memory_mb=512)
    pool = Mempool.create("bench", 16383)
    port = Port(0)
    port.setup(pool)
    hz = clock.tsc_hz()
    mbufs = np.zeros(32, np.uint64)
    three = bool(a.get("three_calls"))
    loops.rx_touch_loop(port.port_id, 0, mbufs, 32, 10_000, int(hz * 0.05), a["read_data"], three)  # compile, warm
    packets, bursts, _, cycles = loops.rx_touch_loop(port.port_id, 0, mbufs, 32, 10**13, int(hz * a["seconds"]),
                                                     a["read_data"], three)
    port.close()
    pool.free()
    eal.cleanup()
    _common.emit({"pps": packets / (cycles / hz), "cycles_per_packet": cycles / max(packets, 1),
                  "packets": packets, "bursts": bursts})


if __name__ == "__main__":
    main()
