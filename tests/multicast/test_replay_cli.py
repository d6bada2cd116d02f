"""`tickwire replay CAPTURE --udp sbe`: the multicast capture's final books and trade counts, text and JSON."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from _mcast_capture import CAPTURE

from tickwire import types as T
from tickwire.md.mcast_feed import replay_capture
from tickwire.deribit._sbe_ref import decode_packet_py

TICKWIRE = str(Path(sys.executable).with_name("tickwire"))


def test_replay_json_reports_every_instrument_book_and_trades(capture) -> None:
    out = subprocess.run([TICKWIRE, "replay", str(CAPTURE), "--udp", "sbe", "--json", "--no-timing"],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    sbe = json.loads(out.stdout)["udp"]["sbe"]
    feed = replay_capture(str(CAPTURE))
    assert sbe["stats"]["packets"] == 5066 and sbe["stats"]["trades"] == 421
    assert sum(b["trades"] for b in sbe["instruments"].values()) == 421
    assert set(sbe["instruments"]) == set(feed.names.values()) and len(sbe["instruments"]) == 84
    for name, book in sbe["instruments"].items():
        slot = feed.slot(name)
        assert book["checksum"] == feed.books.summary(slot)["checksum"] and book["synced"]
    perp = sbe["instruments"]["BTC-PERPETUAL"]
    perp_trades = sum(len(m["trades"]) for p in capture.data for m in decode_packet_py(p).messages
                      if m["template"] == T.SBE_TPL_TRADES and m["instrument_id"] == perp["instrument_id"])
    assert perp["best_bid_price"] < perp["best_ask_price"] and perp["trades"] == perp_trades > 0


def test_replay_text_prints_the_multicast_books() -> None:
    out = subprocess.run([TICKWIRE, "replay", str(CAPTURE), "--udp", "sbe", "--no-timing"], capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert "final books (sbe)" in out.stdout and "BTC_USDC-PERPETUAL" in out.stdout
