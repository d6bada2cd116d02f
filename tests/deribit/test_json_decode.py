"""Compiled Deribit JSON codec vs the orjson reference path: every real sample, then hypothesis-generated and
malformed messages. Equal values or an explicit fallback — never a mismatch."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickwire.deribit import _ref, json_decode as dj
from tickwire.deribit.instruments import InstrumentTable

DATA = Path(__file__).resolve().parents[1] / "data" / "deribit"
SAMPLES = sorted(DATA.glob("*.json"))
TABLE = InstrumentTable()
TABLE.add("ETH_USDC-PERPETUAL", "0.05", "0.001")
TABLE_NO_USDC = InstrumentTable()


def compiled(raw: bytes, table: InstrumentTable = TABLE) -> tuple[str, Any]:
    events, resps, _ = dj.new_outputs(events=4096, resps=4)
    b = np.frombuffer(raw, dtype=np.uint8)
    status, n_ev, n_resp = dj.decode_message(b, 0, len(b), table.active, events, 0, resps, 0, 3, 99)
    if status == dj.DEC_EVENTS:
        assert n_resp == 0 and (events[:n_ev]["msg"] == 3).all() and (events[:n_ev]["recv_ts"] == 99).all()
        return "events", _ref.event_tuples(events[:n_ev])
    if status == dj.DEC_RESPONSE:
        assert n_ev == 0 and n_resp == 1
        return "response", _ref.response_tuple(resps[0])
    assert n_ev == 0 and n_resp == 0
    return "fallback", status


def agree(raw: bytes, table: InstrumentTable = TABLE) -> str:
    """Assert the compiled result equals the reference or is a fallback; return the compiled verdict."""
    got = compiled(raw, table)
    if got[0] != "fallback":
        assert got == _ref.ref_decode(raw, table), raw[:300]
    return got[0]


def test_every_real_sample_agrees_and_market_data_is_decoded() -> None:
    verdicts = {p.name: agree(p.read_bytes()) for p in SAMPLES}
    for name, verdict in verdicts.items():
        kind = _ref.ref_decode((DATA / name).read_bytes(), TABLE)[0]
        if kind != "fallback":  # whatever the reference decodes, the compiled path decodes too
            assert verdict == kind, name
    assert verdicts["cmp_book_BTC-PERPETUAL_100ms_snapshot.json"] == "events"
    assert verdicts["nautilus_ws_order_buy_response.json"] == "response"
    assert verdicts["nautilus_ws_heartbeat_test_request.json"] == "fallback"
    assert verdicts["nautilus_ws_book_grouped_snapshot_none_10_100ms.json"] == "fallback"  # grouped: slow path


def test_real_values_are_exact() -> None:
    kind, events = compiled((DATA / "cmp_book_BTC-PERPETUAL_100ms_change.json").read_bytes())
    # bids: delete 36779.0, new 36809.5 x 254870.0 ; tick 0.5, lot 10
    assert events[1][1:3] == (0, 1) and events[1][8:] == (73619, 25487)
    assert events[0][3] & 2 and events[-1][3] & 4 and events[0][6] == 31479598217 and events[0][7] == 31479598064
    kind, resp = compiled((DATA / "nautilus_ws_order_buy_response.json").read_bytes())
    assert resp[1] == 3 and resp[3] == 1 and resp[9] == 2973.55 and resp[-1] == b"USDC-104819327443"
    assert resp[6:9] == (59471, 1, 0) and resp[13] == 1767978363495053
    kind, resp = compiled((DATA / "nautilus_ws_order_buy_response.json").read_bytes(), TABLE_NO_USDC)
    assert kind == "response" and resp[5] == -1 and resp[6:9] == (0, 0, 0)  # unknown instrument: floats only
    kind, resp = compiled((DATA / "nautilus_ws_error_too_many_requests.json").read_bytes())
    assert resp[:3] == (2, 1, 10028)


# --- generated messages --------------------------------------------------------------------------------------

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


def _str_text(s: str, rnd: random.Random) -> str:
    mode = rnd.random()
    if mode < 0.8:
        return json.dumps(s, ensure_ascii=False)
    if mode < 0.9:
        return json.dumps(s, ensure_ascii=True)
    return '"' + "".join(f"\\u{ord(c):04x}" if rnd.random() < 0.3 else c for c in s) + '"'


def dump(obj: Any, rnd: random.Random) -> str:
    ws = lambda: rnd.choice(["", "", "", " ", "\n  ", "\t"])  # noqa: E731
    if isinstance(obj, dict):
        items = list(obj.items())
        if rnd.random() < 0.3:
            rnd.shuffle(items)
        return "{" + ws() + ",".join(f"{ws()}{_str_text(k, rnd)}{ws()}:{ws()}{dump(v, rnd)}{ws()}"
                                     for k, v in items) + "}"
    if isinstance(obj, list):
        return "[" + ",".join(ws() + dump(v, rnd) + ws() for v in obj) + "]"
    if isinstance(obj, bool) or obj is None:
        return json.dumps(obj)
    if isinstance(obj, (int, float)):
        return _num_text(obj, rnd)
    return _str_text(obj, rnd)


def _mostly(good: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
    """Valid values 11 times out of 12, so most generated messages exercise the decoded path."""
    return st.integers(0, 11).flatmap(lambda i: bad if i == 0 else good)


_float = st.tuples(st.floats(0, 1e6), st.integers(0, 9)).map(lambda fd: round(fd[0], fd[1]))
_price = _mostly(st.integers(-10, 400000).map(lambda t: t * 0.5),
                 st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.integers(-10**20, 10**20), st.just(-0.0),
                           st.just(36809.50000000001), st.just(1e300)))
_amount = _mostly(st.integers(0, 100000).map(lambda a: float(a * 10)),
                  st.one_of(_float, st.floats(0, 1e9), st.integers(0, 10**7)))
_name = _mostly(st.sampled_from(["BTC-PERPETUAL", "ETH-PERPETUAL", "ETH_USDC-PERPETUAL"]),
                st.one_of(st.just("SOL-PERPETUAL"), st.text(min_size=1, max_size=12)))
_unknown = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False,
                        allow_infinity=False), st.text(max_size=8)),
                        lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=6), c,
                                                                                     max_size=3)), max_leaves=8)


@st.composite
def book_message(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(_name)
    level = st.tuples(_mostly(st.sampled_from(["new", "change", "delete"]), st.sampled_from(["New", "insert"])),
                      _price, _amount).map(list)
    data: dict[str, Any] = {"type": draw(_mostly(st.sampled_from(["snapshot", "change"]), st.just("full"))),
                            "timestamp": draw(st.integers(0, 2**45)), "instrument_name": name,
                            "change_id": draw(st.integers(0, 2**40)), "bids": draw(st.lists(level, max_size=5)),
                            "asks": draw(st.lists(level, max_size=5))}
    if data["type"] != "snapshot" or draw(st.booleans()):
        data["prev_change_id"] = draw(st.integers(0, 2**40))
    if draw(st.booleans()):
        data["extra"] = draw(_unknown)
    interval = draw(_mostly(st.sampled_from(["raw", "100ms", "agg2"]), st.just("none.10.100ms")))
    channel = f"book.{draw(_mostly(st.just(name), st.just('BTC-PERPETUAL')))}.{interval}"
    return {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}


@st.composite
def trades_message(draw: st.DrawFn) -> dict[str, Any]:
    trade = st.fixed_dictionaries({
        "trade_seq": st.integers(0, 2**40), "trade_id": _mostly(st.integers(0, 10**12).map(str), st.text(max_size=5)),
        "timestamp": st.integers(0, 2**45), "tick_direction": st.integers(0, 3), "price": _price,
        "mark_price": _float, "instrument_name": _name, "index_price": st.floats(0, 1e5),
        "direction": _mostly(st.sampled_from(["buy", "sell"]), st.just("zero")), "amount": _amount},
        optional={"iv": _unknown})
    return {"jsonrpc": "2.0", "method": "subscription",
            "params": {"channel": f"trades.{draw(_name)}.raw", "data": draw(st.lists(trade, max_size=4))}}


@st.composite
def ticker_message(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(_name)
    data = {"timestamp": draw(st.integers(0, 2**45)), "stats": draw(_unknown), "instrument_name": name,
            "best_bid_price": draw(_mostly(_price, st.none())), "best_bid_amount": draw(_amount),
            "best_ask_price": draw(_price), "best_ask_amount": draw(_amount),
            "interest_value": 0.0028213400122472977}
    return {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": f"ticker.{name}.100ms", "data": data}}


@st.composite
def order_response(draw: st.DrawFn) -> dict[str, Any]:
    order = {"order_id": draw(_mostly(st.sampled_from(["USDC-104819327443", "31270474367"]), st.text(max_size=40))),
             "order_state": draw(_mostly(st.sampled_from(["open", "filled", "cancelled", "rejected"]),
                                         st.just("weird"))),
             "direction": draw(st.sampled_from(["buy", "sell"])), "instrument_name": draw(_name),
             "price": draw(_mostly(_price, st.just("market_price"))), "amount": draw(_amount),
             "filled_amount": draw(_amount), "average_price": draw(_mostly(_float, st.floats(0, 1e5))), "label": draw(st.text()),
             "post_only": draw(st.booleans())}
    if draw(st.integers(0, 4)) == 0:
        del order[draw(st.sampled_from(sorted(order)))]
    result: Any = order if draw(st.booleans()) else {"order": order, "trades": draw(st.lists(_unknown, max_size=2))}
    msg: dict[str, Any] = {"jsonrpc": "2.0", "id": draw(_mostly(st.integers(0, 2**40), st.one_of(st.none(), st.text()))),
                           "usIn": draw(st.integers(0, 2**53)), "usOut": draw(st.integers(0, 2**53))}
    if draw(st.integers(0, 4)) == 0:
        msg["error"] = {"code": draw(st.integers(-32700, 20000)), "message": draw(st.text()), "data": None}
    else:
        msg["result"] = result
    return msg


def _malform(text: str, rnd: random.Random) -> bytes:
    raw = text.encode()
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


_messages = st.one_of(book_message(), trades_message(), ticker_message(), order_response())


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_messages, st.integers(0, 2**32), st.integers(0, 9))
def test_generated_messages_agree(msg: dict[str, Any], seed: int, mode: int) -> None:
    rnd = random.Random(seed)
    if mode == 0:
        raw = _malform(dump(msg, rnd), rnd)
    elif mode == 1:  # canonical encoding (what Deribit sends)
        raw = json.dumps(msg, separators=(",", ":")).encode()
    else:
        raw = dump(msg, rnd).encode()
    agree(raw)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_decode_wrongly(raw: bytes) -> None:
    agree(raw)


def test_duplicate_and_escaped_keys_fall_back() -> None:
    base = (DATA / "misc_book_BTC-PERPETUAL_raw_change_2021a.json").read_bytes()
    assert compiled(base)[0] == "events"
    dup = base.replace(b'"change_id":6786952193', b'"change_id":1,"change_id":6786952193')
    esc = base.replace(b'"prev_change_id":6786952192', b'"prev_change_id":6786952192,"change\\u005fid":5')
    for raw in (dup, esc):
        assert compiled(raw)[0] == "fallback"
        agree(raw)


def test_canonical_generated_messages_are_mostly_decoded() -> None:
    """The compiled path must not dodge the comparison by falling back on ordinary messages."""
    rnd = random.Random(7)
    decoded = 0
    for i in range(200):
        bids = [["new", rnd.randrange(60000, 80000) / 2, rnd.randrange(1, 5000) * 10.0] for _ in range(3)]
        msg = {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": "book.BTC-PERPETUAL.raw", "data": {
            "type": "change", "timestamp": 1700000000000 + i, "prev_change_id": i, "instrument_name": "BTC-PERPETUAL",
            "change_id": i + 1, "bids": bids, "asks": [["delete", 40000.5, 0.0]]}}}
        decoded += agree(orjson.dumps(msg)) == "events"
    assert decoded == 200
