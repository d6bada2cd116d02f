"""`tickwire backtest` on a capture of Deribit's multicast SBE feed: the real sample capture (tests/data/
deribit-multicast, see _mcast_capture), its books and trades built by the multicast feed handler, the strategy run on
them against both venue models (identical results), the feed detected or chosen, and captures with neither feed."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import crafted
import hbt_peer
from _mcast_capture import CAPTURE
from tickwire.cli import app
from tickwire.engine.backtest import Backtest, BacktestConfig, BacktestError
from tickwire.md.mcast_feed import SbeUdpHandler
from tickwire.md.replay import PcapSource, Replay
from tickwire.types import EV_TRADE, SIDE_BUY

pytestmark = pytest.mark.timeout(900)  # the first run of a process compiles the pass

INSTRUMENT = "ETH_USDC"  # the capture's busiest book: 249 book events, 118 trades
QUOTE = dict(hbt_peer.QUOTE, half_spread=0.0)  # quotes at the touch: the capture is short (a few seconds)


def _run(feed="auto", batch=True, instrument=INSTRUMENT):
    return Backtest(BacktestConfig(CAPTURE, hbt_peer.MM, params=QUOTE, instrument=instrument, feed=feed,
                                   batch=batch, **hbt_peer.NO_LIMITS))


def _trades(instrument):
    """(price ticks, amount lots) of the instrument's trades in the capture, by the multicast feed alone."""
    seen = []
    h = SbeUdpHandler()
    h.feed.on_events = lambda ev: seen.append(ev.copy())
    replay = Replay(sink=lambda ev: None, udp_handlers=(h,))
    for b in PcapSource(CAPTURE).batches():
        replay.process(b)
    ev = np.concatenate(seen)
    return ev[(ev["kind"] == EV_TRADE) & (ev["inst"] == h.feed.slot(instrument))]


def test_the_real_multicast_capture_is_backtested_deterministically_by_both_venue_models():
    bt = _run()
    r = bt.run()
    assert bt.feed == "sbe" and r.instrument == INSTRUMENT
    s = r.summary()
    assert s["messages"] > 200 and s["book_events"] > 200 and s["trades"] > 100 and s["gaps"] == 0
    assert s["orders"] > 10 and s["fills"] > 0 and s["risk_refused"] == 0
    again, reference = _run().run(), _run(batch=False).run()
    assert again.summary() == s and again.fills == r.fills
    assert reference.summary() == s and reference.fills == r.fills and reference.curve == r.curve
    # fills sane against the market: a maker fill is at a price the market traded at or through, within what
    # our 1-lot quotes can take, and the position is the sum of the fills
    trades = _trades(INSTRUMENT)
    lo, hi = int(trades["price"].min()), int(trades["price"].max())
    for f in r.fills:
        assert f["maker"] and f["amount"] == 1
        assert (f["price"] >= lo) if f["side"] == SIDE_BUY else (f["price"] <= hi)
    assert s["position_lots"] == sum(f["amount"] if f["side"] == SIDE_BUY else -f["amount"] for f in r.fills)


def test_feed_option_chooses_or_refuses():
    r = _run(feed="sbe", instrument="BTC-PERPETUAL").run()
    assert r.instrument == "BTC-PERPETUAL" and r.summary()["book_events"] > 40
    assert r.summary()["pnl_model"] == "inverse"
    with pytest.raises(BacktestError, match=r"no Deribit WebSocket market data in it \(--feed ws\)"):
        _run(feed="ws").run()
    with pytest.raises(BacktestError, match="feed 'udp'"):
        _run(feed="udp")


def test_a_websocket_capture_is_still_taken_by_auto(tmp_path):
    from test_backtest_fills import QUEUE

    bt = Backtest(BacktestConfig(crafted.write(tmp_path / "c.pcap", QUEUE), "bt_strategies:OneBid"))
    assert bt.run().summary()["fills"] == 2 and bt.feed == "ws"
    with pytest.raises(BacktestError, match=r"no Deribit multicast \(SBE\) packets in it \(--feed sbe\)"):
        Backtest(BacktestConfig(crafted.write(tmp_path / "c.pcap", QUEUE), "bt_strategies:OneBid",
                                feed="sbe")).run()


def test_a_capture_with_neither_feed_is_a_clear_error(tmp_path):
    cap = crafted.write(tmp_path / "empty.pcap", [])  # a WebSocket handshake, no message
    with pytest.raises(BacktestError, match="neither Deribit WebSocket market data nor Deribit multicast"):
        Backtest(BacktestConfig(cap, "bt_strategies:OneBid")).run()
    res = CliRunner().invoke(app, ["backtest", str(cap), "--strategy", "bt_strategies:OneBid"])
    assert res.exit_code == 2 and "neither" in res.output


def test_cli_on_the_multicast_capture():
    args = ["backtest", str(CAPTURE), "--strategy", hbt_peer.MM, "--feed", "sbe", "--instrument", INSTRUMENT,
            "--json"] + [f"--param={k}={v}" for k, v in QUOTE.items()]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["instrument"] == INSTRUMENT and doc["messages"] > 200
    # ETH_USDC is a spot pair: the engine's positions are inverse, and the result says its PnL is not meaningful
    assert doc["pnl_model"].startswith("inverse formula on a linear/spot instrument (ETH_USDC)")
