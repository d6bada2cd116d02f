"""The compiled pass on real Deribit bytes: book, market-data probes, gap detection, and orders that equal the
plain-Python references (ref_admit + encode_*_py) once the frames are deframed again. No network: a venue's bytes in,
our frames out (the system tests do the same over real sockets)."""
from __future__ import annotations

import pytest

from pathlib import Path

import numpy as np
import orjson

from tickwire.config import load
from tickwire.engine import risk
from tickwire.deribit import credits
from tickwire.deribit import json_encode as encode
from tickwire.engine._ref import ref_admit
from tickwire.engine.engine import Engine, Instrument
from tickwire.engine.strategies.market_maker import MarketMaker
from tickwire.engine.strategy import Strategy, edit
from tickwire.native import lib
from tickwire.netstack import ws
from tickwire.types import (
    ACT_NEW, BOOK_ASK, BOOK_BID, C_BOOK_UPDATES, C_RESYNCS, ORD_OPEN, ORD_PENDING_NEW, ORD_PENDING_REPLACE,
)

# the first engine in a process compiles the compiled path (minutes on a cold numba cache)
pytestmark = pytest.mark.timeout(900)


DATA = Path(__file__).resolve().parents[1] / "data" / "deribit"
BTC = {"instrument_name": "BTC-PERPETUAL", "tick_size": 0.5, "min_trade_amount": 10.0, "base_currency": "BTC"}


def _frame(payload: bytes) -> bytes:
    """A server -> client text frame (unmasked), written by hand: RFC 6455 section 5.2."""
    n = len(payload)
    head = bytes([0x81, n]) if n < 126 else bytes([0x81, 126]) + n.to_bytes(2, "big")
    return head + payload


def _engine(strategy=MarketMaker, **params):
    cfg = load(None, {"strategy_params": params, "risk": {"price_band_bps": 1000.0}})
    return Engine(cfg, [Instrument(BTC)], strategy, "twt-")


def _snapshot_and_change():
    snap = orjson.loads((DATA / "cmp_book_BTC-PERPETUAL_100ms_snapshot.json").read_bytes())
    change = orjson.loads((DATA / "cmp_book_BTC-PERPETUAL_100ms_change.json").read_bytes())
    # the two real samples are not consecutive: chain the change onto the snapshot
    change["params"]["data"]["prev_change_id"] = snap["params"]["data"]["change_id"]
    change["params"]["data"]["bids"] = [["new", 37239.5, 100.0]]
    change["params"]["data"]["asks"] = [["change", 37240.5, 10.0]]
    return snap, change


class Quiet(Strategy):
    pass


def test_book_and_probes_from_real_messages_and_a_gap_is_flagged():
    e = _engine(Quiet)
    snap, change = _snapshot_and_change()
    for msg in (snap, change):
        e.compiled_pass(np.frombuffer(_frame(orjson.dumps(msg)), np.uint8), int(lib.tw_rdtsc()), -1)
    # 37240.0 / 0.5 = 74480 ticks, 20 USD / 10 = 2 lots; the change added 37239.5 x 100 USD below it
    assert e.books.levels(0, BOOK_BID)[:2] == [(74480, 2), (74479, 10)]
    assert e.books.levels(0, BOOK_ASK)[0] == (74481, 1)
    assert e.counters[C_BOOK_UPDATES] == 2 and list(e.probes.md_samples()["change_id"]) == [31479596557, 31479598217]
    assert e.touched[0] == 1
    e.touched[:] = 0
    change["params"]["data"]["prev_change_id"] = 1  # the chain breaks
    e.compiled_pass(np.frombuffer(_frame(orjson.dumps(change)), np.uint8), 0, -1)
    assert e.touched[0] == 2 and e.counters[C_RESYNCS] == 1 and e.books.state[0]["valid"] == 0


def test_orders_of_the_compiled_path_equal_the_python_twins():
    e = _engine(MarketMaker, half_spread=1.0)
    # a twin copy of the risk state before the pass
    rk, exp = risk.RiskState(*(a.copy() for a in e.risk)), e.expo.copy()
    snap, _ = _snapshot_and_change()
    _, _, _, tx_len, sent = e.compiled_pass(np.frombuffer(_frame(orjson.dumps(snap)), np.uint8), 1, -1)
    assert tx_len > 0 and sent == 0  # fd -1: framed, left for the transport
    frames = ws.Deframer(mask=ws.MASK_YES).feed(e.op.tx[:tx_len].tobytes())
    sent_orders = [orjson.loads(p) for op, p in frames]
    assert [o["method"] for o in sent_orders] == ["private/buy", "private/sell"]
    bid, ask = np.array([74480]), np.array([74481])
    for k, msg in enumerate(sent_orders):
        a = e.act[k]
        assert a["kind"] == ACT_NEW
        assert ref_admit(a, rk, exp, bid, ask, int(e.rstate[0]["rate_last_ns"])) == 0
        cid = k + 1
        want = encode.encode_new_py(msg["id"], "BTC-PERPETUAL", int(a["side"]), int(a["otype"]), int(a["tif"]),
                                    bool(a["post_only"]), int(a["price"]), 5, 1, int(a["amount"]), 10, 0, "twt-", cid)
        assert frames[k][1] == want
        assert e.orders[cid]["state"] == ORD_PENDING_NEW and e.orders[cid]["sent_tsc"] > 0
    assert exp.tobytes() == e.expo.tobytes()  # reservations agree
    assert e.cstate[credits.MATCHING]["level"] == rk.credit[credits.MATCHING]["level"]


def test_edit_of_an_acknowledged_order_goes_pending_replace_and_never_grows():
    e = _engine(MarketMaker, half_spread=1.0)
    snap, _ = _snapshot_and_change()
    e.compiled_pass(np.frombuffer(_frame(orjson.dumps(snap)), np.uint8), 1, -1)
    o = e.orders[1]
    o["state"], o["oid_len"] = ORD_OPEN, 5
    o["oid"][:5] = np.frombuffer(b"BTC-9", np.uint8)
    n = e.submit([edit(1, int(o["price"]) - 1, 1)])
    frames = ws.Deframer(mask=ws.MASK_YES).feed(e.op.tx[:n].tobytes())
    assert len(frames) == 1
    msg = orjson.loads(frames[0][1])
    assert frames[0][1] == encode.encode_edit_py(msg["id"], "BTC-9", int(o["price"]), 5, 1, 1, 10, 0)
    assert o["state"] == ORD_PENDING_REPLACE
    assert e.submit([edit(1, int(o["price"]), 5)]) == 0  # larger than the order: refused by the order path
