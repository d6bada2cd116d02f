"""Benchmarks of the compiled market-data path against the usual Python stacks (shared by the opt-in benchmarks
and their smoke tests). Every function returns a dict of figures; ratios are computed within one run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import msgspec
import numpy as np
import orjson
from numba import njit

from tickwire.clock import tsc_to_ns
from tickwire.md.book import Books, book_apply_events
from tickwire.native import lib
import synth_session as synth
from tickwire.deribit.instruments import InstrumentTable
from tickwire.deribit.json_decode import decode_message, new_outputs
from tickwire.bench.stats import latency_percentiles_us

TICK, LOT = 0.5, 10.0


def messages(n: int) -> list[bytes]:
    """Book changes of BTC-PERPETUAL as Deribit sends them (a snapshot first)."""
    return synth.book_messages(n, seed=42)


@njit
def _ours_timed(buf, offs, insts, events, resps, px, qty, st, lat):
    """Decode + apply every message; per-message TSC latency into lat. (Not cached: it calls cffi.)"""
    total = 0
    for i in range(offs.shape[0] - 1):
        t0 = lib.tw_rdtsc()
        status, n, _ = decode_message(buf, offs[i], offs[i + 1], insts, events, 0, resps, 0, i, 0)
        if status == 0:
            book_apply_events(px, qty, st, events, n)
            total += n
        lat[i] = lib.tw_rdtsc() - t0
    return total


def _py_book_apply(book: tuple[dict, dict], data: dict[str, Any]) -> None:
    """The plain-Python book the baselines feed: dict price->amount per side, ticks/lots like ours."""
    if data["type"] == "snapshot":
        book[0].clear()
        book[1].clear()
    for side, key in ((0, "bids"), (1, "asks")):
        levels = book[side]
        for action, price, amount in data[key]:
            t = round(price / TICK)
            if action == "delete":
                levels.pop(t, None)
            else:
                levels[t] = round(amount / LOT)


class _Level(msgspec.Struct, array_like=True):
    action: str
    price: float
    amount: float


class _Data(msgspec.Struct):
    type: str
    timestamp: int
    instrument_name: str
    change_id: int
    bids: list[tuple[str, float, float]]
    asks: list[tuple[str, float, float]]
    prev_change_id: int | None = None


class _Params(msgspec.Struct):
    channel: str
    data: _Data


class _Msg(msgspec.Struct):
    method: str
    params: _Params
    jsonrpc: str = "2.0"


def _baselines() -> dict[str, Callable[[bytes, tuple[dict, dict]], None]]:
    typed = msgspec.json.Decoder(_Msg)
    generic = msgspec.json.Decoder()

    def msgspec_typed(raw: bytes, book: tuple[dict, dict]) -> None:
        d = typed.decode(raw).params.data
        _py_book_apply(book, {"type": d.type, "bids": d.bids, "asks": d.asks})

    return {
        "json": lambda raw, book: _py_book_apply(book, json.loads(raw)["params"]["data"]),
        "orjson": lambda raw, book: _py_book_apply(book, orjson.loads(raw)["params"]["data"]),
        "msgspec": lambda raw, book: _py_book_apply(book, generic.decode(raw)["params"]["data"]),
        "msgspec_struct": msgspec_typed,
    }


def bench_decode_apply(n: int = 20000, repeat: int = 3) -> dict[str, Any]:
    """Messages/s and per-message latency (µs percentiles) of decode + book apply: ours vs json/orjson/msgspec."""
    msgs = messages(n)
    buf = np.frombuffer(b"".join(msgs), dtype=np.uint8)
    offs = np.cumsum([0] + [len(m) for m in msgs]).astype(np.int64)
    table = InstrumentTable()
    events, resps, _ = new_outputs(events=4096, resps=4)
    lat = np.zeros(n, np.int64)
    best = float("inf")
    for _ in range(repeat):
        books = Books(len(table.arr), 256)
        t = time.perf_counter()
        applied = _ours_timed(buf, offs, table.active, events, resps, *books.arrays, lat)
        best = min(best, time.perf_counter() - t)
    book_ours = books.levels(0, 0)
    out: dict[str, Any] = {"messages": n, "mean_bytes": float(np.mean([len(m) for m in msgs])),
                           "ours": {"msgs_per_s": n / best,
                                    "latency_us": latency_percentiles_us(tsc_to_ns(lat.astype(float)))},
                           "levels_applied": int(applied)}
    for name, fn in _baselines().items():
        best = float("inf")
        per = np.zeros(n, np.int64)
        for _ in range(repeat):
            book: tuple[dict, dict] = ({}, {})
            t = time.perf_counter()
            for i, raw in enumerate(msgs):
                t0 = time.perf_counter_ns()
                fn(raw, book)
                per[i] = time.perf_counter_ns() - t0
            best = min(best, time.perf_counter() - t)
        assert sorted(book[0].items(), reverse=True) == book_ours, name  # same book as ours
        out[name] = {"msgs_per_s": n / best, "latency_us": latency_percentiles_us(per)}
        out[f"ratio_vs_{name}"] = out["ours"]["msgs_per_s"] / out[name]["msgs_per_s"]
    return out


DATA = Path(__file__).resolve().parents[1] / "data" / "deribit"


def _quiet_engine() -> Any:
    """An engine on BTC-PERPETUAL with a Python-tier strategy that never acts (the pass decides nothing)."""
    from tickwire.config import load
    from tickwire.engine.engine import Engine, Instrument
    from tickwire.engine.strategy import Strategy

    info = {"instrument_name": "BTC-PERPETUAL", "tick_size": 0.5, "min_trade_amount": 10.0, "base_currency": "BTC"}
    return Engine(load(None, {}), [Instrument(info)], Strategy, "twb-")


def bench_pass_call(n: int = 200_000) -> dict[str, Any]:
    """Python-side cost of one compiled-pass call (``Engine.compiled_pass``, what the async driver pays per
    socket read): a read with no new bytes, and a read of one small real frame (a ticker notification: decoded,
    no book change). Per-call µs percentiles (perf_counter_ns around each call) and the mean of the whole loop."""
    engine = _quiet_engine()
    ticker = (DATA / "cmp_ticker_BTC-PERPETUAL_100ms.json").read_bytes().strip()
    frame = bytes([0x81, 126]) + len(ticker).to_bytes(2, "big") + ticker  # server -> client text frame
    cases = {"empty_read": np.zeros(0, np.uint8), "ticker_frame": np.frombuffer(frame, np.uint8)}
    out: dict[str, Any] = {"calls": n}
    per = np.zeros(n, np.int64)
    for name, buf in cases.items():
        engine.compiled_pass(buf, 0, -1)  # compile
        t = time.perf_counter_ns()
        for i in range(n):
            t0 = time.perf_counter_ns()
            engine.compiled_pass(buf, 0, -1)
            per[i] = time.perf_counter_ns() - t0
        mean_us = (time.perf_counter_ns() - t) / n / 1e3
        out[name] = {"mean_us": mean_us, "latency_us": latency_percentiles_us(per)}
    assert engine.counters[0] >= n  # every ticker frame was decoded (C_MESSAGES)
    return out


def write_capture(path: Path, n: int) -> int:
    pkts = synth.session_packets(synth.ws_frames(messages(n)))
    return synth.write_packets(path, [(t, f) for t, f, *_ in pkts])


def _python_pipeline(packets: list[tuple[int, bytes, int, bytes]]) -> dict[int, int]:
    """Reassembly + deframe + orjson + dict book in Python over (key, flags, seq, payload) tuples."""
    from tickwire.netstack.tcp import ref_reassemble
    from tickwire.netstack.ws import ref_deframe

    flows: dict[int, list] = {}
    isn: dict[int, int] = {}
    for key, syn, seq, payload in packets:
        if syn:
            isn[key] = seq
        flows.setdefault(key, []).append((seq, payload, syn))
    book: tuple[dict, dict] = ({}, {})
    for key, segs in flows.items():
        stream, _ = ref_reassemble(segs, isn[key])
        for _op, msg in ref_deframe(stream):
            data = orjson.loads(msg).get("params", {}).get("data") if msg[:1] == b"{" else None
            if isinstance(data, dict) and "bids" in data:
                _py_book_apply(book, data)
    return book[0]


def bench_pcap_to_book(path: Path, scapy_packets: int | None = None) -> dict[str, Any]:
    """Packets/s from pcap file to book: ours (replay) vs dpkt and scapy (rdpcap) pipelines."""
    import dpkt
    from scapy.all import TCP, rdpcap

    from tickwire.md.replay import PcapSource, Replay

    Replay().run(PcapSource(path))  # warm (compile/load kernels)
    t = time.perf_counter()
    replay = Replay()
    rep = replay.run(PcapSource(path))
    ours = time.perf_counter() - t
    n_pkts = rep.packets
    out: dict[str, Any] = {"packets": n_pkts, "messages": rep.websocket["messages"],
                           "ours": {"packets_per_s": n_pkts / ours, "seconds": ours}}
    t = time.perf_counter()
    with path.open("rb") as f:
        pk = []
        for _ts, raw in dpkt.pcap.Reader(f):
            ip = dpkt.ethernet.Ethernet(raw).data
            tcp = ip.data
            pk.append((hash((ip.src, ip.dst, tcp.sport, tcp.dport)), bool(tcp.flags & dpkt.tcp.TH_SYN), tcp.seq,
                       bytes(tcp.data)))
    book = _python_pipeline(pk)
    dt = time.perf_counter() - t
    assert sorted(book.items(), reverse=True) == replay.books.levels(0, 0)
    out["dpkt"] = {"packets_per_s": n_pkts / dt, "seconds": dt}
    out["ratio_vs_dpkt"] = out["ours"]["packets_per_s"] / out["dpkt"]["packets_per_s"]
    t = time.perf_counter()
    cap = rdpcap(str(path), count=scapy_packets or -1)
    pk = [(hash((p["IP"].src, p["IP"].dst, p[TCP].sport, p[TCP].dport)), bool(p[TCP].flags & 0x02), p[TCP].seq,
           bytes(p[TCP].payload)) for p in cap]
    _python_pipeline(pk)
    dt = time.perf_counter() - t
    out["scapy"] = {"packets_per_s": len(cap) / dt, "seconds": dt, "packets": len(cap)}
    out["ratio_vs_scapy"] = out["ours"]["packets_per_s"] / out["scapy"]["packets_per_s"]
    return out


_JIT_SCRIPT = """
import time, sys
t0 = time.perf_counter()
from tickwire.md.replay import replay_file
rep = replay_file(sys.argv[1])
print(time.perf_counter() - t0, rep.websocket["messages"])
"""


def bench_jit(path: Path, cache_dir: Path | None, cold: bool = True) -> dict[str, float]:
    """Seconds to import and replay a small capture in a fresh process: with an empty numba cache (cold: every
    kernel compiles) and then with the cache that run filled. ``cache_dir`` None: the package's own cache."""
    env = dict(os.environ) if cache_dir is None else dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    out = {}
    for label in (("cold", "cached") if cold else ("cached",)):
        res = subprocess.run([sys.executable, "-c", _JIT_SCRIPT, str(path)], capture_output=True, text=True,
                             env=env, timeout=600, check=True)
        out[f"{label}_s"] = float(res.stdout.split()[0])
    return out


def show(title: str, figures: dict[str, Any]) -> None:
    print(f"\n== {title}\n{json.dumps(figures, indent=1, default=float)}")
