"""Shared start-up of the DPDK child processes: arguments in, one EAL, a JSON result line out."""
from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

from tickwire.netstack import _dpdk_loops as loops
from tickwire.netstack.dpdk import Eal, EalConfig, Mempool, Port, dpdk_module, init_eal


def args() -> dict[str, Any]:
    """The JSON object the parent passed as argv[1]."""
    return json.loads(sys.argv[1])


def eal(a: dict[str, Any], vdevs: list[str], **config: Any) -> Eal:
    """Initialise this process's EAL with the parent's file prefix (so the parent can remove its files)."""
    return init_eal(EalConfig(vdevs=tuple(vdevs), file_prefix=a["prefix"], **config))


def emit(obj: Any) -> None:
    """Print the result line the parent parses (the last line of stdout)."""
    print(json.dumps(obj), flush=True)


def io_forward(port: Port, pool: Mempool, burst: int, cycles: int) -> tuple[int, int]:
    """testpmd's ``--tx-first`` io forwarding on a loopback port (net_ring): put one burst of fresh mbufs in,
    forward for ``cycles`` TSC cycles, then take them out again and free them. (packets received, cycles)"""
    lib, ffi = dpdk_module().lib, dpdk_module().ffi
    mbufs = np.zeros(burst, np.uint64)
    handles = ffi.cast("void *", mbufs.ctypes.data)
    if lib.tw_dpdk_mbuf_alloc_bulk(pool.addr, handles, burst) != 0:
        raise RuntimeError("mempool empty")
    if lib.tw_dpdk_tx_burst(port.port_id, 0, handles, burst) != burst:
        raise RuntimeError("the port did not take the first burst")
    try:
        return loops.io_forward_loop(port.port_id, 0, mbufs, burst, cycles)
    finally:
        for _ in range(100):  # drain: a loopback port gives back what it holds
            got = lib.tw_dpdk_rx_burst(port.port_id, 0, handles, burst)
            lib.tw_dpdk_free_bulk(handles, got)
            if got == 0:
                break
