"""Whole, valid Deribit WebSocket messages drawn from a seeded ``random.Random``, in Deribit's own shape (key order,
the fields the decoder skips such as ``stats``, ``mark_price``, ``label``), plus other spellings of the same JSON and
damaged copies. Shared by the differential tests and the fuzz benchmark, so both compare on the same inputs.

Every valid message is one the reference decoder decodes (book levels on the tick, amounts on the lot of an
instrument of ``table()``): a fallback of the compiled decoder on one of them is a missed fast path, not noise.
"""
from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from tickwire.deribit.instruments import InstrumentTable

# name -> (tick, lot) as Deribit lists them; ETH_USDC-PERPETUAL has a fractional lot
INSTRUMENTS = {"BTC-PERPETUAL": ("0.5", "10"), "ETH-PERPETUAL": ("0.05", "1"), "ETH_USDC-PERPETUAL": ("0.05", "0.001")}
ORDER_STATES = ("open", "filled", "rejected", "cancelled", "untriggered")


def table() -> InstrumentTable:
    """An instrument table holding every instrument the generators use."""
    t = InstrumentTable()
    for name, (tick, lot) in INSTRUMENTS.items():
        t.add(name, tick, lot)
    return t


def _units(rnd: random.Random, unit: str, lo: int, hi: int) -> float:
    """A multiple of ``unit`` (a decimal string) between lo and hi units, as the float Deribit would print."""
    return _times(rnd.randint(lo, hi), unit)


def _times(k: int, unit: str) -> float:
    """k * unit, as the shortest float (what Deribit prints for a price on the tick)."""
    return float(f"{k * float(unit):.10g}")


def _ts(rnd: random.Random) -> int:
    return rnd.randint(1_500_000_000_000, 1_800_000_000_000)


def book(rnd: random.Random) -> dict[str, Any]:
    """A ``book.{name}.{raw|100ms}`` snapshot or change with 0..8 levels a side."""
    name = rnd.choice(list(INSTRUMENTS))
    tick, lot = INSTRUMENTS[name]
    snapshot = rnd.random() < 0.2
    change_id = rnd.randint(1, 2**40)

    def levels() -> list[list[Any]]:
        out = []
        for _ in range(rnd.randint(0, 8)):
            action = "new" if snapshot else rnd.choice(("new", "change", "delete"))
            amount = 0.0 if action == "delete" else _units(rnd, lot, 1, 500_000)
            out.append([action, _units(rnd, tick, 1, 400_000), amount])
        return out

    data: dict[str, Any] = {"type": "snapshot" if snapshot else "change", "timestamp": _ts(rnd)}
    if not snapshot:
        data["prev_change_id"] = change_id - rnd.randint(1, 3)
    data.update({"instrument_name": name, "change_id": change_id, "bids": levels(), "asks": levels()})
    interval = rnd.choice(("raw", "100ms"))
    return {"jsonrpc": "2.0", "method": "subscription",
            "params": {"channel": f"book.{name}.{interval}", "data": data}}


def trades(rnd: random.Random) -> dict[str, Any]:
    """A ``trades.{name}.raw`` notification with 1..5 trades."""
    name = rnd.choice(list(INSTRUMENTS))
    tick, lot = INSTRUMENTS[name]
    rows = []
    for _ in range(rnd.randint(1, 5)):
        row: dict[str, Any] = {"trade_seq": rnd.randint(1, 2**40), "trade_id": str(rnd.randint(1, 10**15)),
                               "timestamp": _ts(rnd), "tick_direction": rnd.randint(0, 3),
                               "price": _units(rnd, tick, 1, 400_000), "mark_price": round(rnd.uniform(1, 1e5), 2),
                               "instrument_name": name, "index_price": round(rnd.uniform(1, 1e5), 2),
                               "direction": rnd.choice(("buy", "sell")), "amount": _units(rnd, lot, 1, 100_000)}
        if rnd.random() < 0.1:
            row["liquidation"] = "M"
        rows.append(row)
    return {"jsonrpc": "2.0", "method": "subscription",
            "params": {"channel": f"trades.{name}.raw", "data": rows}}


