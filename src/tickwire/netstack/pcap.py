"""pcap and pcapng files: a memory-mapped reader (no copy of packet data) and a pcap writer.

    cap = read_capture("session.pcap")          # pcap (µs or ns, either byte order) or pcapng (any if_tsresol)
    cap.data[cap.off[i]:cap.off[i] + cap.caplen[i]]   # packet i, a view into the memory map
    for batch in cap.batches(4096): ...          # PacketBatch views: the packet-source seam replay consumes

A corrupt or truncated file raises ``PcapError`` naming the byte offset; with ``strict=False`` the packets before
the damage are returned and ``cap.error`` holds the message instead (a capture cut by a crash stays usable). The
rule is the same for pcap and pcapng and for a cut anywhere after the 4-byte magic (a pcap global header or a
pcapng section header cut short gives zero packets and the error); a file without a capture magic always raises.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np
from numba import njit

from tickwire.types import LINKTYPE_ETHERNET

PCAP_MAGIC_US, PCAP_MAGIC_NS = 0xA1B2C3D4, 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
MAX_SNAPLEN = 262144
MAX_INTERFACES = 64

# index kernel error codes
_E_OK, _E_TRUNC_HDR, _E_TRUNC_DATA, _E_CAPLEN, _E_BLOCK_LEN, _E_NO_IFACE, _E_BOM, _E_NO_SHB = range(8)
_ERRORS = ("", "truncated record header", "truncated packet data", "captured length larger than the snap length",
           "bad block length", "packet for an undeclared interface", "bad byte-order magic in section header",
           "first block is not a section header")


class PcapError(ValueError):
    """The capture file is not a valid pcap/pcapng file; the message names the byte offset."""


class PacketBatch(NamedTuple):
    """A batch of packets: packet i is ``buf[off[i]:off[i] + caplen[i]]``, captured at ``ts_ns[i]`` on a link of
    type ``linktype[i]``. Every packet source (pcap file, DPDK port, socket) yields these."""

    buf: np.ndarray  # uint8
    off: np.ndarray  # int64
    caplen: np.ndarray  # int32
    ts_ns: np.ndarray  # int64
    linktype: np.ndarray  # int32

    def __len__(self) -> int:
        return len(self.off)

    def packet(self, i: int) -> bytes:
        return self.buf[self.off[i]:self.off[i] + self.caplen[i]].tobytes()


class Capture:
    """An indexed capture file; ``data`` is the read-only memory map, the other arrays index it."""

    def __init__(self, path: Path, data: np.ndarray, off: np.ndarray, caplen: np.ndarray, origlen: np.ndarray,
                 ts_ns: np.ndarray, linktype: np.ndarray, fmt: str, error: str | None) -> None:
        self.path, self.data, self.off, self.caplen, self.origlen = path, data, off, caplen, origlen
        self.ts_ns, self.linktype, self.format, self.error = ts_ns, linktype, fmt, error

    def __len__(self) -> int:
        return len(self.off)

    def packet(self, i: int) -> bytes:
        return self.data[self.off[i]:self.off[i] + self.caplen[i]].tobytes()

    def batches(self, size: int = 4096) -> Iterator[PacketBatch]:
        """Consecutive batches of at most ``size`` packets (views, no copy)."""
        for s in range(0, len(self), size):
            e = min(s + size, len(self))
            yield PacketBatch(self.data, self.off[s:e], self.caplen[s:e], self.ts_ns[s:e], self.linktype[s:e])


@njit(cache=True, inline="always")
def _u16(d, p, big):
    return (np.int64(d[p]) << 8 | np.int64(d[p + 1])) if big else (np.int64(d[p + 1]) << 8 | np.int64(d[p]))


@njit(cache=True, inline="always")
def _u32(d, p, big):
    if big:
        return np.int64(d[p]) << 24 | np.int64(d[p + 1]) << 16 | np.int64(d[p + 2]) << 8 | np.int64(d[p + 3])
    return np.int64(d[p + 3]) << 24 | np.int64(d[p + 2]) << 16 | np.int64(d[p + 1]) << 8 | np.int64(d[p])


@njit(cache=True)
def _index_pcap(d, big, nanos, linktype, fill, off, caplen, origlen, ts, lt):
    """Walk pcap records from byte 24. With fill=False only count. Returns (count, error code, error offset)."""
    n = 0
    p = 24
    end = d.shape[0]
    while p < end:
        if end - p < 16:
            return n, _E_TRUNC_HDR, p
        incl = _u32(d, p + 8, big)
        if incl > MAX_SNAPLEN:
            return n, _E_CAPLEN, p
        if p + 16 + incl > end:
            return n, _E_TRUNC_DATA, p
        if fill:
            sec = _u32(d, p, big)
            frac = _u32(d, p + 4, big)
            ts[n] = sec * 1_000_000_000 + (frac if nanos else frac * 1000)
            off[n] = p + 16
            caplen[n] = incl
            origlen[n] = _u32(d, p + 12, big)
            lt[n] = linktype
        n += 1
        p += 16 + incl
    return n, _E_OK, p


@njit(cache=True)
def _ts_ns(t, res):
    """pcapng timestamp units -> ns; res = if_tsresol byte."""
    if res & 0x80:
        k = res & 0x7F
        return (t >> k) * 1_000_000_000 + (((t & ((np.int64(1) << k) - 1)) * 1_000_000_000) >> k)
    v = res
    if v <= 9:
        m = np.int64(1)
        for _ in range(9 - v):
            m *= 10
        return t * m
    dv = np.int64(1)
    for _ in range(v - 9):
        dv *= 10
    return t // dv


@njit(cache=True)
def _index_pcapng(d, fill, off, caplen, origlen, ts, lt):
    """Walk pcapng blocks. Returns (count, error code, error offset)."""
    n = 0
    p = 0
    end = d.shape[0]
    big = False
    n_if = 0
    if_lt = np.zeros(MAX_INTERFACES, np.int64)
    if_res = np.full(MAX_INTERFACES, 6, np.int64)
    if_snap = np.zeros(MAX_INTERFACES, np.int64)
    while p < end:
        if end - p < 12:
            return n, _E_TRUNC_HDR, p
        btype = _u32(d, p, big)
        if btype == PCAPNG_SHB:
            bom = _u32(d, p + 8, False)
            if bom == 0x1A2B3C4D:
                big = False
            elif bom == 0x4D3C2B1A:
                big = True
            else:
                return n, _E_BOM, p
            n_if = 0
        elif p == 0:
            return n, _E_NO_SHB, p
        blen = _u32(d, p + 4, big)
        if blen < 12 or blen % 4 != 0:
            return n, _E_BLOCK_LEN, p
        if p + blen > end:
            return n, _E_TRUNC_DATA, p
        if _u32(d, p + blen - 4, big) != blen:
            return n, _E_BLOCK_LEN, p
        if btype == 1:  # Interface Description Block
            if n_if < MAX_INTERFACES and blen >= 20:
                if_lt[n_if] = _u16(d, p + 8, big)
                if_snap[n_if] = _u32(d, p + 12, big)
                if_res[n_if] = 6
                q = p + 16
                while q + 4 <= p + blen - 4:
                    code = _u16(d, q, big)
                    olen = _u16(d, q + 2, big)
                    if code == 0:
                        break
                    if code == 9 and olen >= 1:
                        if_res[n_if] = d[q + 4]
                    q += 4 + ((olen + 3) & ~3)
            n_if += 1
        elif btype == 6 or btype == 2:  # Enhanced / obsolete Packet Block
            if blen < 32:
                return n, _E_BLOCK_LEN, p
            iface = _u32(d, p + 8, big) if btype == 6 else _u16(d, p + 8, big)
            if iface >= n_if or iface >= MAX_INTERFACES:
                return n, _E_NO_IFACE, p
            cl = _u32(d, p + 20, big)
            if cl > MAX_SNAPLEN:
                return n, _E_CAPLEN, p
            if 28 + cl + 4 > blen:
                return n, _E_BLOCK_LEN, p
            if fill:
                t = (_u32(d, p + 12, big) << 32) | _u32(d, p + 16, big)
                ts[n] = _ts_ns(t, if_res[iface])
                off[n] = p + 28
                caplen[n] = cl
                origlen[n] = _u32(d, p + 24, big)
                lt[n] = if_lt[iface]
            n += 1
        elif btype == 3:  # Simple Packet Block (interface 0)
            if n_if == 0:
                return n, _E_NO_IFACE, p
            ol = _u32(d, p + 8, big)
            cl = min(ol, blen - 16)
            if if_snap[0] > 0:
                cl = min(cl, if_snap[0])
            if fill:
                ts[n] = 0
                off[n] = p + 12
                caplen[n] = cl
                origlen[n] = ol
                lt[n] = if_lt[0]
            n += 1
        p += blen
    return n, _E_OK, p


def read_capture(path: str | os.PathLike[str], strict: bool = True) -> Capture:
    """Index a pcap or pcapng file (memory-mapped; packet bytes are never copied)."""
    path = Path(path)
    size = path.stat().st_size
    if size < 4:
        raise PcapError(f"{path}: {size} bytes is too short for a capture file (offset 0)")
    data = np.memmap(path, dtype=np.uint8, mode="r")
    head = bytes(data[:4])
    magic_le = struct.unpack("<I", head)[0]
    magic_be = struct.unpack(">I", head)[0]
    if magic_le == PCAPNG_SHB:
        fmt = "pcapng"
        args: tuple = ()
    elif PCAP_MAGIC_US in (magic_le, magic_be) or PCAP_MAGIC_NS in (magic_le, magic_be):
        big = magic_be in (PCAP_MAGIC_US, PCAP_MAGIC_NS)
        nanos = PCAP_MAGIC_NS in (magic_le, magic_be)
        fmt = "pcap-ns" if nanos else "pcap"
        if size < 24:
            error = f"{path}: truncated pcap global header at byte offset 0 ({size} bytes, after 0 packets)"
            if strict:
                raise PcapError(error)
            empty = np.empty(0, np.int64), np.empty(0, np.int32), np.empty(0, np.int32)
            return Capture(path, data, *empty, np.empty(0, np.int64), np.empty(0, np.int32), fmt, error)
        linktype = struct.unpack(">I" if big else "<I", bytes(data[20:24]))[0] & 0x0FFFFFFF
        args = (big, nanos, linktype)
    else:
        raise PcapError(f"{path}: not a pcap/pcapng file (magic {head.hex()} at offset 0)")

    def run(fill: bool, n: int) -> tuple[tuple[int, int, int], tuple[np.ndarray, ...]]:
        arrays = (np.empty(n, np.int64), np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, np.int64),
                  np.empty(n, np.int32))
        if fmt == "pcapng":
            return _index_pcapng(data, fill, *arrays), arrays
        return _index_pcap(data, *args, fill, *arrays), arrays

    (count, code, at), _ = run(False, 0)
    _, arrays = run(True, count)
    error = None
    if code != _E_OK:
        error = f"{path}: {_ERRORS[code]} at byte offset {at} (after {count} packets)"
        if strict:
            raise PcapError(error)
    return Capture(path, data, *arrays[:3], arrays[3], arrays[4], fmt, error)


class PcapWriter:
    """Write a classic pcap file (µs or ns timestamps) that tcpdump, tshark and Wireshark open."""

    def __init__(self, path: str | os.PathLike[str], linktype: int = LINKTYPE_ETHERNET, snaplen: int = 65535,
                 nanosecond: bool = False) -> None:
        self.nanosecond = nanosecond
        self._f = open(path, "wb")  # noqa: SIM115 - closed in close()/__exit__
        magic = PCAP_MAGIC_NS if nanosecond else PCAP_MAGIC_US
        self._f.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
        self.count = 0

    def write(self, ts_ns: int, packet: bytes | bytearray | memoryview | np.ndarray,
              origlen: int | None = None) -> None:
        data = packet.tobytes() if isinstance(packet, np.ndarray) else bytes(packet)
        sec, rem = divmod(int(ts_ns), 1_000_000_000)
        frac = rem if self.nanosecond else rem // 1000
        self._f.write(struct.pack("<IIII", sec, frac, len(data), len(data) if origlen is None else origlen))
        self._f.write(data)
        self.count += 1

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
