"""What the userspace stack can be pointed at, checked before any DPDK is touched (no numba, no shims here).

``require_plaintext``: the stack speaks TCP only, so the venue endpoint must be plaintext ``ws://`` (a colo
gateway or a local TLS-terminating proxy). ``parse_port_spec``: a ``--port-spec`` is a PCI address (a NIC bound
to vfio-pci) or a DPDK virtual device's devargs (``net_af_packet0,iface=eth1``, ``net_af_xdp0,iface=eth1``).
"""
from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

TLS_REFUSAL = ("TLS is not available on the DPDK stack: the venue endpoint must be a plaintext colo or proxy "
               "endpoint (ws://host:port/...), or use --stack kernel for {url}")

_PCI = re.compile(r"^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")
_VDEV = re.compile(r"^net_[a-z_]+[0-9]*(,[A-Za-z0-9_]+=[^,\s]+)*$")


def require_plaintext(url: str) -> None:
    """Refuse an endpoint this stack cannot speak to: anything but plaintext ws:// (TLS is not implemented)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme != "ws":
        raise ValueError(TLS_REFUSAL.format(url=url) if scheme == "wss" else
                         f"the DPDK stack needs a ws://host:port endpoint, got {url!r}")
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise ValueError(f"the DPDK stack connects to an IPv4 address (it has no DNS resolver), got {host!r} "
                         f"in {url}") from None


def parse_port_spec(spec: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(vdevs, pci addresses) for the EAL from one ``--port-spec``; ValueError when it is neither."""
    spec = spec.strip()
    if _PCI.match(spec):
        return (), (spec,)
    if _VDEV.match(spec):
        return (spec,), ()
    raise ValueError(f"--port-spec {spec!r}: expected a PCI address (0000:03:00.0) or DPDK devargs "
                     "(net_af_packet0,iface=eth1 / net_af_xdp0,iface=eth1)")


def check_stack(url: str, port_spec: str, ip_cidr: str, gateway: str) -> None:
    """Every ``--stack dpdk`` setting, with the reason when one is wrong (ValueError)."""
    require_plaintext(url)
    parse_port_spec(port_spec)
    try:
        iface = ipaddress.IPv4Interface(ip_cidr)
    except ValueError:
        raise ValueError(f"--ip {ip_cidr!r}: expected our IPv4 address with its prefix, e.g. 198.18.0.1/30") from None
    if gateway:
        try:
            ipaddress.IPv4Address(gateway)
        except ValueError:
            raise ValueError(f"--gw {gateway!r}: expected an IPv4 address") from None
    elif iface.network.prefixlen == 32:
        raise ValueError(f"--ip {ip_cidr}: a /32 address needs a gateway (--gw)")
    peer = ipaddress.IPv4Address(urlsplit(url).hostname)
    if not gateway and peer not in iface.network:
        raise ValueError(f"the venue {peer} is not on {iface.network}: give the next hop with --gw")
