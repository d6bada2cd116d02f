"""DPDK child: net_pcap replays a capture into BatchReceiver -> udp_payloads -> McastFeed; prints the result."""
from __future__ import annotations

import json
import sys

from tickwire.engine.mcast_feed import McastFeed
from tickwire.netstack.dpdk import EalConfig, Mempool, Port, init_eal
from tickwire.netstack.dpdk import BatchReceiver
from tickwire.netstack.mcast import udp_payloads


def main() -> None:
    a = json.loads(sys.argv[1])
    eal = init_eal(EalConfig(vdevs=(f"net_pcap0,rx_pcap={a['capture']}",), file_prefix=a["prefix"]))
    pool = Mempool.create("mcast", 8191)
    port = Port.by_name("net_pcap0")
    port.setup(pool)
    rx = BatchReceiver(port, max_packets=512, buf_bytes=1 << 20)
    feed = McastFeed(n_slots=128)
    frames = 0
    idle = 0
    while idle < 50:  # net_pcap stops delivering at the end of the file
        n = rx.fill(max_idle_polls=20)
        if n == 0:
            idle += 1
            continue
        idle = 0
        frames += n
        batch = udp_payloads(rx.buf, rx.offsets[:n], rx.lengths[:n], rx.stamps[:n])
        feed.on_batch(batch.buf, batch.offsets, batch.lengths, batch.rx_ns, len(batch))
    feed.flush()
    rx.release()
    port.close()
    pool.free()
    eal.cleanup()
    print(json.dumps({"frames": frames, "stats": feed.stats,
                      "books": {name: feed.books.summary(slot) for slot, name in feed.names.items()}}), flush=True)


if __name__ == "__main__":
    main()
