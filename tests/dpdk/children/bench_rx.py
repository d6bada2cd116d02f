"""Benchmark child: one compiled loop on one virtual device for ``seconds``: ``rx`` (rx_burst, touch each packet
at ``touch`` level, free_bulk) or ``io`` (rx_burst and tx_burst back, after one burst put in first). With ``fifo``
the measured loop (not the compile before it) runs at SCHED_FIFO priority 1."""
from __future__ import annotations

import os
import resource

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
    cycles = int(hz * a["seconds"])
    mbufs = np.zeros(32, np.uint64)
    if a["mode"] == "io":
        _common.io_forward(port, pool, 32, int(hz * 0.05))  # compile, warm
    else:
        loops.rx_touch_loop(port.port_id, 0, mbufs, 32, 10_000, int(hz * 0.05), a["touch"])  # compile, warm
    if a["fifo"]:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    switches = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
    if a["mode"] == "io":
        packets, elapsed = _common.io_forward(port, pool, 32, cycles)
    else:
        packets, _, _, elapsed = loops.rx_touch_loop(port.port_id, 0, mbufs, 32, 10**13, cycles, a["touch"])
    switches = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw - switches
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    port.close()
    pool.free()
    eal.cleanup()
    _common.emit({"pps": packets / (elapsed / hz), "cycles_per_packet": elapsed / max(packets, 1),
                  "packets": packets, "preempted": switches, "load": os.getloadavg()[0]})


if __name__ == "__main__":
    main()
