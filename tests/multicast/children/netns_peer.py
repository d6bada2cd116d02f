"""Child run inside a network namespace: ``recv`` joins the multicast groups on the veth and feeds what arrives
(prints READY first, then one JSON result line); ``send`` sends the capture's payloads out of the veth."""
from __future__ import annotations

import json
import struct
import sys
import time

from tickwire.md.mcast_feed import McastFeed
from tickwire.netstack.mcast import ChannelMap, McastSender, McastSocketSource, capture_batches


def payloads(path: str) -> list[bytes]:
    return [bytes(b.buf[o:o + n]) for b in capture_batches(path) for o, n in zip(b.offsets, b.lengths)]


def main() -> None:
    a = json.loads(sys.argv[1])
    channel_map = ChannelMap(port_incremental=a["port"], port_snapshot=a["port"] + 1)
    data = payloads(a["capture"])
    if a["mode"] == "send":
        sender = McastSender(interface=a["ip"])
        try:
            for i, p in enumerate(data):
                sender.send(p, *channel_map.group(struct.unpack_from("<H", p, 2)[0]))
                if i % 25 == 24:
                    time.sleep(0.002)  # the receiver's socket buffers are small (net.core.rmem_max)
        finally:
            sender.close()
        print(json.dumps({"sent": len(data)}), flush=True)
        return
    channels = sorted({struct.unpack_from("<H", p, 2)[0] % 100 for p in data})
    feed = McastFeed(n_slots=128)
    received = 0
    with McastSocketSource(channel_map.endpoints(channels), interface=a["ip"]) as source:
        print("READY", flush=True)
        deadline = time.monotonic() + a["timeout_s"]
        while received < len(data) and time.monotonic() < deadline:
            n = source.poll(timeout_ms=100)
            if n:
                feed.on_batch(source.buf, source.offsets, source.lengths, source.rx_ns, n)
                received += n
    feed.flush()
    print(json.dumps({"received": received, "stats": feed.stats, "synced": sum(map(feed.synced, feed.names)),
                      "instruments": len(feed.names)}), flush=True)


if __name__ == "__main__":
    main()
