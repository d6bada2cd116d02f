"""Two network namespaces joined by a veth pair (198.18.x.1/30 <-> .2/30, no route out), named twmc-*."""
from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple


class VethPair(NamedTuple):
    rx_ns: str
    rx_if: str
    rx_ip: str
    tx_ns: str
    tx_if: str
    tx_ip: str


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@contextmanager
def veth_pair() -> Iterator[VethPair]:
    """Create the namespaces and the veth; always delete them (deleting a namespace removes its veth end)."""
    tag = secrets.token_hex(3)
    third = secrets.randbelow(250) + 1
    pair = VethPair(f"twmc-rx-{tag}", f"twmc{tag}r", f"198.18.{third}.1", f"twmc-tx-{tag}", f"twmc{tag}t",
                    f"198.18.{third}.2")
    created: list[str] = []
    try:
        for ns in (pair.rx_ns, pair.tx_ns):
            _ip("netns", "add", ns)
            created.append(ns)
        _ip("link", "add", pair.rx_if, "type", "veth", "peer", "name", pair.tx_if)
        _ip("link", "set", pair.rx_if, "netns", pair.rx_ns)
        _ip("link", "set", pair.tx_if, "netns", pair.tx_ns)
        for ns, ifname, addr in ((pair.rx_ns, pair.rx_if, pair.rx_ip), (pair.tx_ns, pair.tx_if, pair.tx_ip)):
            _ip("-n", ns, "addr", "add", f"{addr}/30", "dev", ifname)
            _ip("-n", ns, "link", "set", ifname, "up", "multicast", "on")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield pair
    finally:
        for ns in created:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