def ticker(rnd: random.Random) -> dict[str, Any]:
    """A ``ticker.{name}.100ms`` notification with Deribit's nested ``stats`` and the other fields."""
    name = rnd.choice(list(INSTRUMENTS))
    tick, lot = INSTRUMENTS[name]
    bid_ticks = rnd.randint(1, 400_000)
    bid = _times(bid_ticks, tick)
    data = {"timestamp": _ts(rnd),
            "stats": {"volume_usd": round(rnd.uniform(0, 1e9), 1), "volume": round(rnd.uniform(0, 1e5), 8),
                      "price_change": round(rnd.uniform(-10, 10), 4), "low": bid, "high": bid},
            "state": "open", "settlement_price": round(rnd.uniform(1, 1e5), 2),
            "open_interest": rnd.randint(0, 10**9), "mark_price": round(rnd.uniform(1, 1e5), 2),
            "last_price": bid, "instrument_name": name, "index_price": round(rnd.uniform(1, 1e5), 2),
            "funding_8h": 0.00000255, "current_funding": 0.0, "best_bid_price": bid,
            "best_bid_amount": _units(rnd, lot, 0, 500_000), "best_ask_price": _times(bid_ticks + 1, tick),
            "best_ask_amount": _units(rnd, lot, 0, 500_000)}
    return {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": f"ticker.{name}.100ms", "data": data}}


def order_answer(rnd: random.Random) -> dict[str, Any]:
    """An answer to private/buy, sell, edit or cancel: {order, trades}, a bare order, or an error."""
    rid = rnd.randint(1, 2**40)
    us_in = rnd.randint(1_600_000_000_000_000, 1_800_000_000_000_000)
    head: dict[str, Any] = {"jsonrpc": "2.0", "id": rid}
    tail = {"usIn": us_in, "usOut": us_in + rnd.randint(1, 50_000), "usDiff": 0, "testnet": True}
    tail["usDiff"] = tail["usOut"] - us_in
    if rnd.random() < 0.1:
        code, message = rnd.choice(((10028, "too_many_requests"), (10009, "not_enough_funds"),
                                    (11044, "not_open_order"), (13009, "unauthorized")))
        return {**head, "error": {"message": message, "data": {"reason": "generated"}, "code": code}, **tail}
    name = rnd.choice(list(INSTRUMENTS))
    tick, lot = INSTRUMENTS[name]
    amount = _units(rnd, lot, 1, 10_000)
    state = rnd.choice(ORDER_STATES)
    filled = amount if state == "filled" else (0.0 if rnd.random() < 0.7 else _units(rnd, lot, 0, 10_000))
    order = {"label": f"tw-{rnd.randint(0, 10**6)}", "price": _units(rnd, tick, 1, 400_000),
             "user_id": rnd.randint(1, 10**6), "amount": amount, "direction": rnd.choice(("buy", "sell")),
             "time_in_force": "good_til_cancelled", "instrument_name": name, "web": False, "api": True,
             "order_id": rnd.choice(("", "USDC-", "ETH-")) + str(rnd.randint(1, 10**11)),
             "creation_timestamp": _ts(rnd), "replaced": False, "filled_amount": filled, "post_only": True,
             "reduce_only": False, "average_price": round(rnd.uniform(0, 1e5), 2) if filled else 0.0, "mmp": False,
             "order_state": state, "order_type": "limit"}
    result: dict[str, Any] = order if rnd.random() < 0.3 else {"order": order, "trades": []}
    return {**head, "result": result, **tail}


KINDS: dict[str, Callable[[random.Random], dict[str, Any]]] = {
    "book": book, "trades": trades, "ticker": ticker, "order_answer": order_answer}


def canonical(msg: dict[str, Any]) -> bytes:
    """Deribit's encoding: compact, keys in the given order, floats as Python prints them."""
    return json.dumps(msg, separators=(",", ":")).encode()


def _num_text(v: float | int, rnd: random.Random) -> str:
    """Equivalent spellings of a number: plain, trailing zeros, exponent forms, -0.0, very long."""
    if type(v) is int:
        return rnd.choice([str(v), str(v), f"{v}.0", f"{v}e0", f"{v}0e-1" if v else "0e5"])
    text = repr(v)
    d = text.replace("-", "")
    choices = [text, text + "0", text + "000000000000000000000", f"{v:.17g}", f"{v:e}"]
    if "e" not in d and "." in d:
        whole, frac = d.split(".")
        digits = (whole + frac).lstrip("0") or "0"
        choices.append(("-" if v < 0 else "") + digits + f"e-{len(frac)}")
    if v == 0:
        choices.append("-0.0")
    return rnd.choice(choices)


def _str_text(s: str, rnd: random.Random, odd: float) -> str:
    mode = rnd.random()
    if mode >= odd:
        return json.dumps(s, ensure_ascii=False)
    if mode < odd / 2:
        return json.dumps(s, ensure_ascii=True)
    return '"' + "".join(f"\\u{ord(c):04x}" if rnd.random() < 0.3 else c for c in s) + '"'


def respell(obj: Any, rnd: random.Random, odd: float = 0.03) -> str:
    """The same JSON value spelled another way: any whitespace and key order; each number or string spelled
    unusually (exponents, long digits, -0.0, \\u escapes) with probability ``odd``."""
    ws = lambda: rnd.choice(["", "", "", " ", "\n  ", "\t"])  # noqa: E731
    if isinstance(obj, dict):
        items = list(obj.items())
        if rnd.random() < 0.3:
            rnd.shuffle(items)
        return "{" + ws() + ",".join(f"{ws()}{_str_text(k, rnd, odd)}{ws()}:{ws()}{respell(v, rnd, odd)}{ws()}"
                                     for k, v in items) + "}"
    if isinstance(obj, list):
        return "[" + ",".join(ws() + respell(v, rnd, odd) + ws() for v in obj) + "]"
    if isinstance(obj, bool) or obj is None:
        return json.dumps(obj)
    if isinstance(obj, (int, float)):
        return _num_text(obj, rnd) if rnd.random() < odd else json.dumps(obj)
    return _str_text(obj, rnd, odd)


def damage(raw: bytes, rnd: random.Random) -> bytes:
    """A damaged copy: truncated, a byte flipped or dropped, a trailing comma or byte, a quote swapped."""
    how = rnd.randrange(6)
    if how == 0:
        return raw[:rnd.randrange(len(raw))]
    if how == 1:
        i = rnd.randrange(len(raw))
        return raw[:i] + bytes([rnd.randrange(256)]) + raw[i + 1:]
    if how == 2:
        return raw[:-1] + b",}"
    if how == 3:
        return raw + b"x"
    if how == 4:
        i = rnd.randrange(len(raw))
        return raw[:i] + raw[i + 1:]
    return raw.replace(b'"', b"'", 1)


def mixed(rnd: random.Random) -> bytes:
    """One input for a fuzz run: a canonical valid message (half), respelled (a third), or damaged."""
    msg = KINDS[rnd.choice(list(KINDS))](rnd)
    mode = rnd.random()
    if mode < 0.5:
        return canonical(msg)
    if mode < 0.83:
        return respell(msg, rnd, odd=rnd.choice((0.01, 0.1, 0.5))).encode()
    return damage(canonical(msg) if rnd.random() < 0.5 else respell(msg, rnd).encode(), rnd)
