"""Sender in the peer namespace: crafted frames with scapy, and datagrams from the kernel's own UDP stack
(unicast and multicast). Prints what it sent as JSON."""
from __future__ import annotations

import socket

import _common
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.sendrecv import sendp


def main() -> None:
    a = _common.args()
    crafted = []
    octets = [int(x) for x in a["group"].split(".")]
    group_mac = "01:00:5e:%02x:%02x:%02x" % (octets[1] & 0x7F, octets[2], octets[3])  # RFC 1112 mapping
    for i in range(a["count"]):
        dst_ip, dst_mac = (a["group"], group_mac) if i % 2 else (a["rx_ip"], a["rx_mac"])
        frame = Ether(src=a["tx_mac"], dst=dst_mac) / IP(src=a["tx_ip"], dst=dst_ip, ttl=8) / \
            UDP(sport=40000 + i, dport=a["scapy_port"]) / (b"twdp-scapy-%04d-" % i + bytes(range(i % 200)))
        crafted.append(bytes(frame))
    sendp([Ether(f) for f in crafted], iface=a["iface"], verbose=False)
    payloads = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(a["tx_ip"]))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        for i in range(a["count"]):
            payload = b"twdp-kernel-%04d" % i
            s.sendto(payload, (a["group"] if i % 2 else a["rx_ip"], a["kernel_port"]))
            payloads.append(payload.hex())
    _common.emit({"crafted": [f.hex() for f in crafted], "kernel_payloads": payloads})


if __name__ == "__main__":
    main()
