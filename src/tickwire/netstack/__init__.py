"""Bytes <-> events: packet headers, pcap/pcapng, TCP reassembly, WebSocket framing, the Deribit JSON and
multicast SBE codecs, socket and DPDK transports. Import the submodule you need (each compiles its own kernels):

- ``tickwire.netstack.pcap``: ``read_capture`` (pcap + pcapng, memory-mapped), ``PcapWriter``
- ``tickwire.netstack.packet``: ``parse_packets`` (Ethernet / 802.1Q / Linux SLL(2) / raw IPv4, TCP, UDP)
- ``tickwire.netstack.tcp``: per-flow TCP reassembly
- ``tickwire.netstack.ws``: RFC 6455 deframer (``ws_feed``) and frame encoder (``ws_encode``)
- ``tickwire.deribit.json_decode``: compiled Deribit JSON codec (``decode_read`` = one read -> events)
"""
