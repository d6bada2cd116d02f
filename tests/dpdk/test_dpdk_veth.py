"""net_af_packet on a veth whose peer lives in another namespace: scapy frames and kernel UDP datagrams
(unicast and multicast) sent there are received through DPDK."""
from __future__ import annotations

import pytest

from _harness import ChildProcess, run_child, veth_namespaces

pytestmark = [pytest.mark.dpdk, pytest.mark.netns]

GROUP = "239.198.18.7"


def test_udp_unicast_and_multicast_received_through_af_packet() -> None:
    count = 20
    with veth_namespaces() as pair:
        rx = ChildProcess("veth_rx", {"iface": pair.rx_if, "udp_ports": [31001, 31002], "expect": 2 * count,
                                      "seconds": 30}, netns=pair.rx_ns)
        try:
            rx.wait_line("READY", timeout=60)
            sent = run_child("veth_send", {"iface": pair.tx_if, "tx_ip": pair.tx_ip, "tx_mac": pair.tx_mac,
                                           "rx_ip": pair.rx_ip, "rx_mac": pair.rx_mac, "group": GROUP,
                                           "count": count, "scapy_port": 31001, "kernel_port": 31002},
                             timeout=60, netns=pair.tx_ns)
            got = rx.result(timeout=60)
        finally:
            rx.kill()
    assert got["driver"] == "net_af_packet"
    frames = [bytes.fromhex(h) for h in got["frames"]]
    # every scapy frame arrives byte-identical
    assert [f for f in frames if f[36:38] == (31001).to_bytes(2, "big")] == [bytes.fromhex(h) for h in sent["crafted"]]
    # every kernel datagram arrives, in order, with its destination (half of them the multicast group)
    kernel = [f for f in frames if f[36:38] == (31002).to_bytes(2, "big")]
    assert [f[42:].hex() for f in kernel] == sent["kernel_payloads"]
    group = bytes(int(x) for x in GROUP.split("."))
    assert [f[30:34] == group for f in kernel] == [bool(i % 2) for i in range(count)]
    assert all(f[0] == 0x01 for f in kernel[1::2]), "multicast frames carry a 01:00:5e group MAC"


def test_link_down_is_reported() -> None:
    with veth_namespaces() as pair:  # the namespace holds the tap device and removes it with itself
        r = run_child("veth_rx", {"iface": f"{pair.rx_if[:-1]}p", "mode": "link_down"}, timeout=60,
                      netns=pair.rx_ns)
    assert r["up_before"] is True
    assert r["error"] == "LinkDownError" and "ip link set" in r["message"]
