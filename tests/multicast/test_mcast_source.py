"""Kernel UDP multicast source on loopback: the real capture sent to Deribit's groups, received, fed, compared."""
from __future__ import annotations

import socket
import struct
import threading
import time

import numpy as np

from mcast_ports import loopback_channel_map
from tickwire.md.mcast_feed import McastFeed
from tickwire.native import lib
from tickwire.netstack.mcast import ChannelMap, McastSender, McastSocketSource

SO_BUSY_POLL = 46


def channel_of(payload: bytes) -> int:
    return struct.unpack_from("<H", payload, 2)[0]


def replay_over_multicast(payloads: list[bytes], channel_map: ChannelMap, feed: McastFeed,
                          window: int = 200, timeout_s: float = 30.0) -> int:
    """Send payloads to their channel's group on lo from a thread, at most ``window`` ahead of the receiver
    (the kernel's socket buffers are small); receive with McastSocketSource into the feed. Returns received."""
    channels = sorted({channel_of(p) % 100 for p in payloads})
    received = 0
    with McastSocketSource(channel_map.endpoints(channels)) as source:
        def send() -> None:
            sender = McastSender()
            try:
                for i, p in enumerate(payloads):
                    deadline = time.monotonic() + timeout_s
                    while i - received > window and time.monotonic() < deadline:
                        time.sleep(0.0005)
                    sender.send(p, *channel_map.group(channel_of(p)))
            finally:
                sender.close()

        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout_s
        while received < len(payloads) and time.monotonic() < deadline:
            n = source.poll(timeout_ms=50)
            if n:
                feed.on_batch(source.buf, source.offsets, source.lengths, source.rx_ns, n)
                received += n
        thread.join(timeout_s)
    feed.flush()
    return received


def _pcap_feed(capture) -> McastFeed:
    feed = McastFeed(n_slots=128)
    buf, offsets, lengths, rx_ns = capture.batch()
    feed.on_batch(buf, offsets, lengths, rx_ns, len(lengths))
    feed.flush()
    return feed


def test_capture_sent_in_order_on_loopback_multicast_equals_reading_the_file(capture) -> None:
    """One datagram at a time (send, receive, feed): the socket path must give exactly the file path's result."""
    channel_map = loopback_channel_map()
    channels = sorted({channel_of(p) % 100 for p in capture.data})
    feed = McastFeed(n_slots=128)
    sender = McastSender()
    try:
        with McastSocketSource(channel_map.endpoints(channels)) as source:
            for p in capture.data:
                sender.send(p, *channel_map.group(channel_of(p)))
                n = source.poll(timeout_ms=1000)
                assert n == 1 and bytes(source.buf[:source.lengths[0]]) == p
                feed.on_batch(source.buf, source.offsets, source.lengths, source.rx_ns, n)
    finally:
        sender.close()
    feed.flush()
    reference = _pcap_feed(capture)
    assert feed.stats == reference.stats
    assert feed.names == reference.names
    for slot in feed.names:
        assert feed.books.summary(slot) == reference.books.summary(slot)


def test_capture_streamed_on_loopback_multicast_builds_every_book(capture) -> None:
    """Streamed from a thread (up to 200 datagrams in flight over 44 sockets): nothing lost, every book synced."""
    channel_map = loopback_channel_map()
    feed = McastFeed(n_slots=128)
    assert replay_over_multicast(capture.data, channel_map, feed) == len(capture.data)
    s = feed.stats
    assert s["packets"] == len(capture.data) and s["gaps"] == s["duplicates"] == s["reordered"] == 0
    assert s["decode_messages"] == 6780 and s["trades"] == 421 and s["book_gaps"] == 0
    assert sorted(feed.names.values()) == sorted(_pcap_feed(capture).names.values())
    assert all(feed.synced(slot) for slot in feed.names)


def test_only_joined_groups_are_received_and_busy_poll_is_set() -> None:
    channel_map = loopback_channel_map()
    with McastSocketSource(channel_map.endpoints([3], snapshots=False), busy_poll_us=50) as source:
        if source.busy_poll:
            assert lib.tw_get_sockopt_int(int(source.fds[0]), socket.SOL_SOCKET, SO_BUSY_POLL) == 50
        sender = McastSender()
        try:
            sender.send(b"not joined", *channel_map.group(4))
            sender.send(b"joined", *channel_map.group(3))
            sender.send(b"snapshot port, not joined", *channel_map.group(103))
        finally:
            sender.close()
        got: list[bytes] = []
        deadline = time.monotonic() + 30  # generous: a busy machine is slow
        while not got and time.monotonic() < deadline:
            n = source.poll(timeout_ms=50)
            got += [bytes(source.buf[source.offsets[i]:source.offsets[i] + source.lengths[i]]) for i in range(n)]
        time.sleep(0.05)
        n = source.poll(timeout_ms=0)
        got += [bytes(source.buf[source.offsets[i]:source.offsets[i] + source.lengths[i]]) for i in range(n)]
        assert got == [b"joined"]
        assert np.all(source.rx_ns[:1] > 0)


def test_capture_batches_match_an_independent_pcapng_reader(capture) -> None:
    """Our pcap + packet parse path yields exactly dpkt's UDP payloads and times."""
    from _mcast_capture import CAPTURE

    from tickwire.netstack.mcast import capture_batches

    payloads, times = [], []
    for batch in capture_batches(CAPTURE, size=1000):
        assert batch.skipped == 0
        payloads += [bytes(batch.buf[o:o + n]) for o, n in zip(batch.offsets, batch.lengths)]
        times += batch.rx_ns.tolist()
    assert payloads == capture.data
    assert max(abs(a - b) for a, b in zip(times, capture.ts_ns)) < 1000
