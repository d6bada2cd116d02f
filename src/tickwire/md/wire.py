"""Wire-to-wire latency from a capture: tick-to-trade and the venue's share of every round trip.

A capture of a client <-> venue session (``tickwire record``: kernel capture timestamps) is read with our own
pcap -> packet -> TCP -> WebSocket code (tickwire.md._stream); every complete WebSocket text message gets the
capture timestamp of the packet that completed it. Then, per connection:

- **tick-to-trade on the wire**: for every order request the client sent (private/buy, sell, edit, cancel), the
  time from the packet of the book message that triggered it to the packet of the order. The trigger is the book
  message with the change_id the client logged for that request id (``triggers``) when it logged one, else the
  latest book message the venue sent on that connection before the order. This excludes the venue entirely and
  reads no clock of the client: the same figure for any client.
- **venue part of a round trip**: request packet -> answer packet (same JSON-RPC id, same connection). Joined
  with the client's own round trip of that id (``client_rtt_ns``), the rest is the client's part ("ours").

Messages that are not JSON, or JSON that is not a JSON-RPC object, are counted and skipped.
"""
from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from tickwire.md import _stream as fs
from tickwire.netstack.packet import N_COUNTS, new_packets, parse_packets
from tickwire.netstack.pcap import Capture, read_capture
from tickwire.netstack.tcp import F_KEY0, F_KEY1, F_USED, TcpReassembler, tcp_flush
from tickwire.netstack.ws import OP_TEXT
from tickwire.types import PKT_TCP, TCP_ACK, TCP_SYN

ORDER_METHODS = frozenset({"private/buy", "private/sell", "private/edit", "private/cancel"})
NEW_ORDER_METHODS = frozenset({"private/buy", "private/sell"})
POSITION_METHODS = frozenset({"private/get_positions"})

REQUEST, ANSWER, BOOK = "request", "answer", "book"
Conn = tuple[tuple[int, int], tuple[int, int]]  # the two endpoints (ip, port), sorted: one key per connection


@dataclass(frozen=True)
class WireMessage:
    """One JSON-RPC message seen on the wire: a client request, a venue answer or a book notification."""

    ts_ns: int  # capture timestamp of the packet that completed the message
    conn: Conn
    kind: str  # REQUEST, ANSWER or BOOK
    rid: int = -1  # JSON-RPC id (requests and answers)
    method: str = ""  # requests: the method; books: the channel
    change_id: int = -1  # books


@dataclass
class WireCapture:
    """The messages of a capture, in capture order, and what could not be read as JSON-RPC."""

    messages: list[WireMessage]
    packets: int
    opened: dict[Conn, int] = field(default_factory=dict)  # capture ts of each connection's SYN
    skipped: int = 0  # text messages that are not a JSON-RPC object
    capture_error: str | None = None

    def between(self, start_ns: int, end_ns: int) -> WireCapture:
        """Only the connections opened in [start_ns, end_ns] (one client's turn in a run); a connection whose SYN
        is not in the capture counts as opened at its first message."""
        first = dict(self.opened)
        for m in self.messages:
            first.setdefault(m.conn, m.ts_ns)
        keep = {c for c, t in first.items() if start_ns <= t <= end_ns}
        return WireCapture([m for m in self.messages if m.conn in keep], self.packets,
                           {c: t for c, t in self.opened.items() if c in keep}, self.skipped, self.capture_error)


_OTHER = WireMessage(0, ((0, 0), (0, 0)), "other")  # a JSON-RPC message this analysis does not use


def _endpoint_pair(key0: int, key1: int) -> Conn:
    # the reassembler's int64 key holds src_ip << 32: an address from 128.0.0.0 up reads back negative unless masked
    src, dst = ((key0 >> 32) & 0xFFFFFFFF, key1 >> 16), (key0 & 0xFFFFFFFF, key1 & 0xFFFF)
    return (src, dst) if src <= dst else (dst, src)


def _classify(raw: bytes, ts: int, conn: Conn) -> WireMessage | None:
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(msg, dict):
        return None
    rid, method = msg.get("id"), msg.get("method")
    if isinstance(rid, int) and isinstance(method, str):
        return WireMessage(ts, conn, REQUEST, rid, method)
    if isinstance(rid, int) and ("result" in msg or "error" in msg):
        return WireMessage(ts, conn, ANSWER, rid)
    params = msg.get("params")
    if method == "subscription" and isinstance(params, dict):
        channel, data = params.get("channel"), params.get("data")
        if isinstance(channel, str) and channel.startswith("book.") and isinstance(data, dict):
            change_id = data.get("change_id")
            if isinstance(change_id, int):
                return WireMessage(ts, conn, BOOK, method=channel, change_id=change_id)
    return _OTHER


