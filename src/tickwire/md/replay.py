"""Replay a capture through the compiled market-data path: packets -> TCP -> WebSocket -> Deribit JSON -> book.

    report = Replay().run(PcapSource("session.pcap"))      # or any PacketSource (DPDK net_pcap, ...)
    report.as_dict(timing=False)                           # deterministic: the same every run

Stages per batch, each timed on its own: ``parse`` (packet headers), ``stream`` (TCP reassembly + WebSocket
deframing into a message arena), ``decode`` (compiled JSON codec), ``book`` (events applied to the books).
Messages the codec does not take go to the orjson reference path (``deribit_json.ref_decode``) in message order,
so the final book is what the exchange sent. A ``public/get_instruments`` response in the capture teaches the
instrument table new tick/lot sizes.

Seams:
- sources: anything with ``batches() -> Iterator[PacketBatch]`` (pcap file here; the DPDK part adds its own);
- UDP: ``UdpHandler`` objects get every batch's UDP packets (the multicast SBE part plugs in here, registered in
  ``UDP_HANDLERS`` by name for ``tickwire replay --udp NAME``).
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import numpy as np
import orjson

from tickwire.md.book import Books, book_apply_events
from tickwire.md import _stream as fs
from tickwire.deribit.json_decode import FB_NAMES, FB_UNKNOWN, new_outputs
from tickwire.deribit.instruments import InstrumentTable
from tickwire.deribit._ref import ref_decode
from tickwire.netstack.packet import CNT_OFFLOADED, CSUM_MODES, N_COUNTS, N_KINDS, new_packets, parse_packets
from tickwire.netstack.pcap import PacketBatch, read_capture
from tickwire.netstack.tcp import FLOW_STAT_NAMES, F_USED, TcpReassembler, tcp_flush
from tickwire.netstack.ws import ERR_NAMES, MASK_YES, S_ERR, S_MASK, STAT_NAMES
from tickwire.types import (
    BOOK_BID, BOOK_NO_PRICE, EV_BOOK, EV_KIND_NAMES, EV_TICKER, EV_TRADE, EVENT_DTYPE, PKT_KIND_NAMES,
    PKT_UDP,
)

STAGES = ("parse", "stream", "decode", "book")


class PacketSource(Protocol):
    """Where packets come from: a pcap file, a DPDK port, ... (``name`` shows in the report)."""

    name: str

    def batches(self) -> Iterator[PacketBatch]: ...


class UdpHandler(Protocol):
    """A consumer of UDP payloads (e.g. Deribit multicast SBE). ``index`` selects the UDP packets of ``packets``
    (PACKET_DTYPE records whose payload offsets point into ``batch.buf``)."""

    name: str

    def handle(self, batch: PacketBatch, packets: np.ndarray, index: np.ndarray) -> None: ...

    def report(self) -> dict[str, Any]: ...


UDP_HANDLERS: dict[str, Callable[[], UdpHandler]] = {}


def _sbe_handler() -> UdpHandler:
    from tickwire.md.mcast_feed import SbeUdpHandler  # Deribit multicast SBE

    return SbeUdpHandler()


UDP_HANDLERS["sbe"] = _sbe_handler


class PcapSource:
    """Packets of a pcap/pcapng file, in batches of views into the memory map."""

    def __init__(self, path: str | Path, batch: int = 4096, strict: bool = False) -> None:
        self.capture = read_capture(path, strict=strict)
        self.name = Path(path).name
        self.batch = batch

    def batches(self) -> Iterator[PacketBatch]:
        return self.capture.batches(self.batch)


@dataclass
class _Stage:
    ns: int = 0
    items: int = 0


@dataclass
class ReplayReport:
    """What a replay found. ``as_dict(timing=False)`` is deterministic for a given capture."""

    source: str
    packets: int = 0
    packet_kinds: dict[str, int] = field(default_factory=dict)
    tcp: dict[str, int] = field(default_factory=dict)
    websocket: dict[str, Any] = field(default_factory=dict)
    json: dict[str, Any] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    responses: int = 0
    book_gaps: int = 0
    instruments: dict[str, dict[str, Any]] = field(default_factory=dict)
    udp: dict[str, Any] = field(default_factory=dict)
    checksums: dict[str, Any] = field(default_factory=dict)
    capture_error: str | None = None
    throughput: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self, timing: bool = True) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "throughput"}
        if timing:
            out["throughput"] = self.throughput
        return out


class Replay:
    """The compiled pipeline with its preallocated state; ``run`` one source through it."""

    def __init__(self, table: InstrumentTable | None = None, books: Books | None = None,
                 udp_handlers: tuple[UdpHandler, ...] = (), max_flows: int = 128, rx_cap: int = 2 << 20,
                 arena_bytes: int = 64 << 20, checksums: str = "auto",
                 sink: Callable[[np.ndarray], None] | None = None) -> None:
        if checksums not in CSUM_MODES:
            raise ValueError(f"checksums must be one of {', '.join(CSUM_MODES)}, got {checksums!r}")
        self.checksums = checksums
        self.table = table or InstrumentTable()
        self.sink = sink  # given: the decoded events (message order, recv_ts = capture time) go there, not to books
        self.books = books or Books(len(self.table.arr))
        self.udp_handlers = udp_handlers
        self.tcp = TcpReassembler(max_flows=max_flows)
        self.wst, self.rx = fs.new_flow_buffers(max_flows, rx_cap)
        self.spans = np.zeros((1024, 4), np.int64)
        self.ctrl = np.zeros(4096, np.uint8)
        self.arena = np.zeros(arena_bytes, np.uint8)
        self.arena_limit = arena_bytes - rx_cap - len(self.tcp.pool) - (1 << 20)
        if self.arena_limit <= 0:
            raise ValueError("arena_bytes must exceed rx_cap + the TCP pool")
        self.msgs = np.zeros((1 << 20, fs.M_COLS), np.int64)
        self.st = np.zeros(2 + fs.N_COUNTERS, np.int64)
        self.events, self.resps, self.fb = new_outputs(events=1 << 16, resps=4096, spans=1 << 16)
        self.dec_out = np.zeros(5, np.int64)
        self.kinds = np.zeros(N_COUNTS, np.int64)
        self.stages = {s: _Stage() for s in STAGES}
        self.fallbacks: Counter[str] = Counter()
        self.slow_decoded = 0
        self.decoded = 0
        self.n_responses = 0
        self.ev_counts = np.zeros((len(self.table.arr), 4), np.int64)
        self.last_trade = np.full(len(self.table.arr), BOOK_NO_PRICE, np.int64)
        self.ticker = np.full((len(self.table.arr), 4), BOOK_NO_PRICE, np.int64)
        self.book_gaps = 0
        self.packets = 0

    # -- stages ---------------------------------------------------------------------------------------------
    def _timed(self, stage: str, items: int, fn: Callable[..., Any], *args: Any) -> Any:
        t = time.perf_counter_ns()
        out = fn(*args)
        self.stages[stage].ns += time.perf_counter_ns() - t
        self.stages[stage].items += items
        return out

    def _apply(self, events: np.ndarray) -> None:
        if len(events) == 0:
            return
        if self.sink is not None:
            self.sink(events)
            return
        px, qty, state = self.books.arrays
        self.book_gaps += self._timed("book", len(events), book_apply_events, px, qty, state, events, len(events))
        for kind in (EV_TRADE, EV_TICKER):
            sel = events[events["kind"] == kind]
            if len(sel) == 0:
                continue
            np.add.at(self.ev_counts[:, kind], sel["inst"], 1)
            if kind == EV_TRADE:
                self.last_trade[sel["inst"]] = sel["price"]
            else:
                for e in sel:
                    col = 0 if e["side"] == BOOK_BID else 2
                    self.ticker[e["inst"], col:col + 2] = (e["price"], e["amount"])
        books_ev = events["kind"] == EV_BOOK
        np.add.at(self.ev_counts[:, EV_BOOK], events["inst"][books_ev], 1)

    def _slow_path(self, msg_idx: int, reason: int) -> np.ndarray | None:
        """orjson reference path for one message; returns its events (or None)."""
        off, ln = self.msgs[msg_idx, fs.M_OFF], self.msgs[msg_idx, fs.M_LEN]
        raw = self.arena[off:off + ln].tobytes()
        kind, value = ref_decode(raw, self.table)
        if kind == "fallback" and value == "not_recognised":
            self._learn(raw)
        self.fallbacks[FB_NAMES.get(reason, str(reason))] += 1
        if kind == "response":
            self.n_responses += 1
        if kind != "events":
            return None
        self.slow_decoded += 1
        ev = np.zeros(len(value), dtype=EVENT_DTYPE)
        for j, (k, side, action, flags, inst, ts, cid, prev, price, amount) in enumerate(value):
            ev[j] = (k, side, action, flags, inst, ts, self.msgs[msg_idx, fs.M_TS], cid, prev, price, amount, msg_idx)
        return ev

    def _learn(self, raw: bytes) -> None:
        instruments = _instrument_list(raw)
        if instruments:
            self.table.learn(instruments)

    def _teaches_until(self, n_fb: int) -> int:
        """The message after the first fallback of the last decode that is a ``public/get_instruments`` answer
        naming an instrument the table lacks (-1: none): the messages after it must be decoded once it is learned,
        so that its instruments' messages take the compiled path too."""
        for i, reason in self.fb[:n_fb]:
            if reason != FB_UNKNOWN:
                continue
            off, ln = self.msgs[i, fs.M_OFF], self.msgs[i, fs.M_LEN]
            instruments = _instrument_list(self.arena[off:off + ln].tobytes())
            if instruments and any(self.table.slot(str(d.get("instrument_name"))) < 0 for d in instruments):
                return int(i) + 1
        return -1

    def _decode_and_apply(self) -> None:
        n_msgs = int(self.st[1])
        start = 0
        while start < n_msgs:
            self._timed("decode", 0, fs.decode_stage, self.arena, self.msgs, start, n_msgs, self.table.active,
                        self.events, self.resps, self.fb, self.dec_out)
            end = self._teaches_until(int(self.dec_out[2]))
            if 0 <= end < self.dec_out[3]:  # stop after the answer: what follows is decoded once it is learned
                self._timed("decode", 0, fs.decode_stage, self.arena, self.msgs, start, end, self.table.active,
                            self.events, self.resps, self.fb, self.dec_out)
            n_ev, n_resp, n_fb, nxt, decoded = (int(x) for x in self.dec_out)
            self.stages["decode"].items += decoded + n_fb
            self.n_responses += n_resp
            self.decoded += decoded
            events = self.events[:n_ev]
            if n_fb:
                slow = [self._slow_path(int(i), int(r)) for i, r in self.fb[:n_fb]]
                slow = [s for s in slow if s is not None]
                if slow:  # keep message order: the book must see messages as the exchange sent them
                    merged = np.concatenate([events] + slow)
                    events = merged[np.argsort(merged["msg"], kind="stable")]
            self._apply(events)
            start = nxt
        self.st[0] = 0
        self.st[1] = 0

    def _stream(self, pk: np.ndarray, buf: np.ndarray) -> None:
        i = 0
        while i < len(pk):
            j = self._timed("stream", 0, fs.tcp_ws_stage, pk, i, buf, *self.tcp.arrays, self.wst, self.rx,
                            self.spans, self.ctrl, self.arena, self.msgs, self.st, self.arena_limit)
            self.stages["stream"].items += j - i
            self._decode_and_apply()
            i = j

    def _udp(self, batch: PacketBatch, pk: np.ndarray) -> None:
        if not self.udp_handlers:
            return
        index = np.nonzero(pk["kind"] == PKT_UDP)[0]
        for h in self.udp_handlers:
            h.handle(batch, pk, index)

    def process(self, batch: PacketBatch) -> None:
        """Run one batch through every stage."""
        n = len(batch)
        pk = new_packets(n) if n > getattr(self, "_pk_cap", 0) else self._pk[:n]
        if n > getattr(self, "_pk_cap", 0):
            self._pk, self._pk_cap = pk, n
        self._timed("parse", n, parse_packets, batch.buf, batch.off, batch.caplen, batch.ts_ns, batch.linktype, pk,
                    self.kinds, CSUM_MODES[self.checksums])
        self.packets += n
        self._stream(pk, batch.buf)
        self._udp(batch, pk)

    def finish(self) -> None:
        """End of input: declare what TCP still misses lost and deliver the rest."""
        flows, segs, pool, g, chunks = self.tcp.arrays
        for f in np.nonzero(flows[:, F_USED])[0]:
            k = tcp_flush(flows, segs, g, chunks, f)
            if k:
                fs.flush_flow(f, flows, segs, pool, g, chunks, k, self.wst, self.rx, self.spans, self.ctrl,
                              self.arena, self.msgs, self.st, 0)
        self._decode_and_apply()

    def run(self, source: PacketSource, speed: str = "max") -> ReplayReport:
        """Replay every batch of ``source``; ``speed`` "max" or "1x" (paced by capture timestamps)."""
        if speed not in ("max", "1x"):
            raise ValueError(f"speed must be 'max' or '1x', got {speed!r}")
        t_start = None
        for batch in source.batches():
            if speed == "1x" and len(batch):
                for sub in _paced(batch, t_start):
                    t_start = t_start or sub[1]
                    self.process(sub[0])
            else:
                self.process(batch)
        self.finish()
        return self.report(source)

    # -- report ---------------------------------------------------------------------------------------------
    def report(self, source: PacketSource) -> ReplayReport:
        flows = self.tcp.flows
        used = np.nonzero(flows[:, F_USED])[0]
        rep = ReplayReport(source=source.name, packets=self.packets)
        rep.capture_error = getattr(getattr(source, "capture", None), "error", None)
        rep.packet_kinds = {PKT_KIND_NAMES[k]: int(self.kinds[k]) for k in range(N_KINDS) if self.kinds[k]}
        rep.checksums = {"mode": self.checksums, "offloaded_accepted": int(self.kinds[CNT_OFFLOADED])}
        rep.tcp = {"flows": len(used)} | {name: int(flows[used, col].sum()) for col, name in FLOW_STAT_NAMES.items()}
        rep.tcp["flow_table_full"] = int(self.st[2 + fs.C_TABLE_FULL])
        errors = Counter(ERR_NAMES[int(self.wst[f, S_ERR])] for f in used if self.wst[f, S_ERR])
        rep.websocket = {"messages": int(self.st[2 + fs.C_MSGS]), "client_messages": int(self.st[2 + fs.C_CLIENT_MSGS]),
                         "control_frames": int(self.st[2 + fs.C_CTRL]), "overflow": int(self.st[2 + fs.C_OVERFLOW])}
        for col, name in STAT_NAMES.items():
            if name in ("resyncs", "skipped_bytes"):
                rep.websocket[name] = int(self.wst[used, col].sum())
        rep.websocket["errors"] = dict(sorted(errors.items()))
        rep.json = {"decoded": self.decoded, "slow_path_decoded": self.slow_decoded,
                    "fallback": dict(sorted(self.fallbacks.items()))}
        rep.events = {EV_KIND_NAMES[k]: int(self.ev_counts[:, k].sum()) for k in (EV_BOOK, EV_TRADE, EV_TICKER)}
        rep.responses = self.n_responses
        rep.book_gaps = self.book_gaps
        for slot, name in enumerate(self.table.names):
            summary = self.books.summary(slot)
            if summary["messages"] == 0 and not self.ev_counts[slot].any():
                continue
            rep.instruments[name] = self._instrument(slot, summary)
        # a venue stream that ended on a protocol error lost what followed: its books cannot be trusted
        broken = any(self.wst[f, S_ERR] and self.wst[f, S_MASK] != MASK_YES for f in used)
        for book in rep.instruments.values():
            book["valid"] = book["valid"] and not broken
        rep.udp = {h.name: h.report() for h in self.udp_handlers}
        rep.throughput = {s: {"seconds": st.ns / 1e9, "items": st.items,
                              "items_per_s": st.items / (st.ns / 1e9) if st.ns else 0.0}
                          for s, st in self.stages.items()}
        return rep

    def _instrument(self, slot: int, s: dict[str, int]) -> dict[str, Any]:
        tick = float(self.table.arr[slot]["tick_size"])
        lot = float(self.table.arr[slot]["lot_size"])

        def price(t: int) -> float | None:
            return None if t == BOOK_NO_PRICE else t * tick

        out: dict[str, Any] = {
            "best_bid": price(s["best_bid"]), "best_bid_amount": s["best_bid_amount"] * lot,
            "best_ask": price(s["best_ask"]), "best_ask_amount": s["best_ask_amount"] * lot,
            "bid_levels": s["bids"], "ask_levels": s["asks"], "last_change_id": s["last_change_id"],
            "valid": bool(s["valid"]), "book_messages": s["messages"], "gaps": s["gaps"], "errors": s["errors"],
            "checksum": f"{s['checksum']:016x}", "trades": int(self.ev_counts[slot, EV_TRADE]),
            "last_trade": price(int(self.last_trade[slot])), "tickers": int(self.ev_counts[slot, EV_TICKER]) // 2,
        }
        if self.ticker[slot, 0] != BOOK_NO_PRICE:
            out["ticker_best_bid"] = price(int(self.ticker[slot, 0]))
            out["ticker_best_ask"] = price(int(self.ticker[slot, 2]))
        return out


