"""The wire analysis on a real recorded session (the baseline client against the real simulator on lo), checked
against tshark's own TCP reassembly and WebSocket dissector: the same messages, at the same capture times."""
from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections import Counter
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tickwire.bench.baseline import run_baseline
from tickwire.deribit.venue import fetch_instruments, start_sim
from tickwire.md.record import Recorder
from tickwire.md.wire import (
    NEW_ORDER_METHODS, POSITION_METHODS, WIRE_ROWS, read_wire, text_messages, venue_times, wire_samples,
)

pytestmark = pytest.mark.timeout(300)


def _tshark_messages(path: Path, port: int) -> Counter[int]:
    """capture ts (ns) -> number of WebSocket text messages tshark completes in that packet."""
    out = subprocess.run(["tshark", "-r", str(path), "-d", f"tcp.port=={port},http", "-Y", "websocket",
                          "-T", "fields", "-e", "frame.time_epoch", "-e", "websocket.opcode"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    got: Counter[int] = Counter()
    for line in out.splitlines():
        epoch, opcodes = line.split("\t")
        n = sum(1 for op in opcodes.split(",") if op == "1")
        if n:
            got[int(Decimal(epoch) * 10**9)] += n
    return got


@pytest.fixture(scope="module", params=["tcpdump", "afpacket"])
def session(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("wire-live") / f"{request.param}.pcap"
    with start_sim(("BTC-PERPETUAL",), 200.0) as venue:
        info = fetch_instruments(venue.http, ("BTC-PERPETUAL",))[0]
        port = urlsplit(venue.url).port
        with Recorder(path, iface="lo", port=port, method=request.param):
            base = asyncio.run(run_baseline(venue.url, venue.creds, "BTC-PERPETUAL", float(info["tick_size"]),
                                            float(info["min_trade_amount"]), 2.0, orders_per_s=50.0))
    return path, port, base


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is in the Makefile's APT_PACKAGES")
def test_messages_and_their_capture_times_match_tshark(session) -> None:
    path, port, _ = session
    texts, opened, cap = text_messages(path)
    assert cap.error is None and len(opened) == 1
    ours = Counter(ts for ts, _, _ in texts)
    assert sum(ours.values()) > 300  # books at 200/s, orders, answers, position polls
    assert ours == _tshark_messages(path, port)


def test_a_real_session_gives_every_wire_row_and_joins_every_round_trip(session) -> None:
    path, _, base = session
    wire = read_wire(path)
    assert wire.skipped == 0 and wire.capture_error is None
    samples, counts = wire_samples(wire, base.order_rtt, base.position_rtt, base.triggers)
    assert counts["order_round_trips_not_in_capture"] == 0 and counts["position_round_trips_not_in_capture"] == 0
    assert counts["orders_trigger_by_change_id"] >= base.orders - 2  # the last ones may be cut by the stop
    t2t, venue, ours = samples[WIRE_ROWS[0]], samples[WIRE_ROWS[1]], samples[WIRE_ROWS[2]]
    assert len(t2t) >= 20 and (t2t > 0).all()
    # the venue's part is inside the client's own round trip: ours = rtt - venue is positive for every order
    assert len(venue) == len(base.order_rtt) and (ours > 0).all()
    assert set(venue_times(wire, POSITION_METHODS)) >= set(base.position_rtt)
    assert set(venue_times(wire, NEW_ORDER_METHODS)) >= set(base.order_rtt)


def test_afpacket_capture_takes_the_kernel_stamp_of_each_packet() -> None:
    import socket
    import struct

    from tickwire.md.record import SO_TIMESTAMPNS, _kernel_ns

    assert _kernel_ns([(socket.SOL_SOCKET, SO_TIMESTAMPNS, struct.pack("qq", 5, 7))]) == 5_000_000_007
    assert _kernel_ns([(socket.SOL_SOCKET, SO_TIMESTAMPNS, b"short")]) > 1_600_000_000 * 10**9  # none: now
