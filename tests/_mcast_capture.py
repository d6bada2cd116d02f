"""The real Deribit multicast capture (tests/data/deribit-multicast) and its UDP payloads, read with dpkt (an
independent reader: a reference for ours). A module of its own with a unique name, importable from every test
directory (tests/ is on sys.path through the root conftest)."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

CAPTURE = Path(__file__).resolve().parent / "data" / "deribit-multicast" / "sample_capture_v1_6.pcapng"


class Payloads(NamedTuple):
    """UDP payloads of a capture, in capture order, plus their destination group/port and time."""

    data: list[bytes]
    dst: list[tuple[str, int]]
    ts_ns: list[int]

    def batch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(buf, offsets, lengths, rx_ns) for McastFeed.on_batch / decode_batch."""
        lengths = np.array([len(p) for p in self.data], np.int64)
        offsets = np.zeros(len(lengths), np.int64)
        offsets[1:] = np.cumsum(lengths)[:-1]
        buf = np.frombuffer(b"".join(self.data), np.uint8).copy()
        return buf, offsets, lengths, np.array(self.ts_ns, np.int64)


def read_payloads(path: Path) -> Payloads:
    """UDP payloads of a pcapng file, read with dpkt (an independent reader: a reference for ours)."""
    import dpkt

    data, dst, ts = [], [], []
    with path.open("rb") as f:
        for t, frame in dpkt.pcapng.Reader(f):
            ip = dpkt.ethernet.Ethernet(frame).data
            if isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.udp.UDP):
                data.append(bytes(ip.data.data))
                dst.append((".".join(str(b) for b in ip.dst), ip.data.dport))
                ts.append(int(round(t * 1e9)))
    return Payloads(data, dst, ts)
