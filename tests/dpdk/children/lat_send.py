"""Open-loop UDP multicast sender for the latency benchmark: `count` datagrams to `group` at `rate`/s on a fixed
schedule (late sends go out at once, none skipped), each stamped with CLOCK_MONOTONIC right before sendto()."""
from __future__ import annotations

import socket
import struct
import time

import _common

from tickwire.native import lib as native


def main() -> None:
    a = _common.args()
    native.tw_set_affinity_mask(1 << int(a["core"]))
    interval = int(1e9 / a["rate"])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(a["src_ip"]))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        dst = (a["group"], a["port"])
        s.sendto(struct.pack("<QQ", 0, 2**62), dst)  # a first datagram outside the measurement
        time.sleep(0.05)
        start = native.tw_monotonic_ns() + 1_000_000
        for i in range(a["count"]):
            target = start + i * interval
            while (now := native.tw_monotonic_ns()) < target:
                if target - now > 200_000:
                    time.sleep((target - now - 100_000) / 1e9)
            s.sendto(struct.pack("<QQ", native.tw_monotonic_ns(), i), dst)
    _common.emit({"sent": a["count"]})


if __name__ == "__main__":
    main()
