"""DPDK child: BatchReceiver -> udp_payloads -> McastFeed (net_pcap replaying a capture, or net_af_packet on a
veth); prints the result as one JSON line."""
from __future__ import annotations

import json
import sys
import time

from tickwire.md.mcast_feed import McastFeed
from tickwire.netstack.dpdk import BatchReceiver, EalConfig, Mempool, Port, init_eal
from tickwire.netstack.mcast import udp_payloads


def main() -> None:
    """mode "pcap" (default): net_pcap plays a capture file; "af_packet": receive on a veth until ``expect``."""
    a = json.loads(sys.argv[1])
    af_packet = a.get("mode") == "af_packet"
    vdev = (f"net_af_packet0,iface={a['iface']},qpairs=1,framecnt=8192" if af_packet  # room while the sender runs
            else f"net_pcap0,rx_pcap={a['capture']}")
    eal = init_eal(EalConfig(vdevs=(vdev,), file_prefix=a["prefix"]))
    pool = Mempool.create("mcast", 8191)
    port = Port.by_name(vdev.split(",", 1)[0])
    port.setup(pool)
    rx = BatchReceiver(port, max_packets=512, buf_bytes=1 << 20)
    feed = McastFeed(n_slots=128)
    frames = received = idle = 0
    if af_packet:
        rx.fill(max_idle_polls=1)  # compile the receive loop before the sender starts
        print("READY", flush=True)
    deadline = time.monotonic() + a.get("timeout_s", 60)
    while time.monotonic() < deadline:
        n = rx.fill(max_idle_polls=20)
        if n == 0:
            idle += 1
            if (not af_packet and idle >= 50) or (af_packet and received >= a["expect"]):
                break  # net_pcap: end of the file; af_packet: everything arrived
            continue
        idle = 0
        frames += n
        batch = udp_payloads(rx.buf, rx.offsets[:n], rx.lengths[:n], rx.stamps[:n])
        feed.on_batch(batch.buf, batch.offsets, batch.lengths, batch.rx_ns, len(batch))
        received += len(batch)
    feed.flush()
    rx.release()
    port.close()
    pool.free()
    eal.cleanup()
    print(json.dumps({"frames": frames, "received": received, "stats": feed.stats,
                      "synced": sum(map(feed.synced, feed.names)), "instruments": len(feed.names),
                      "books": {name: feed.books.summary(slot) for slot, name in feed.names.items()}}), flush=True)


if __name__ == "__main__":
    main()
