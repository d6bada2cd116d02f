"""Synthetic Deribit WebSocket sessions as pcap files (tests and benchmarks; no scapy needed, so it is fast).

``book_messages`` makes a valid book.{instrument}.raw stream (snapshot, then changes chained by change_id);
``write_session`` writes the TCP handshake, the HTTP upgrade and the frames of both directions as Ethernet/IPv4/TCP
packets with correct checksums, segmented at ``mss``.
"""
from __future__ import annotations

import random
import socket
import struct
from pathlib import Path
from typing import Iterable

import orjson

from tickwire.netstack.pcap import PcapWriter
from tickwire.netstack.ws import OP_TEXT, ref_encode

UPGRADE_REQUEST = (b"GET /ws/api/v2 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
UPGRADE_RESPONSE = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")


def book_messages(n: int, seed: int = 1, instrument: str = "BTC-PERPETUAL", depth: int = 20,
                  channel_interval: str = "raw") -> list[bytes]:
    """A snapshot and n-1 chained changes (new/change/delete near the touch), as Deribit sends them."""
    rnd = random.Random(seed)
    mid = 2 * rnd.randrange(60000, 70000)  # in ticks of 0.5
    bids = {mid - 1 - i: 10 * rnd.randrange(1, 3000) for i in range(depth)}
    asks = {mid + 1 + i: 10 * rnd.randrange(1, 3000) for i in range(depth)}
    change_id = rnd.randrange(10**9, 10**10)
    ts = 1_700_000_000_000
    channel = f"book.{instrument}.{channel_interval}"

    def level(action: str, ticks: int, amount: int) -> list:
        return [action, ticks / 2, float(amount)]

    out = []
    data = {"type": "snapshot", "timestamp": ts, "instrument_name": instrument, "change_id": change_id,
            "bids": [level("new", p, a) for p, a in sorted(bids.items(), reverse=True)],
            "asks": [level("new", p, a) for p, a in sorted(asks.items())]}
    out.append({"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}})
    for _ in range(n - 1):
        prev = change_id
        change_id += rnd.randrange(1, 7)
        ts += rnd.randrange(0, 3)
        sides: dict[str, list] = {"bids": [], "asks": []}
        for _ in range(rnd.randrange(1, 4)):
            name = rnd.choice(["bids", "asks"])
            book = bids if name == "bids" else asks
            r = rnd.random()
            if r < 0.45 and book:
                p = rnd.choice(sorted(book, reverse=name == "bids")[:8])
                book[p] = 10 * rnd.randrange(1, 3000)
                sides[name].append(level("change", p, book[p]))
            elif r < 0.7 and len(book) > 5:
                p = rnd.choice(sorted(book, reverse=name == "bids")[:8])
                del book[p]
                sides[name].append(level("delete", p, 0))
            else:
                best_bid, best_ask = max(bids), min(asks)
                p = rnd.randrange(best_bid - 6, best_ask) if name == "bids" else rnd.randrange(best_bid + 1,
                                                                                               best_ask + 6)
                if p in book or p in (asks if name == "bids" else bids):
                    continue
                book[p] = 10 * rnd.randrange(1, 3000)
                sides[name].append(level("new", p, book[p]))
        data = {"type": "change", "timestamp": ts, "prev_change_id": prev, "instrument_name": instrument,
                "change_id": change_id, **sides}
        out.append({"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}})
    return [orjson.dumps(m) for m in out]


def ws_frames(messages: Iterable[bytes], masked: bool = False, seed: int = 3) -> bytes:
    """Encode messages as text frames (client frames masked with random keys)."""
    rnd = random.Random(seed)
    return b"".join(ref_encode(m, OP_TEXT, key=rnd.getrandbits(32) if masked else None) for m in messages)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp_frame(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int,
              payload: bytes = b"") -> bytes:
    """One Ethernet/IPv4/TCP frame with valid checksums."""
    s, d = socket.inet_aton(src), socket.inet_aton(dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
    csum = _checksum(s + d + struct.pack("!BBH", 0, 6, len(tcp) + len(payload)) + tcp + payload)
    tcp = tcp[:16] + struct.pack("!H", csum) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0x4000, 64, 6, 0, s, d)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00" + ip + tcp + payload


def session_packets(server_stream: bytes, client_stream: bytes = b"", mss: int = 1448,
                    isn_client: int = 1000, isn_server: int = 0xFFFFF000, t0_ns: int = 1_700_000_000 * 10**9,
                    client: tuple[str, int] = ("127.0.0.1", 51000), server: tuple[str, int] = ("127.0.0.1", 8022),
                    step_ns: int = 10_000) -> list[tuple[int, bytes, int, bytes, bool]]:
    """Handshake, upgrade, then the client stream and the server stream cut at mss.
    Returns (ts_ns, frame, seq, payload, from_server) per packet (seq/payload let tests reorder and drop)."""
    (ca, cp), (sa, sp) = client, server
    pkts: list[tuple[int, bytes, int, bytes, bool]] = []
    t = t0_ns
    c_seq, s_seq = isn_client + 1, isn_server + 1

    def add(from_server: bool, seq: int, ack: int, flags: int, payload: bytes = b"") -> None:
        nonlocal t
        src, dst = ((sa, sp), (ca, cp)) if from_server else ((ca, cp), (sa, sp))
        pkts.append((t, tcp_frame(src[0], dst[0], src[1], dst[1], seq, ack, flags, payload), seq, payload,
                     from_server))
        t += step_ns

    add(False, isn_client, 0, 0x02)
    add(True, isn_server, c_seq, 0x12)
    add(False, c_seq, s_seq, 0x10)
    for from_server, stream in ((False, UPGRADE_REQUEST + client_stream), (True, UPGRADE_RESPONSE + server_stream)):
        for i in range(0, len(stream), mss):
            part = stream[i:i + mss]
            if from_server:
                add(True, s_seq, c_seq, 0x18, part)
                s_seq += len(part)
            else:
                add(False, c_seq, s_seq, 0x18, part)
                c_seq += len(part)
    add(True, s_seq, c_seq, 0x11)
    add(False, c_seq, s_seq + 1, 0x11)
    return pkts


def write_packets(path: str | Path, packets: Iterable[tuple[int, bytes]]) -> int:
    """Write (ts_ns, frame) pairs to a pcap; returns the count."""
    with PcapWriter(path, nanosecond=True) as w:
        for ts, frame in packets:
            w.write(ts, frame)
        return w.count
