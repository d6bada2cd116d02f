"""Kernel UDP multicast source: sockets joined to Deribit's multicast groups, datagrams into a preallocated batch.

Deribit publishes incremental channel N on ``239.111.111.N:6100`` and its snapshot channel (channelId 100+N) on
``239.111.111.N:6101`` (:class:`ChannelMap`; ports and prefix are configurable for tests and the simulator).
:class:`McastSocketSource` opens one non-blocking socket per group:port, bound to the group address (so it only
gets that group), joined on one interface, with ``SO_BUSY_POLL`` set. :meth:`McastSocketSource.poll` drains every
socket with a compiled loop (``tw_recv`` through cffi, no Python per datagram) into ``buf/offsets/lengths/rx_ns``,
the batch layout :class:`tickwire.md.mcast_feed.McastFeed.on_batch` takes. When nothing is ready it blocks in
epoll for at most ``timeout_ms`` (the "spin, then block" pattern; ``spin_polls`` bounds the spinning).

The two other sources give link-layer frames (a pcap/pcapng file, a DPDK port): :func:`udp_payloads` parses them
(:mod:`tickwire.netstack.packet`) and keeps the multicast UDP payloads, in place, as the same batch layout;
:func:`capture_batches` does it for a capture file.
"""
from __future__ import annotations

import os
import selectors
import socket
from dataclasses import dataclass
from typing import Iterable, Iterator, NamedTuple

import numpy as np
from numba import njit

from tickwire import types as T
from tickwire.native import lib
from tickwire.netstack.packet import new_packets, parse_packets
from tickwire.netstack.pcap import read_capture

MAX_DATAGRAM = 65536  # room kept free in the batch buffer before each recv (a datagram is never cut)
EAGAIN = 11


@dataclass(frozen=True)
class ChannelMap:
    """Where each channel is published: group ``prefix + N``, incremental port, snapshot port."""

    prefix: str = T.SBE_GROUP_PREFIX
    port_incremental: int = T.SBE_PORT_INCREMENTAL
    port_snapshot: int = T.SBE_PORT_SNAPSHOT

    def group(self, channel: int) -> tuple[str, int]:
        """(group address, port) of a channelId (N: incremental, 100 + N: its snapshot channel)."""
        if channel >= T.SBE_SNAPSHOT_CHANNEL_OFFSET:
            return f"{self.prefix}{channel - T.SBE_SNAPSHOT_CHANNEL_OFFSET}", self.port_snapshot
        return f"{self.prefix}{channel}", self.port_incremental

    def endpoints(self, channels: Iterable[int], snapshots: bool = True) -> list[tuple[str, int]]:
        """Group:port of incremental channels N and of their snapshot channels 100 + N, snapshot channels first:
        a source drains its sockets in this order, and a snapshot handled before the incremental packets queued
        beside it is always safe (those are either older, skipped, or its continuation)."""
        channels = list(channels)
        out = [self.group(n + T.SBE_SNAPSHOT_CHANNEL_OFFSET) for n in channels] if snapshots else []
        return out + [self.group(n) for n in channels]


@njit
def recv_into_batch(fds, buf, offsets, lengths, rx_ns, first, max_pkts, max_idle_rounds):  # noqa: ANN001, ANN201
    """Receive datagrams from every fd (round robin) into batch slots ``first..``; returns the next free slot.

    Stops when the batch or ``buf`` is full or after ``max_idle_rounds`` rounds in a row where no fd had data.
    ``offsets[first]`` must hold the first free byte (0 for a new batch). Stamps are CLOCK_REALTIME ns.
    """
    i = first
    pos = offsets[first] if first < len(offsets) else len(buf)
    idle = 0
    base = buf.ctypes.data
    while i < max_pkts and idle < max_idle_rounds:
        got = False
        for k in range(len(fds)):
            while i < max_pkts and pos + MAX_DATAGRAM <= len(buf):
                n = lib.tw_recv(fds[k], base + pos, MAX_DATAGRAM)
                if n < 0:
                    break  # -EAGAIN: this socket is empty (other errors: the next poll reports them again)
                offsets[i] = pos
                lengths[i] = n
                rx_ns[i] = lib.tw_realtime_ns()
                pos += n
                i += 1
                got = True
        if i >= max_pkts or pos + MAX_DATAGRAM > len(buf):
            break
        idle = 0 if got else idle + 1
    if i < len(offsets):
        offsets[i] = pos
    return i


