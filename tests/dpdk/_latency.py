"""DPDK source vs the multicast kernel-socket source: the same open-loop UDP multicast traffic over a veth, one
receiver at a time."""
from __future__ import annotations

import statistics

from _harness import ChildProcess, VethPair, run_child, veth_namespaces

from tickwire.bench.stats import latency_percentiles_us

GROUP = "239.198.18.9"


def _one(mode: str, pair: VethPair, count: int, rate: int, port: int) -> list[int]:
    # count + 1: the sender's first datagram is outside the measurement
    rx = ChildProcess("lat_rx", {"mode": mode, "iface": pair.rx_if, "ip": pair.rx_ip, "port": port, "group": GROUP,
                                 "count": count + 1, "seconds": count / rate + 10, "core": "1"}, netns=pair.rx_ns)
    try:
        rx.wait_line("READY", timeout=60)
        run_child("lat_send", {"src_ip": pair.tx_ip, "group": GROUP, "port": port, "count": count, "rate": rate,
                               "core": 0}, timeout=count / rate + 60, netns=pair.tx_ns)
        r = rx.result(timeout=count / rate + 30)
    finally:
        rx.kill()
    return [lat for lat, seq in zip(r["latency_ns"], r["seq"]) if seq < count]


def compare(count: int, rate: int, rounds: int = 1) -> dict[str, dict[str, float]]:
    """Run kernel and DPDK receivers alternately on the same veth traffic; the latency summary of each.

    Both receivers spin on core 1 at normal priority; on a shared, untuned host the tail (p95 and up) is the
    scheduler time-slicing them away, not the source. (SCHED_FIFO makes it worse: RT throttling parks the
    spinning receiver for 50 ms every second.)"""
    lat: dict[str, list[int]] = {"kernel": [], "dpdk": []}
    round_p50: dict[str, list[float]] = {"kernel": [], "dpdk": []}
    with veth_namespaces() as pair:
        for _ in range(rounds):
            for mode in ("kernel", "dpdk"):
                values = _one(mode, pair, count, rate, 31500)
                lat[mode] += values
                round_p50[mode].append(latency_percentiles_us(values)["p50"])
    # the median over rounds of each round's p50 shrugs off a round spoiled by the rest of the host
    return {mode: latency_percentiles_us(values) | {"p50_median_of_rounds": statistics.median(round_p50[mode])}
            for mode, values in lat.items()}
