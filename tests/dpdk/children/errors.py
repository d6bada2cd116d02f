"""Failure modes a user can act on, one per process (a failed EAL init cannot be retried in the same process)."""
from __future__ import annotations

import errno

import _common
import numpy as np

from tickwire.netstack import _dpdk_loops
from tickwire.netstack.dpdk import DpdkError, Mempool, Port


def caught(fn) -> dict:
    try:
        fn()
    except (DpdkError, ValueError) as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    return {"error": None, "message": ""}


def main() -> None:
    a = _common.args()
    mode = a["mode"]
    if mode == "hugepages":  # hugepages requested on a host that has none
        _common.emit(caught(lambda: _common.eal(a, ["net_null0"], no_huge=False)))
    elif mode == "bad_vdev":
        _common.emit(caught(lambda: _common.eal(a, ["net_nosuchdriver0"])))
    elif mode == "ports":
        eal = _common.eal(a, ["net_null0"], memory_mb=64)
        pool = Mempool.create("small", 1023, data_room=2048 + 128)
        port = Port.by_name("net_null0")
        port.setup(pool, mtu=1400)
        mtu_set = port.mtu
        promisc_off = caught(lambda: setattr(port, "promiscuous", False))  # net_null cannot leave it
        big = np.zeros(4000, np.uint8)
        scratch = np.zeros(1, np.uint64)
        result = {
            "no_name": caught(lambda: Port.by_name("net_pcap9")),
            "no_id": caught(lambda: Port(31)),
            "pool_too_big": caught(lambda: Mempool.create("huge", 2**22 - 1, data_room=9216)),
            "mtu_range": caught(lambda: setattr(port, "mtu", 10)),
            "tx_oversize": int(_dpdk_loops.tx_batch(port.port_id, 0, pool.addr, big, np.zeros(1, np.int64),
                                                    np.array([4000], np.int32), 0, 1, scratch, 1)),
            "emsgsize": errno.EMSGSIZE,
            "mtu_set": mtu_set, "promisc_off": promisc_off,
            "attach_bad": caught(lambda: Port.attach("net_nosuchdriver9,x=1")),
            "eal_twice": caught(lambda: _common.eal(a, ["net_null1"])),
        }
        hot = Port.attach("net_null5,size=128")
        hot.setup(pool)
        result["attached"] = hot.info().name
        hot.detach()
        result["after_detach"] = caught(lambda: Port.by_name("net_null5"))
        port.close()
        pool.free()
        eal.cleanup()
        _common.emit(result)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