def text_messages(path: str | Path, batch: int = 4096, max_flows: int = 256, rx_cap: int = 4 << 20,
                  arena_bytes: int = 32 << 20) -> tuple[list[tuple[int, Conn, bytes]], dict[Conn, int], Capture]:
    """Every WebSocket text message of a capture as (capture ts of the packet that completed it, connection,
    payload), in capture order; the capture ts of each connection's SYN; and the capture (its ``error`` is set
    when it was damaged: the messages before the damage are returned)."""
    cap = read_capture(path, strict=False)
    tcp = TcpReassembler(max_flows=max_flows)
    flows, segs, pool, g, chunks = tcp.arrays
    wst, rx = fs.new_flow_buffers(max_flows, rx_cap)
    spans, ctrl = np.zeros((1024, 4), np.int64), np.zeros(4096, np.uint8)
    arena = np.zeros(arena_bytes, np.uint8)
    limit = arena_bytes - rx_cap - pool.shape[0] // 4
    msgs = np.zeros((1 << 18, fs.M_COLS), np.int64)
    st = np.zeros(2 + fs.N_COUNTERS, np.int64)
    kinds = np.zeros(N_COUNTS, np.int64)
    out: list[tuple[int, Conn, bytes]] = []
    opened: dict[Conn, int] = {}

    def drain() -> None:
        for off, ln, f, op, _client, ts in msgs[: int(st[1])]:
            if op == OP_TEXT:
                out.append((int(ts), _endpoint_pair(int(flows[f, F_KEY0]), int(flows[f, F_KEY1])),
                            arena[off:off + ln].tobytes()))
        st[0] = st[1] = 0

    for b in cap.batches(batch):
        pk = new_packets(len(b))
        parse_packets(b.buf, b.off, b.caplen, b.ts_ns, b.linktype, pk, kinds)
        for r in pk[(pk["kind"] == PKT_TCP) & (pk["tcp_flags"] & (TCP_SYN | TCP_ACK) == TCP_SYN)]:
            conn = _endpoint_pair(int(r["src_ip"]) << 32 | int(r["dst_ip"]), int(r["sport"]) << 16 | int(r["dport"]))
            opened.setdefault(conn, int(r["ts_ns"]))
        i = 0
        while i < len(pk):
            i = fs.tcp_ws_stage(pk, i, b.buf, flows, segs, pool, g, chunks, wst, rx, spans, ctrl, arena, msgs, st,
                                limit)
            drain()
    last_ts = int(cap.ts_ns[-1]) if len(cap) else 0
    for f in np.nonzero(flows[:, F_USED])[0]:
        k = tcp_flush(flows, segs, g, chunks, f)
        if k:
            fs.flush_flow(f, flows, segs, pool, g, chunks, k, wst, rx, spans, ctrl, arena, msgs, st, last_ts)
    drain()
    out.sort(key=lambda m: m[0])  # stable: the messages of one packet keep their order
    return out, opened, cap


def read_wire(path: str | Path) -> WireCapture:
    """Every JSON-RPC request, answer and book notification of a capture with its capture timestamp."""
    texts, opened, cap = text_messages(path)
    out: list[WireMessage] = []
    skipped = 0
    for ts, conn, raw in texts:
        m = _classify(raw, ts, conn)
        if m is None:
            skipped += 1
        elif m is not _OTHER:
            out.append(m)
    return WireCapture(out, len(cap), opened, skipped, cap.error)


@dataclass
class TickToTrade:
    """Wire tick-to-trade samples (ns) and how each order's trigger was found."""

    samples_ns: np.ndarray
    by_change_id: int = 0  # trigger = the book message of the change_id the client logged
    by_latest: int = 0  # trigger = the latest book message before the order
    no_trigger: int = 0  # no book message before the order on its connection (not counted)


def tick_to_trade(wire: WireCapture, triggers: Mapping[int, int] | None = None,
                  methods: Iterable[str] = ORDER_METHODS) -> TickToTrade:
    """Book packet -> order packet for every order request of ``methods`` (see the module docstring).
    ``triggers`` maps a request id to the change_id that triggered it, for the clients that log it."""
    triggers = triggers or {}
    methods = frozenset(methods)
    latest: dict[Conn, int] = {}
    book_ts: dict[tuple[Conn, int], int] = {}
    out: list[int] = []
    result = TickToTrade(np.zeros(0))
    for m in wire.messages:
        if m.kind == BOOK:
            latest[m.conn] = m.ts_ns
            book_ts[(m.conn, m.change_id)] = m.ts_ns
        elif m.kind == REQUEST and m.method in methods:
            logged = book_ts.get((m.conn, triggers[m.rid])) if m.rid in triggers else None
            if logged is not None:
                out.append(m.ts_ns - logged)
                result.by_change_id += 1
            elif m.conn in latest:
                out.append(m.ts_ns - latest[m.conn])
                result.by_latest += 1
            else:
                result.no_trigger += 1
    result.samples_ns = np.asarray(out, dtype=np.float64)
    return result


