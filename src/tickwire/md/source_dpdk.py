"""A replay packet source that goes through DPDK: a capture file played by the net_pcap PMD, received with
rx_burst into the same ``PacketBatch`` the file source yields (``tickwire replay FILE --source dpdk``).

What differs from ``PcapSource``: the bytes travel file -> libpcap -> mbufs -> our batch buffer (a copy; the file
source hands out views of its memory map), and timestamps are what the PMD stamps (net_pcap: the capture time,
at microsecond resolution). A batch is valid until the next one is requested, which is how ``Replay`` uses it.
"""
from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tickwire.netstack.dpdk import BatchReceiver, EalConfig, Mempool, Port, current_eal, init_eal
from tickwire.netstack.pcap import PacketBatch, read_capture

# net_pcap reads the whole file synchronously: an empty poll means the end of the file, a few in a row confirm it
_EOF_IDLE_POLLS = 8


class DpdkPcapSource:
    """Packets of a pcap/pcapng file, replayed through a hot-plugged net_pcap port.

    Initialises the process's EAL (``eal``, default: no hugepages, no PCI) unless one is already up.
    """

    def __init__(self, path: str | Path, batch: int = 4096, buf_bytes: int = 16 << 20,
                 eal: EalConfig | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"capture {self.path} not found")
        if "," in str(self.path):
            raise ValueError(f"net_pcap cannot open a path containing ',' (device-argument separator): {self.path}")
        self.name = f"dpdk:{self.path.name}"
        self.batch = batch
        self.buf_bytes = buf_bytes
        self.eal_config = eal or EalConfig(file_prefix=f"twreplay-{secrets.token_hex(4)}")
        self.linktype = self._single_linktype()

    def _single_linktype(self) -> int:
        """DPDK delivers frames without a link type: take the file's, which must be the same for every packet."""
        capture = read_capture(self.path)
        kinds = np.unique(capture.linktype)
        if len(kinds) > 1:
            raise ValueError(f"{self.path} mixes link types {kinds.tolist()}: replay it with the file source")
        return int(kinds[0]) if len(kinds) else 1

    def batches(self) -> Iterator[PacketBatch]:
        if current_eal() is None:
            init_eal(self.eal_config)
        pool = Mempool.create(f"replay{secrets.token_hex(3)}", 8191)
        port = Port.attach(f"net_pcap_tw{secrets.token_hex(3)},rx_pcap={self.path}")
        try:
            port.setup(pool)
            rx = BatchReceiver(port, max_packets=self.batch, buf_bytes=self.buf_bytes)
            linktype = np.full(self.batch, self.linktype, np.int32)
            try:
                while n := rx.fill(max_idle_polls=_EOF_IDLE_POLLS):
                    yield PacketBatch(rx.buf, rx.offsets[:n], rx.lengths[:n], rx.stamps[:n], linktype[:n])
                if rx.dropped_oversize:
                    raise ValueError(f"{rx.dropped_oversize} packets of {self.path} exceed the {self.buf_bytes}-byte "
                                     "batch buffer: raise buf_bytes")
            finally:
                rx.release()
        finally:
            port.detach()
            pool.free()
