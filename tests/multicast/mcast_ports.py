"""Multicast test groups on ports no other run uses right now."""
from __future__ import annotations

from tickwire.deribit.venue import free_udp_pair
from tickwire.netstack.mcast import ChannelMap


def loopback_channel_map() -> ChannelMap:
    """Deribit's channel layout on a UDP port pair free on this host now (the helper the simulator's launcher
    uses), so that concurrent test runs do not receive each other's packets."""
    port = free_udp_pair()
    return ChannelMap(port_incremental=port, port_snapshot=port + 1)