def venue_times(wire: WireCapture, methods: Iterable[str]) -> dict[int, float]:
    """Request packet -> answer packet (ns) per request id, for the requests of ``methods`` that were answered.
    A request id reused on another connection keeps its latest round trip."""
    methods = frozenset(methods)
    sent: dict[tuple[Conn, int], int] = {}
    out: dict[int, float] = {}
    for m in wire.messages:
        if m.kind == REQUEST and m.method in methods:
            sent[(m.conn, m.rid)] = m.ts_ns
        elif m.kind == ANSWER:
            t0 = sent.pop((m.conn, m.rid), None)
            if t0 is not None:
                out[m.rid] = float(m.ts_ns - t0)
    return out


@dataclass
class RoundTripSplit:
    """Round trips seen both by the client (its own clock) and on the wire: the venue's part and ours."""

    venue_ns: np.ndarray
    ours_ns: np.ndarray
    unmatched: int = 0  # client round trips whose request or answer is not in the capture
    ids: list[int] = field(default_factory=list, repr=False)


def split_round_trips(venue: Mapping[int, float], client_rtt_ns: Mapping[int, float]) -> RoundTripSplit:
    """Per request id: venue part = request packet -> answer packet; ours = the client's round trip minus it."""
    ids = [rid for rid in client_rtt_ns if rid in venue]
    v = np.asarray([venue[rid] for rid in ids], dtype=np.float64)
    ours = np.asarray([client_rtt_ns[rid] for rid in ids], dtype=np.float64) - v
    return RoundTripSplit(v, ours, len(client_rtt_ns) - len(ids), ids)


WIRE_ROWS = ("tick to trade on the wire (book packet -> order packet)", "order placement: venue part",
             "order placement: ours", "position query: venue part", "position query: ours")


def wire_samples(wire: WireCapture, order_rtt_ns: Mapping[int, float], position_rtt_ns: Mapping[int, float],
                 triggers: Mapping[int, int] | None = None) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """The samples (ns) of every WIRE_ROWS row for one client, and counts that say how they were matched.
    ``order_rtt_ns`` / ``position_rtt_ns``: the client's own round trips of new orders / position queries by
    request id."""
    t2t = tick_to_trade(wire, triggers)
    orders = split_round_trips(venue_times(wire, NEW_ORDER_METHODS), order_rtt_ns)
    positions = split_round_trips(venue_times(wire, POSITION_METHODS), position_rtt_ns)
    samples = dict(zip(WIRE_ROWS, (t2t.samples_ns, orders.venue_ns, orders.ours_ns, positions.venue_ns,
                                   positions.ours_ns)))
    counts = {"orders_trigger_by_change_id": t2t.by_change_id, "orders_trigger_latest_book": t2t.by_latest,
              "orders_without_book_before": t2t.no_trigger, "order_round_trips_not_in_capture": orders.unmatched,
              "position_round_trips_not_in_capture": positions.unmatched, "messages_not_json_rpc": wire.skipped}
    return samples, counts


class WireRecording:
    """A capture of one TCP port on lo into a temporary pcap (tcpdump, or AF_PACKET; kernel timestamps), read
    back as a :class:`WireCapture` once stopped. RecordError when capturing is not allowed here."""

    def __init__(self, port: int, cpus: list[int] | None = None) -> None:
        from tickwire.md.record import Recorder

        fd, self.path = tempfile.mkstemp(prefix="tickwire-wire-", suffix=".pcap")
        os.close(fd)
        try:
            self.recorder = Recorder(self.path, iface="lo", port=port).start()
        except BaseException:
            os.unlink(self.path)
            raise
        if self.recorder.pid is not None and cpus:  # tcpdump off the engine's CPU
            os.sched_setaffinity(self.recorder.pid, set(cpus))
        self.start_ns = time.time_ns()

    def stop(self) -> WireCapture:
        """Stop capturing; every connection opened since the capture started (the file is removed)."""
        try:
            self.recorder.stop()
            return read_wire(self.path).between(self.start_ns, time.time_ns())
        finally:
            os.unlink(self.path)