class McastSocketSource:
    """UDP sockets joined to multicast groups on one interface; :meth:`poll` fills a batch of datagrams."""

    def __init__(self, endpoints: Iterable[tuple[str, int]], interface: str = "127.0.0.1", busy_poll_us: int = 50,
                 rcvbuf: int = 4 << 20, max_pkts: int = 4096, buf_size: int = 8 << 20) -> None:
        self.interface = interface
        self.sockets: list[socket.socket] = []
        self.busy_poll = True
        try:
            for group, port in endpoints:
                self.sockets.append(self._open(group, port, interface, busy_poll_us, rcvbuf))
        except BaseException:
            self.close()
            raise
        self.fds = np.array([s.fileno() for s in self.sockets], np.int32)
        self.buf = np.zeros(max(buf_size, 2 * MAX_DATAGRAM), np.uint8)
        self.offsets = np.zeros(max_pkts + 1, np.int64)
        self.lengths = np.zeros(max_pkts, np.int64)
        self.rx_ns = np.zeros(max_pkts, np.int64)
        self._selector = selectors.EpollSelector()
        for s in self.sockets:
            self._selector.register(s, selectors.EVENT_READ)

    def _open(self, group: str, port: int, interface: str, busy_poll_us: int, rcvbuf: int) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((group, port))  # bound to the group: this socket only gets that group's datagrams
            s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                         socket.inet_aton(group) + socket.inet_aton(interface))
            s.setblocking(False)
            lib.tw_set_rcvbuf(s.fileno(), rcvbuf)
            if busy_poll_us > 0 and lib.tw_set_busy_poll(s.fileno(), busy_poll_us) != 0:
                self.busy_poll = False  # needs CAP_NET_ADMIN to raise above net.core.busy_poll: run without
        except BaseException:
            s.close()
            raise
        return s

    def poll(self, timeout_ms: int = 100, spin_polls: int = 64) -> int:
        """Receive what is ready (waiting up to ``timeout_ms`` when nothing is); returns the datagrams in the
        batch ``buf[offsets[i]:offsets[i]+lengths[i]]``, ``rx_ns[i]``, valid until the next poll."""
        self.offsets[0] = 0
        n = recv_into_batch(self.fds, self.buf, self.offsets, self.lengths, self.rx_ns, 0, len(self.lengths),
                            spin_polls)
        if n == 0 and timeout_ms > 0 and self._selector.select(timeout_ms / 1000):
            n = recv_into_batch(self.fds, self.buf, self.offsets, self.lengths, self.rx_ns, 0, len(self.lengths),
                                spin_polls)
        return int(n)

    def close(self) -> None:
        """Leave the groups and close the sockets."""
        if hasattr(self, "_selector"):
            self._selector.close()
        for s in self.sockets:
            s.close()
        self.sockets = []

    def __enter__(self) -> McastSocketSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PayloadBatch(NamedTuple):
    """UDP payloads: payload i is ``buf[offsets[i]:offsets[i] + lengths[i]]``, received at ``rx_ns[i]``."""

    buf: np.ndarray
    offsets: np.ndarray  # int64
    lengths: np.ndarray  # int64
    rx_ns: np.ndarray  # int64
    frames: int  # link-layer frames looked at
    skipped: int  # frames that were not (complete) multicast UDP: other traffic, fragments, malformed

    def __len__(self) -> int:
        return len(self.offsets)


_MULTICAST_TOP_NIBBLE = 0xE  # 224.0.0.0/4


def udp_mask(packets: np.ndarray, multicast_only: bool = True) -> np.ndarray:
    """Which parsed frames (PACKET_DTYPE) carry a whole UDP payload, sent to a multicast group by default."""
    keep = (packets["kind"] == T.PKT_UDP) & (packets["truncated"] == 0)
    if multicast_only:
        keep &= (packets["dst_ip"] >> 28) == _MULTICAST_TOP_NIBBLE
    return keep


def udp_payloads(buf: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, ts_ns: np.ndarray,
                 linktype: np.ndarray | int = T.LINKTYPE_ETHERNET, multicast_only: bool = True) -> PayloadBatch:
    """The UDP payloads (to a multicast group unless ``multicast_only`` is False) of a batch of frames, without
    copying them: offsets point into ``buf``. Frames cut by the snap length are skipped (the decoder would
    reject them anyway)."""
    n = len(offsets)
    packets = new_packets(n)
    counts = np.zeros(8, np.int64)
    link = np.full(n, linktype, np.int32) if np.isscalar(linktype) else np.asarray(linktype, np.int32)
    parse_packets(buf, np.asarray(offsets, np.int64), np.asarray(lengths, np.int32), np.asarray(ts_ns, np.int64),
                  link, packets, counts)
    keep = udp_mask(packets, multicast_only)
    chosen = packets[keep]
    return PayloadBatch(buf, chosen["payload_off"].astype(np.int64), chosen["payload_len"].astype(np.int64),
                        chosen["ts_ns"].astype(np.int64), n, int(n - keep.sum()))


def capture_batches(path: str | os.PathLike[str], size: int = 4096,
                    multicast_only: bool = True) -> Iterator[PayloadBatch]:
    """Multicast UDP payloads of a pcap/pcapng file (memory-mapped), in batches of up to ``size`` frames."""
    for batch in read_capture(path).batches(size):
        yield udp_payloads(batch.buf, batch.off, batch.caplen, batch.ts_ns, batch.linktype, multicast_only)


class McastSender:
    """Sends UDP payloads to multicast groups out of one interface (the simulator, tests, replays)."""

    def __init__(self, interface: str = "127.0.0.1", ttl: int = 1, sndbuf: int = 4 << 20) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        lib.tw_set_sndbuf(self.sock.fileno(), sndbuf)

    def send(self, payload: bytes, group: str, port: int) -> None:
        """Send one datagram (blocking briefly when the socket buffer is full, never dropping silently)."""
        self.sock.sendto(payload, (group, port))

    def close(self) -> None:
        self.sock.close()
