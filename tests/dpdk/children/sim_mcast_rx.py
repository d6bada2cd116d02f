"""The simulator's multicast SBE feed received through DPDK (net_af_packet on a veth) into the multicast feed
handler: frames -> udp_payloads -> McastFeed. Prints READY once receiving, then the feed's stats and books."""
from __future__ import annotations

import time

import _common

from tickwire.md.mcast_feed import McastFeed
from tickwire.netstack.dpdk import BatchReceiver, Mempool, Port
from tickwire.netstack.mcast import udp_payloads


def main() -> None:
    a = _common.args()
    # a deep ring (4096 frames): a busy 2-core host can keep this process off the CPU for a while
    eal = _common.eal(a, [f"net_af_packet0,iface={a['iface']},qpairs=1,framecnt=4096"])
    pool = Mempool.create("simmc", 4095)
    port = Port.by_name("net_af_packet0")
    port.setup(pool)
    port.wait_link_up(5)
    rx = BatchReceiver(port, max_packets=1024, buf_bytes=1 << 21)
    feed = McastFeed(n_slots=64)
    rx.fill()  # compile before READY
    print("READY", flush=True)
    frames = payloads = 0
    deadline = time.monotonic() + a["start_timeout"]  # until the simulator's first datagram, then `seconds`
    while time.monotonic() < deadline and payloads < a["expect"]:
        n = rx.fill(max_idle_polls=1000)
        if n == 0:
            time.sleep(0.001)  # shared cores: leave the simulator room
            continue
        frames += n
        batch = udp_payloads(rx.buf, rx.offsets[:n], rx.lengths[:n], rx.stamps[:n])
        if payloads == 0 and len(batch):
            deadline = time.monotonic() + a["seconds"]
        payloads += len(batch)
        feed.on_batch(batch.buf, batch.offsets, batch.lengths, batch.rx_ns, len(batch))
    feed.flush()
    stats = port.stats()
    rx.release()
    port.close()
    pool.free()
    eal.cleanup()
    _common.emit({"frames": frames, "payloads": payloads, "stats": feed.stats, "imissed": stats.imissed,
                  "books": {name: feed.books.summary(slot) for slot, name in feed.names.items()}})


if __name__ == "__main__":
    main()
