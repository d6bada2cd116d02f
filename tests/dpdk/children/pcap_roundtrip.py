"""net_pcap: receive a capture through DPDK into packet batches (compiled and reference twin), send it back out.

net_pcap0 reads in_pcap and writes out_pcap; net_pcap1 reads the same file for the plain-Python twin.
"""
from __future__ import annotations

import hashlib

import _common
import numpy as np

from tickwire import clock
from tickwire.netstack import _dpdk_loops as loops
from tickwire.netstack.dpdk import BatchReceiver, Mempool, Port


def receive_all(fn, port: Port, buf_size: int, max_pkts: int) -> tuple[list[bytes], list[int], np.ndarray]:
    mbufs = np.zeros(32, np.uint64)
    state = loops.new_rx_state()
    buf = np.zeros(buf_size, np.uint8)
    offsets, lengths, stamps = np.zeros(max_pkts, np.int64), np.zeros(max_pkts, np.int32), np.zeros(max_pkts, np.int64)
    frames: list[bytes] = []
    times: list[int] = []
    for _ in range(100_000):
        state[loops.RX_STATE_POS] = 0
        n = fn(port.port_id, 0, mbufs, 32, state, buf, offsets, lengths, stamps, 0, max_pkts, 1000, 20)
        frames += [bytes(buf[offsets[i]:offsets[i] + lengths[i]]) for i in range(n)]
        times += stamps[:n].tolist()
        if n == 0:
            break
    return frames, times, state


def main() -> None:
    a = _common.args()
    eal = _common.eal(a, [f"net_pcap0,rx_pcap={a['in_pcap']},tx_pcap={a['out_pcap']}",
                          f"net_pcap1,rx_pcap={a['in_pcap']}", f"net_pcap2,rx_pcap={a['in_pcap']}",
                          f"net_pcap3,rx_pcap={a['in_pcap']}", f"net_pcap4,rx_pcap={a['in_pcap']}"])
    pool = Mempool.create("roundtrip", 8191)
    main_port, twin_port = Port.by_name("net_pcap0"), Port.by_name("net_pcap1")
    for port in (main_port, twin_port):
        port.setup(pool)
    frames, times, state = receive_all(loops.rx_into_batch, main_port, a["buf_size"], a["max_pkts"])
    twin_frames, twin_times, twin_state = receive_all(loops.rx_into_batch_reference, twin_port, a["buf_size"],
                                                      a["max_pkts"])
    # the Python-facing BatchReceiver over the same file gives the same frames
    receiver = BatchReceiver(Port.by_name("net_pcap2"), max_packets=a["max_pkts"], buf_bytes=a["buf_size"])
    receiver.port.setup(pool)
    via_receiver: list[bytes] = []
    while n := receiver.fill(max_idle_polls=20):
        via_receiver += [bytes(receiver.buf[o:o + ln]) for o, ln in zip(receiver.offsets[:n], receiver.lengths[:n])]
    receiver.port.close()
    # the benchmark loop's per-packet touch: lengths only, then lengths + first bytes (checked by the test)
    touch = {}
    for name, level in (("net_pcap3", loops.TOUCH_LEN), ("net_pcap4", loops.TOUCH_DATA)):
        port = Port.by_name(name)
        port.setup(pool)
        packets, _, acc, _ = loops.rx_touch_loop(port.port_id, 0, np.zeros(32, np.uint64), 32, 10**9,
                                                 int(clock.tsc_hz() * 0.3), level)
        touch[name] = [int(packets), int(acc)]
        port.close()
    # send everything back out through tx_burst, in batches built the same way
    blob = np.frombuffer(b"".join(frames), np.uint8)
    lengths = np.array([len(f) for f in frames], np.int32)
    offsets = np.concatenate(([0], np.cumsum(lengths[:-1], dtype=np.int64))).astype(np.int64)
    scratch = np.zeros(32, np.uint64)
    sent = loops.tx_batch(main_port.port_id, 0, pool.addr, blob, offsets, lengths, 0, len(frames), scratch, 32)
    stats = main_port.stats()
    main_port.close()
    twin_port.close()
    in_use = pool.in_use
    pool.free()
    eal.cleanup()
    _common.emit({
        "received": len(frames), "sha256": hashlib.sha256(b"".join(frames)).hexdigest(),
        "stamps": times, "twin_equal": frames == twin_frames and times == twin_times,
        "receiver_equal": via_receiver == frames, "touch": touch,
        "state": state.tolist(), "twin_state": twin_state.tolist(), "sent": int(sent),
        "ipackets": stats.ipackets, "opackets": stats.opackets, "in_use_after_close": in_use,
    })


if __name__ == "__main__":
    main()
