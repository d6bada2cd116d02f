"""Replay one capture with the file source, then with the DPDK source (net_pcap, hot-plugged each time) at max
speed and at 1x (paced by the PMD's timestamps); print the deterministic reports, and whether the DPDK batches
carry the file's bytes and capture times (to the microsecond net_pcap resolves)."""
from __future__ import annotations

import _common
import numpy as np

from tickwire.md.replay import PcapSource, Replay
from tickwire.md.source_dpdk import DpdkPcapSource
from tickwire.netstack.dpdk import EalConfig


def flatten(source) -> tuple[list[bytes], np.ndarray]:
    frames, stamps = [], []
    for batch in source.batches():
        frames += [batch.packet(i) for i in range(len(batch))]
        stamps.append(batch.ts_ns.copy())
    return frames, np.concatenate(stamps)


def main() -> None:
    a = _common.args()
    file_report = Replay().run(PcapSource(a["capture"])).as_dict(timing=False)
    eal = EalConfig(file_prefix=a["prefix"])

    def dpdk_source() -> DpdkPcapSource:
        return DpdkPcapSource(a["capture"], batch=a["batch"], buf_bytes=a["buf_bytes"], eal=eal)

    dpdk_reports = [Replay().run(dpdk_source(), speed=speed).as_dict(timing=False) for speed in ("max", "1x")]
    file_frames, file_ts = flatten(PcapSource(a["capture"]))
    dpdk_frames, dpdk_ts = flatten(dpdk_source())
    _common.emit({"file": file_report, "dpdk": dpdk_reports, "frames_equal": file_frames == dpdk_frames,
                  "stamps_equal_us": bool(np.array_equal(file_ts // 1000, dpdk_ts // 1000))})


if __name__ == "__main__":
    main()
