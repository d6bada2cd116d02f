"""Bytes <-> events: packet headers, pcap, sockets, WebSocket, Deribit JSON and multicast SBE codecs, DPDK."""
