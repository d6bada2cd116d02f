"""The reference pipeline for replay tests: dpkt + the plain-Python TCP/WebSocket twins + orjson + a dict book.
Independent of the compiled path except for sharing the documented semantics of each stage."""
from __future__ import annotations

from pathlib import Path

import dpkt
import orjson

from tickwire.md.book import RefBook
from tickwire.deribit.instruments import InstrumentTable
from tickwire.deribit._ref import ref_decode
from tickwire.netstack.tcp import ref_reassemble
from tickwire.netstack.ws import OP_TEXT, ref_deframe


def _reader(f):  # noqa: ANN001, ANN202
    head = f.read(4)
    f.seek(0)
    return dpkt.pcapng.Reader(f) if head == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader(f)


def server_messages(path: Path) -> list[bytes]:
    """Every server->client WebSocket text message of a capture, flow by flow (flows in first-seen order)."""
    flows: dict[tuple, list[tuple[int, bytes, bool]]] = {}
    isn: dict[tuple, int] = {}
    client: set[tuple] = set()
    with path.open("rb") as f:
        for _ts, buf in _reader(f):
            ip = dpkt.ethernet.Ethernet(buf).data
            if not isinstance(ip, dpkt.ip.IP) or not isinstance(ip.data, dpkt.tcp.TCP):
                continue
            tcp = ip.data
            key = (ip.src, ip.dst, tcp.sport, tcp.dport)
            if tcp.flags & dpkt.tcp.TH_SYN:
                isn[key] = tcp.seq
                if not tcp.flags & dpkt.tcp.TH_ACK:
                    client.add(key)
            flows.setdefault(key, []).append((tcp.seq, bytes(tcp.data), bool(tcp.flags & dpkt.tcp.TH_SYN)))
    out = []
    for key, segs in flows.items():
        if key in client:
            continue
        stream, gaps = ref_reassemble(segs, isn.get(key, segs[0][0] - 1))
        assert not gaps, "the reference pipeline handles loss-free captures only"
        out += [payload for op, payload in ref_deframe(stream) if op == OP_TEXT]
    return out


def reference_books(path: Path, table: InstrumentTable | None = None) -> tuple[dict[str, RefBook], InstrumentTable]:
    """Books per instrument name after applying every server message of the capture."""
    table = table or InstrumentTable()
    books: dict[str, RefBook] = {}
    for raw in server_messages(path):
        kind, value = ref_decode(raw, table)
        if kind == "fallback":
            result = orjson.loads(raw).get("result") if value == "not_recognised" else None
            if isinstance(result, list) and result and isinstance(result[0], dict) and "tick_size" in result[0]:
                table.learn(result)
            continue
        if kind != "events":
            continue
        for ev in value:
            k, flags, side, action, inst, price, amount, cid, prev = (ev[0], ev[3], ev[1], ev[2], ev[4], ev[8], ev[9],
                                                                      ev[6], ev[7])
            books.setdefault(table.names[inst], RefBook()).apply_event(k, flags, side, action, price, amount, cid,
                                                                      prev)
    return books, table
