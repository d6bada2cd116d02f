"""Order encoding: the compiled writer equals its twin byte for byte, and orjson reads back exact values."""
from __future__ import annotations

from decimal import Decimal

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tickwire.deribit import json_encode as encode
from tickwire.types import OT_LIMIT, OT_MARKET, SIDE_BUY, SIDE_SELL

DATA, OFFSETS = encode.fragments()
BUF = np.zeros(1024, np.uint8)


def _arr(text: str) -> np.ndarray:
    return np.frombuffer(text.encode(), np.uint8).copy()


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**12), st.integers(-2, 9))
def test_decimal_kernel_equals_twin_and_value(units, scale):
    n = encode.write_decimal(BUF, 0, units, scale)
    text = bytes(BUF[:n]).decode()
    assert text == encode.decimal_py(units, scale)
    assert Decimal(text) == Decimal(units).scaleb(-scale)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**40), st.sampled_from(["BTC-PERPETUAL", "ETH-PERPETUAL", "BTC-27DEC24-50000-C"]),
       st.sampled_from([SIDE_BUY, SIDE_SELL]), st.sampled_from([OT_LIMIT, OT_MARKET]), st.integers(0, 2),
       st.booleans(), st.integers(1, 10**7), st.sampled_from([(5, 1), (5, 2), (1, 0), (5, 4)]),
       st.integers(1, 10**5), st.sampled_from([(10, 0), (1, 0), (1, 1)]), st.integers(0, 2**40))
def test_new_order_kernel_equals_twin(req_id, name, side, otype, tif, post, ticks, tick, lots, lot, cid):
    label = "tw7k-"
    n = encode.encode_new(BUF, DATA, OFFSETS, req_id, _arr(name), len(name), side, otype, tif, int(post), ticks,
                          tick[0], tick[1], lots, lot[0], lot[1], _arr(label), len(label), cid)
    got = bytes(BUF[:n])
    assert got == encode.encode_new_py(req_id, name, side, otype, tif, post, ticks, *tick, lots, *lot, label, cid)
    msg = orjson.loads(got)
    assert msg["id"] == req_id and msg["params"]["label"] == f"{label}{cid}"
    assert msg["method"] == ("private/buy" if side == SIDE_BUY else "private/sell")
    if otype == OT_LIMIT:
        assert Decimal(str(msg["params"]["price"])) == Decimal(ticks * tick[0]).scaleb(-tick[1])


def test_cancel_and_cancel_all():
    n = encode.encode_cancel(BUF, DATA, OFFSETS, 9, _arr("ETH-123"), 7)
    assert bytes(BUF[:n]) == encode.encode_cancel_py(9, "ETH-123")
    n = encode.encode_cancel_all(BUF, DATA, OFFSETS, 10)
    assert orjson.loads(bytes(BUF[:n])) == {"jsonrpc": "2.0", "id": 10, "method": "private/cancel_all", "params": {}}


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**40), st.text("0123456789-ABC", min_size=1, max_size=20), st.integers(1, 10**7),
       st.integers(1, 10**5))
def test_edit_kernel_equals_twin(req_id, oid, ticks, lots):
    n = encode.encode_edit(BUF, DATA, OFFSETS, req_id, _arr(oid), len(oid), ticks, 5, 1, lots, 10, 0)
    got = bytes(BUF[:n])
    assert got == encode.encode_edit_py(req_id, oid, ticks, 5, 1, lots, 10, 0)
    msg = orjson.loads(got)
    assert msg["method"] == "private/edit" and msg["params"]["order_id"] == oid and msg["params"]["amount"] == lots * 10
