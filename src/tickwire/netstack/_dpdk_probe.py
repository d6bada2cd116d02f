"""``python -m tickwire.netstack._dpdk_probe [--no-huge] [--prefix=P]``: can this host run a DPDK EAL?

Prints one JSON line.

Run in a subprocess (one EAL per process): initialises the EAL on a net_null vdev (hugepages when reserved, else
--no-huge), starts the port, receives one burst, cleans up. Exit status 0 when usable.
"""
from __future__ import annotations

import json
import os
import sys


def probe(no_huge: bool, prefix: str) -> dict[str, object]:
    """Initialise, receive from net_null0, tear down; the result says what worked or the error text."""
    import numpy as np

    from tickwire.netstack.dpdk import DpdkError, EalConfig, Mempool, Port, dpdk_module, init_eal, version

    result: dict[str, object] = {"no_huge": no_huge}
    try:
        result["version"] = version()
        eal = init_eal(EalConfig(vdevs=("net_null0",), no_huge=no_huge, no_shconf=True,
                                 file_prefix=prefix, memory_mb=128))
        pool = Mempool.create("probe", 1023)
        port = Port.by_name("net_null0")
        port.setup(pool)
        mod = dpdk_module()
        mbufs = np.zeros(32, np.uint64)
        got = mod.lib.tw_dpdk_rx_burst(port.port_id, 0, mod.ffi.cast("void *", mbufs.ctypes.data), 32)
        mod.lib.tw_dpdk_free_bulk(mod.ffi.cast("void *", mbufs.ctypes.data), got)
        port.close()
        pool.free()
        eal.cleanup()
        result.update(ok=got > 0, received=int(got))
    except DpdkError as exc:
        result.update(ok=False, error=str(exc))
    return result


def main() -> int:
    args = sys.argv[1:]
    prefix = next((a.split("=", 1)[1] for a in args if a.startswith("--prefix=")), f"twprobe-{os.getpid()}")
    result = probe("--no-huge" in args, prefix)
    print(json.dumps(result), flush=True)
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
