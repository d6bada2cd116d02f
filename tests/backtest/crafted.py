"""Small hand-made captures for the backtest tests: one WebSocket message per packet, each at its own capture time
(Deribit's message timestamp = the capture time, so the feed latency is zero unless a test says otherwise)."""
from __future__ import annotations

from pathlib import Path

import orjson

import synth_session as synth

MS = 1_000_000
T0 = 1_700_000_000_000 * MS  # capture and exchange time of the first message, ns
NAME = "BTC-PERPETUAL"  # tick 0.5 USD, lot 10 USD


def book(t_ms: int, change_id: int, bids: list, asks: list, prev: int | None = None) -> tuple[int, dict]:
    """A book.BTC-PERPETUAL.raw message at T0 + t_ms: a snapshot when ``prev`` is None; levels [action, px, usd]."""
    data = {"timestamp": T0 // MS + t_ms, "instrument_name": NAME, "change_id": change_id, "bids": bids,
            "asks": asks}
    if prev is None:
        data["type"] = "snapshot"
    else:
        data.update(type="change", prev_change_id=prev)
    return t_ms, {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": f"book.{NAME}.raw", "data": data}}


def trades(t_ms: int, *fills: tuple[str, float, float], first_id: int = 1) -> tuple[int, dict]:
    """A trades.BTC-PERPETUAL.raw message: (taker direction, price, usd) per trade."""
    data = [{"trade_seq": first_id + k, "trade_id": str(first_id + k), "timestamp": T0 // MS + t_ms,
             "price": px, "instrument_name": NAME, "direction": d, "amount": usd, "tick_direction": 0,
             "mark_price": px, "index_price": px} for k, (d, px, usd) in enumerate(fills)]
    return t_ms, {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": f"trades.{NAME}.raw",
                                                                          "data": data}}


def write(path: Path, messages: list[tuple[int, dict]], feed_latency_ms: int = 0) -> Path:
    """The capture: handshake and upgrade, then each message in its own packet at T0 + t_ms (+ feed latency)."""
    server, client = ("127.0.0.1", 8022), ("127.0.0.1", 51000)
    head = synth.session_packets(b"", t0_ns=T0 - 10 * MS, client=client, server=server)
    pkts = [(ts, frame) for ts, frame, _, _, _ in head[:-2]]  # all but the FINs
    seq = head[-2][2]  # the server's next sequence number (its FIN's)
    ack = head[-1][2]
    for t_ms, msg in messages:
        payload = synth.ws_frames([orjson.dumps(msg)])
        ts = T0 + (t_ms + feed_latency_ms) * MS
        pkts.append((ts, synth.tcp_frame(server[0], client[0], server[1], client[1], seq, ack, 0x18, payload)))
        seq += len(payload)
    synth.write_packets(path, pkts)
    return path
