"""Market data: events -> books.

- ``book``: the integer-tick L2 book (compiled), one slot per instrument
- ``mcast_feed``: the Deribit multicast feed handler (sequence gaps, snapshot recovery) over the SBE decoder
- ``replay`` and ``_stream``: a capture through the compiled path (packets -> TCP -> WebSocket -> JSON -> books)
- ``record``: ``tickwire record`` (a live session on loopback into a pcap) and ``tickwire replay``
- ``source_dpdk``: a capture played through DPDK's net_pcap driver as a replay source
"""
