"""Compiled Deribit JSON codec vs the orjson reference path: every real sample; whole valid messages (where the
compiled path must decode, not fall back); hypothesis-generated odd values, damaged JSON and random bytes; a
WebSocket stream through decode_read at random read boundaries. Equal values or an explicit fallback — never a
mismatch."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import json_messages as gen
from tickwire.deribit import _ref, json_decode as dj
from tickwire.deribit.instruments import InstrumentTable
from tickwire.netstack import ws

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


_messages = st.one_of(book_message(), trades_message(), ticker_message(), order_response())


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_messages, st.integers(0, 2**32), st.integers(0, 9))
def test_generated_messages_agree(msg: dict[str, Any], seed: int, mode: int) -> None:
    rnd = random.Random(seed)
    if mode == 0:
        raw = gen.damage(gen.respell(msg, rnd).encode(), rnd)
    elif mode == 1:  # canonical encoding (what Deribit sends)
        raw = gen.canonical(msg)
    else:
        raw = gen.respell(msg, rnd).encode()
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


# --- whole valid messages: the decoded path must carry them, not the fallback ----------------------------------

MAX_FALLBACK_RATE = 0.02  # canonical encodings of ordinary messages: at most 2% may take the slow path


@pytest.mark.parametrize("kind", sorted(gen.KINDS))
def test_canonical_valid_messages_are_decoded_and_equal_the_reference(kind: str) -> None:
    """1,000 valid messages of one kind as Deribit encodes them: the reference decodes every one (else the
    generator is wrong), the compiled decoder gives the same records, and falls back on under 2% of them."""
    rnd, table = random.Random(f"canonical-{kind}"), gen.table()
    fallbacks = []
    for _ in range(1000):
        raw = gen.canonical(gen.KINDS[kind](rnd))
        assert _ref.ref_decode(raw, table)[0] != "fallback", raw[:300]
        if agree(raw, table) == "fallback":
            fallbacks.append(raw)
    assert len(fallbacks) <= MAX_FALLBACK_RATE * 1000, (len(fallbacks), fallbacks[:2])


@pytest.mark.parametrize("kind", sorted(gen.KINDS))
def test_respelled_valid_messages_equal_the_reference(kind: str) -> None:
    """The same values with other whitespace and key order: decoded like the canonical form (under 2% fallback).
    With unusual spellings too (exponents, long digits, \\u escapes, 3% of tokens): equal records or an explicit
    fallback, and still decoded on a good share (each unusual token may send its message to the slow path)."""
    rnd, table = random.Random(f"respelled-{kind}"), gen.table()
    plain = [agree(gen.respell(gen.KINDS[kind](rnd), rnd, odd=0.0).encode(), table) for _ in range(500)]
    assert plain.count("fallback") <= MAX_FALLBACK_RATE * len(plain), plain.count("fallback")
    unusual = [agree(gen.respell(gen.KINDS[kind](rnd), rnd, odd=0.03).encode(), table) for _ in range(500)]
    assert unusual.count("fallback") < 0.7 * len(unusual), unusual.count("fallback")


# --- a stream through decode_read: random read boundaries, span overflow, fallback spans ----------------------

def _stream(rnd: random.Random, n: int) -> bytes:
    """n server messages as WebSocket frames: valid, respelled and damaged JSON, some fragmented with a ping
    between the fragments, some pings alone."""
    frames = []
    for _ in range(n):
        raw = gen.mixed(rnd)
        if rnd.random() < 0.05:
            frames.append(ws.ref_encode(b"ping %d" % rnd.randrange(1000), ws.OP_PING))
        if rnd.random() < 0.15 and len(raw) > 2:
            cut = rnd.randrange(1, len(raw))
            frames += [ws.ref_encode(raw[:cut], ws.OP_TEXT, fin=False), ws.ref_encode(b"hb", ws.OP_PING),
                       ws.ref_encode(raw[cut:], ws.OP_CONT)]
        else:
            frames.append(ws.ref_encode(raw, ws.OP_TEXT))
    return b"".join(frames)


def _decode_stream(stream: bytes, reads: list[int], table: InstrumentTable, n_spans: int, rx_cap: int
                   ) -> list[tuple]:
    """Feed ``stream`` to decode_read in reads of the given sizes; one (verdict, ...) row per message, in order:
    ("events", events), ("response", response) or ("fallback", opcode, payload)."""
    st, rx, spans, ctrl = ws.new_state(ws.PH_FRAMES, ws.MASK_NO), ws.new_rx(rx_cap), ws.new_spans(n_spans), ws.new_ctrl()
    events, resps, fb = dj.new_outputs(events=256, resps=64, spans=n_spans)
    out: list[tuple] = []
    pos, base = 0, 0
    for size in reads:
        chunk = np.frombuffer(stream[pos:pos + size], np.uint8)
        pos += size
        w = ws.ws_reserve(st, rx, len(chunk))
        assert w >= 0, "a message larger than the receive buffer"
        rx[w:w + len(chunk)] = chunk
        n = len(chunk)
        while True:
            ns, n_ev, n_resp, n_fb = dj.decode_read(st, rx, n, spans, ctrl, table.active, events, resps, fb, 0, base)
            fallback = {int(fb[k, 0]): int(fb[k, 1]) for k in range(n_fb)}
            r = 0
            for i in range(ns):
                if i in fallback:
                    area = rx if spans[i, 0] == ws.SRC_RX else ctrl
                    out.append(("fallback", int(spans[i, 3]), area[spans[i, 1]:spans[i, 1] + spans[i, 2]].tobytes()))
                    continue
                mine = events[:n_ev][events[:n_ev]["msg"] == base + i]
                if len(mine):
                    out.append(("events", _ref.event_tuples(mine)))
                else:  # every event message has >= 1 event: a decoded span without events is an order answer
                    out.append(("response", _ref.response_tuple(resps[r])))
                    r += 1
            assert r == n_resp, (r, n_resp)
            base += ns
            n = 0
            if ns < n_spans:
                break
    assert pos == len(stream) and st[ws.S_ERR] == ws.ERR_NONE
    return out


def _reference_stream(stream: bytes, table: InstrumentTable) -> list[tuple[int, bytes, tuple | None]]:
    """The plain-Python deframer and decoder over the whole stream: (opcode, payload, decoding of a text message)."""
    return [(op, payload, ref_decode_or_none(payload, table) if op == ws.OP_TEXT else None)
            for op, payload in ws.ref_deframe(stream)]


def ref_decode_or_none(payload: bytes, table: InstrumentTable) -> tuple | None:
    verdict = _ref.ref_decode(payload, table)
    return None if verdict[0] == "fallback" else verdict


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32), st.integers(1, 6), st.sampled_from([16, 300, 4096]))
def test_stream_with_random_read_boundaries_equals_the_reference(seed: int, n_spans: int, max_read: int) -> None:
    """40 messages cut at random read boundaries (1..max_read bytes: also inside frame headers), a few spans per call (overflow: call again
    with n = 0), a receive buffer that must compact: every message is decoded to the reference's records, or
    handed over as a fallback span with the reference's exact bytes; none lost, none duplicated."""
    rnd, table = random.Random(seed), gen.table()
    stream = _stream(rnd, 40)
    reads, left = [], len(stream)
    while left:
        reads.append(min(rnd.randint(1, max_read), left))
        left -= reads[-1]
    got = _decode_stream(stream, reads, table, n_spans, rx_cap=1 << 15)
    want = _reference_stream(stream, table)
    assert len(got) == len(want)
    for g, (op, payload, decoded) in zip(got, want):
        if g[0] == "fallback":
            assert g[1:] == (op, payload)
        else:
            assert op == ws.OP_TEXT and g == decoded, (g, decoded, payload[:200])
    decoded_share = sum(g[0] != "fallback" for g in got) / len(got)
    assert decoded_share > 0.3, decoded_share  # half the messages are canonical valid ones