def _instrument_list(raw: bytes) -> list[dict[str, Any]] | None:
    """The result of a ``public/get_instruments`` answer (instruments with a tick size), else None."""
    try:
        result = orjson.loads(raw).get("result")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    if isinstance(result, list) and result and all(isinstance(d, dict) for d in result) and "tick_size" in result[0]:
        return result
    return None


def _paced(batch: PacketBatch, t0_wall: tuple[int, int] | None) -> Iterator[tuple[PacketBatch, tuple[int, int]]]:
    """Split a batch at capture-time boundaries and sleep so packets are processed at 1x capture speed."""
    base = t0_wall or (time.monotonic_ns(), int(batch.ts_ns[0]))
    i = 0
    n = len(batch)
    while i < n:
        due = base[0] + (int(batch.ts_ns[i]) - base[1])
        now = time.monotonic_ns()
        if due > now:
            time.sleep((due - now) / 1e9)
        now_cap = base[1] + (time.monotonic_ns() - base[0])
        j = i + 1
        while j < n and batch.ts_ns[j] <= now_cap:
            j += 1
        yield PacketBatch(batch.buf, batch.off[i:j], batch.caplen[i:j], batch.ts_ns[i:j], batch.linktype[i:j]), base
        i = j


def open_source(path: str | Path, kind: str = "file") -> PacketSource:
    """The source `tickwire replay --source` names: the file's memory map, or the file played through DPDK."""
    if kind == "file":
        return PcapSource(path)
    if kind == "dpdk":
        from tickwire.md.source_dpdk import DpdkPcapSource

        return DpdkPcapSource(path)
    raise ValueError(f"unknown packet source {kind!r}; known: file, dpdk")


def replay_file(path: str | Path, speed: str = "max", udp: tuple[str, ...] = (),
                table: InstrumentTable | None = None, source: str = "file", checksums: str = "auto") -> ReplayReport:
    """Replay a pcap/pcapng file (the `tickwire replay` command); ``source`` as in ``open_source``, ``checksums``
    auto | strict | off (see tickwire.netstack.packet)."""
    handlers = []
    for name in udp:
        if name not in UDP_HANDLERS:
            raise ValueError(f"unknown UDP handler {name!r}; known: {sorted(UDP_HANDLERS) or 'none'}")
        handlers.append(UDP_HANDLERS[name]())
    return Replay(table=table, udp_handlers=tuple(handlers), checksums=checksums).run(open_source(path, source),
                                                                                      speed=speed)


__all__ = ["PacketSource", "PcapSource", "Replay", "ReplayReport", "UdpHandler", "UDP_HANDLERS", "open_source",
           "replay_file"]
