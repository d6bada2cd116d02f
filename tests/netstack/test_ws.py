"""The compiled WebSocket deframer/encoder against the plain-Python twins, on random frame streams cut anywhere."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tickwire.netstack import ws

_payload = st.one_of(st.binary(max_size=200), st.integers(120, 70000).map(lambda n: bytes(i % 251 for i in range(n))))
_message = st.tuples(st.sampled_from([ws.OP_TEXT, ws.OP_BINARY]), _payload, st.integers(1, 3),  # fragments
                     st.lists(st.sampled_from([ws.OP_PING, ws.OP_PONG]), max_size=2))  # control between fragments


def _build(messages: list, masked: bool, rnd: np.random.Generator) -> tuple[bytes, list[tuple[int, bytes]]]:
    stream = bytearray()
    expected: list[tuple[int, bytes]] = []
    for op, payload, nfrag, controls in messages:
        cuts = sorted(rnd.integers(0, len(payload) + 1, size=nfrag - 1).tolist())
        parts = [payload[a:b] for a, b in zip([0] + cuts, cuts + [len(payload)])]
        for k, part in enumerate(parts):
            key = int(rnd.integers(0, 2**32)) if masked else None
            stream += ws.ref_encode(part, op if k == 0 else ws.OP_CONT, fin=k == len(parts) - 1, key=key)
            if k < len(parts) - 1:
                for c in controls:
                    body = b"ping-%d" % k
                    stream += ws.ref_encode(body, c, key=key)
                    expected.append((c, body))
        expected.append((op, payload))
    return bytes(stream), expected


@settings(max_examples=150, deadline=None)
@given(st.lists(_message, min_size=1, max_size=6), st.booleans(), st.integers(0, 2**32 - 1), st.booleans())
def test_deframer_matches_reference_for_any_split(messages: list, masked: bool, seed: int, http: bool) -> None:
    rnd = np.random.default_rng(seed)
    stream, expected = _build(messages, masked, rnd)
    # reference-ordered: control frames between fragments come before the message they interrupt
    assert sorted(ws.ref_deframe(stream), key=repr) == sorted(expected, key=repr)
    if http:
        stream = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n" + stream
    d = ws.Deframer(ws.PH_HTTP if http else ws.PH_FRAMES, ws.MASK_YES if masked else ws.MASK_NO, cap=1 << 18)
    got: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(stream):
        step = int(rnd.integers(1, 3000))
        got += d.feed(stream[pos:pos + step])
        pos += step
    assert d.error is None
    assert got == ws.ref_deframe(stream)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=70000), st.sampled_from([ws.OP_TEXT, ws.OP_BINARY, ws.OP_PING]), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_encoder_matches_reference(payload: bytes, op: int, masked: bool, key: int) -> None:
    if op == ws.OP_PING:
        payload = payload[:125]
    src = np.frombuffer(payload, dtype=np.uint8)
    out = np.zeros(ws.ws_frame_len(len(payload), masked) + 3, dtype=np.uint8)
    n = ws.ws_encode(out, 3, src, 0, len(payload), op, True, masked, key)
    assert out[3:3 + n].tobytes() == ws.ref_encode(payload, op, key=key if masked else None)
    assert ws.ws_encode(out, 4, src, 0, len(payload), op, True, masked, key) == -1  # too small: refused


def test_protocol_errors_close_the_stream() -> None:
    for bad, err in [(b"\xc1\x00", ws.ERR_RSV), (b"\x83\x00", ws.ERR_OPCODE), (b"\x09\x00", ws.ERR_CONTROL),
                     (b"\x80\x00", ws.ERR_CONTINUATION), (b"\x81\x81abcd", ws.ERR_MASK)]:
        d = ws.Deframer(mask=ws.MASK_NO)
        assert d.feed(bad + ws.ref_encode(b"{}", ws.OP_TEXT)) == []
        assert d.st[ws.S_ERR] == err and d.st[ws.S_PHASE] == ws.PH_CLOSED
    d = ws.Deframer(cap=1024)
    assert d.feed(ws.ref_encode(b"x" * 2000, ws.OP_TEXT)) == []
    assert d.error == ws.ERR_NAMES[ws.ERR_TOO_LARGE]


def test_resync_finds_the_next_frame_after_lost_bytes() -> None:
    msgs = [b'{"n":%d,"pad":"%s"}' % (i, b"z" * (i * 37 % 300)) for i in range(40)]
    stream = b"".join(ws.ref_encode(m, ws.OP_TEXT) for m in msgs)
    cut_a, cut_b = 1000, 2500  # lose stream[cut_a:cut_b]
    d = ws.Deframer(mask=ws.MASK_NO)
    got = [p for _, p in d.feed(stream[:cut_a])]
    ws.ws_resync(d.st)
    got += [p for _, p in d.feed(stream[cut_b:])]
    assert d.stats["resyncs"] == 1 and d.stats["skipped_bytes"] > 0
    # everything received is a real message, in order, and everything after the first boundary past the gap is back
    idx = [msgs.index(p) for p in got]
    assert idx == sorted(idx)
    first_after = next(i for i in range(40) if stream.index(ws.ref_encode(msgs[i], ws.OP_TEXT)) >= cut_b)
    assert idx[-(40 - first_after):] == list(range(first_after, 40))


def test_mid_stream_start_hunts_and_http_upgrade_is_skipped() -> None:
    msgs = [b'{"a":%d}' % i for i in range(5)]
    stream = b"".join(ws.ref_encode(m, ws.OP_TEXT) for m in msgs)
    d = ws.Deframer(ws.PH_HTTP, ws.MASK_NO)
    assert [p for _, p in d.feed(stream[3:])] == msgs[1:]  # not HTTP: hunts, skips the cut first frame
    req = b"GET /ws/api/v2 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n"
    d = ws.Deframer(ws.PH_HTTP, ws.MASK_YES)
    framed = b"".join(ws.ref_encode(m, ws.OP_TEXT, key=0x01020304) for m in msgs)
    assert [p for _, p in d.feed(req + framed)] == msgs
