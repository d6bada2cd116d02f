"""A synthetic BTC-PERPETUAL market as a capture, for the backtest's equivalence test and benchmarks.

Deribit's raw channels as a session would record them: ``book.BTC-PERPETUAL.raw`` (a snapshot, then changes chained
by change_id) and ``trades.BTC-PERPETUAL.raw``. A trade takes the best levels of one side (each level it empties is
deleted in the book change that follows it, as Deribit sends it), so the price walks; between trades, levels near
the touch are added, changed and cancelled. Exchange timestamps are ms (Deribit's resolution); each message is
captured ``feed_latency_us`` after its exchange time plus a few µs of jitter, in time order.
"""
from __future__ import annotations

import random
from pathlib import Path

import orjson

import synth_session as synth

NAME = "BTC-PERPETUAL"  # tick 0.5 USD, lot 10 USD
T0_NS = 1_700_000_000_000_000_000


def messages(n: int, seed: int = 7, depth: int = 20, trade_share: float = 0.2,
             gap_us: float = 300.0) -> list[tuple[int, dict]]:
    """``n`` messages as (exchange time ns, message), in order."""
    rnd = random.Random(seed)
    mid = 2 * 60000
    bids = {mid - 1 - i: rnd.randrange(1, 300) for i in range(depth)}
    asks = {mid + 1 + i: rnd.randrange(1, 300) for i in range(depth)}
    change_id = 10**9
    t_ns = T0_NS

    def level(action: str, ticks: int, lots: int) -> list:
        return [action, ticks / 2, float(lots * 10)]

    def book_msg(data: dict) -> dict:
        return {"jsonrpc": "2.0", "method": "subscription",
                "params": {"channel": f"book.{NAME}.raw", "data": dict(data, timestamp=t_ns // 10**6,
                                                                        instrument_name=NAME)}}

    out = [(t_ns, book_msg({"type": "snapshot", "change_id": change_id,
                            "bids": [level("new", p, a) for p, a in sorted(bids.items(), reverse=True)],
                            "asks": [level("new", p, a) for p, a in sorted(asks.items())]}))]
    trade_id = 1
    while len(out) < n:
        t_ns += int(rnd.expovariate(1.0 / gap_us) * 1000) + 1
        changes: dict[str, list] = {"bids": [], "asks": []}
        if rnd.random() < trade_share:  # a taker sweeps the best level(s) of one side
            buy = rnd.random() < 0.5
            book, name = (asks, "asks") if buy else (bids, "bids")
            want = rnd.randrange(1, 400)
            trades = []
            for p in sorted(book, reverse=not buy):
                if want == 0 or len(book) <= 3:
                    break
                take = min(want, book[p])
                trades.append({"trade_seq": trade_id, "trade_id": str(trade_id), "timestamp": t_ns // 10**6,
                               "price": p / 2, "instrument_name": NAME, "direction": "buy" if buy else "sell",
                               "amount": float(take * 10), "tick_direction": 0, "mark_price": p / 2,
                               "index_price": p / 2})
                trade_id += 1
                want -= take
                book[p] -= take
                changes[name].append(level("change", p, book[p]) if book[p] else level("delete", p, 0))
                if book[p] == 0:
                    del book[p]
            if not trades:
                continue
            out.append((t_ns, {"jsonrpc": "2.0", "method": "subscription",
                               "params": {"channel": f"trades.{NAME}.raw", "data": trades}}))
        else:
            for _ in range(rnd.randrange(1, 4)):
                name = rnd.choice(["bids", "asks"])
                book = bids if name == "bids" else asks
                best_bid, best_ask = max(bids), min(asks)
                r = rnd.random()
                near = sorted(book, reverse=name == "bids")[:6]
                if r < 0.45:
                    p = rnd.choice(near)
                    book[p] = rnd.randrange(1, 300)
                    changes[name].append(level("change", p, book[p]))
                elif r < 0.65 and len(book) > 8:
                    p = rnd.choice(near)
                    del book[p]
                    changes[name].append(level("delete", p, 0))
                else:
                    p = (rnd.randrange(best_bid - 6, best_ask) if name == "bids"
                         else rnd.randrange(best_bid + 1, best_ask + 6))
                    if p in book or p in (asks if name == "bids" else bids):
                        continue
                    book[p] = rnd.randrange(1, 300)
                    changes[name].append(level("new", p, book[p]))
        if not changes["bids"] and not changes["asks"]:
            continue
        if len(out) >= n:
            break
        out.append((t_ns, book_msg({"type": "change", "prev_change_id": change_id,
                                    "change_id": change_id + 1, **changes})))
        change_id += 1
    return out[:n]


def write(path: Path, msgs: list[tuple[int, dict]], feed_latency_us: int = 800, seed: int = 3) -> Path:
    """The capture: handshake and upgrade, then each message in its own packet at exchange time + feed latency
    (+ up to 50 µs of jitter, never out of order)."""
    rnd = random.Random(seed)
    server, client = ("127.0.0.1", 8022), ("127.0.0.1", 51000)
    head = synth.session_packets(b"", t0_ns=msgs[0][0] - 10**7, client=client, server=server)
    pkts = [(ts, frame) for ts, frame, _, _, _ in head[:-2]]  # all but the FINs
    seq, ack = head[-2][2], head[-1][2]
    last = 0
    for t_ns, msg in msgs:
        payload = synth.ws_frames([orjson.dumps(msg)])
        last = max(last + 1, t_ns + feed_latency_us * 1000 + rnd.randrange(50_000))
        pkts.append((last, synth.tcp_frame(server[0], client[0], server[1], client[1], seq, ack, 0x18, payload)))
        seq = (seq + len(payload)) & 0xFFFFFFFF
    synth.write_packets(path, pkts)
    return path
