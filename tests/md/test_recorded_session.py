"""Record a live simulator session on loopback with `tickwire record` (tcpdump and AF_PACKET), while a websockets
client subscribes and builds its book live; replay the capture: the replayed book equals the live book and the
book of the capture's messages, both built by the test's own DictBook (not tickwire's book code)."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import websockets

import requires
from _reference import server_messages
from dict_book import DictBook, apply_message

from tickwire.md.record import Recorder
from tickwire.md.replay import PcapSource, Replay
from tickwire.deribit.venue import Venue, start_sim
from tickwire.types import BOOK_ASK, BOOK_BID


TICKWIRE = str(Path(sys.executable).with_name("tickwire"))
CHANNELS = ["book.BTC-PERPETUAL.raw", "book.ETH-PERPETUAL.raw", "trades.BTC-PERPETUAL.raw"]


async def _session(venue: Venue, n_book: int) -> dict[str, DictBook]:
    """Subscribe, build books live from what arrives, unsubscribe (so nothing unread stays in flight), close."""
    books: dict[str, DictBook] = {}
    async with websockets.connect(venue.url, max_size=None) as ws:
        async def call(i: int, method: str, params: dict) -> dict:
            await ws.send(orjson.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}))
            while True:
                msg = orjson.loads(await ws.recv())
                if msg.get("id") == i:
                    return msg
                apply_message(books, msg)

        auth = await call(1, "public/auth", {"grant_type": "client_credentials", "client_id": venue.creds.client_id,
                                             "client_secret": venue.creds.client_secret})
        assert "result" in auth, auth
        assert (await call(2, "private/subscribe", {"channels": CHANNELS}))["result"]
        seen = 0
        deadline = time.monotonic() + 120  # generous: a busy machine is slow
        while seen < n_book and time.monotonic() < deadline:
            seen += apply_message(books, orjson.loads(await ws.recv()))
        await call(3, "private/unsubscribe", {"channels": CHANNELS})
    return books


@pytest.mark.parametrize("method", ["tcpdump", "afpacket"])
def test_recorded_session_replays_to_the_live_book(tmp_path: Path, method: str) -> None:
    if method == "tcpdump":
        requires.need_tool("tcpdump", "apt-get install tcpdump")
    requires.need("root", "capturing on loopback needs CAP_NET_RAW")
    out = tmp_path / f"{method}.pcap"
    with start_sim(("BTC-PERPETUAL", "ETH-PERPETUAL"), rate=150.0, seed=11) as venue:
        port = int(venue.url.split(":")[2].split("/")[0])
        with Recorder(out, iface="lo", port=port, method=method) as rec:
            live = asyncio.run(_session(venue, n_book=300))
        assert rec.packets > 50
    assert set(live) == {"BTC-PERPETUAL", "ETH-PERPETUAL"} and all(b.valid for b in live.values())
    replay = Replay()
    report = replay.run(PcapSource(out)).as_dict(timing=False)
    assert report["tcp"]["gaps"] == 0 and report["websocket"]["errors"] == {}
    assert report["json"]["decoded"] >= 300 and report["book_gaps"] == 0, (report["json"], report["tcp"])
    # the capture's messages through the test's own book (dpkt + the plain-Python TCP/WebSocket twins + orjson)
    captured: dict[str, DictBook] = {}
    for raw in server_messages(out):
        apply_message(captured, orjson.loads(raw))
    for name, book in live.items():
        slot = replay.table.slot(name)
        tick, lot = float(replay.table.tick_size(slot)), float(replay.table.lot_size(slot))
        for side in (BOOK_BID, BOOK_ASK):
            want = book.levels(side, tick, lot)
            assert want and replay.books.levels(slot, side) == want == captured[name].levels(side, tick, lot), name
        assert report["instruments"][name]["last_change_id"] == book.last_change_id == captured[name].last_change_id
        assert report["instruments"][name]["valid"] and captured[name].valid
    tshark = requires.need_tool("tshark", "apt-get install tshark")  # the recording opens in tshark
    res = subprocess.run([tshark, "-r", str(out), "-c", "5"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip()


def test_record_command_captures_loopback_udp(tmp_path: Path) -> None:
    """`tickwire record` as users run it: capture for a fixed time, only the given port, then a readable pcap."""
    import socket

    from tickwire.netstack.pcap import read_capture

    requires.need("root", "capturing on loopback needs CAP_NET_RAW")
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    port = rx.getsockname()[1]
    out = tmp_path / "cli.pcap"
    proc = subprocess.Popen([TICKWIRE, "record", "--out", str(out), "--port", str(port), "--duration", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        ready = json.loads(proc.stderr.readline())  # printed once the capture is live
        assert ready["recording"] == str(out)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for i in range(10):
                tx.sendto(b"hello %d" % i, ("127.0.0.1", port))
            tx.sendto(b"other port", ("127.0.0.1", port + 1 if port < 65535 else port - 1))
        stdout, _ = proc.communicate(timeout=30)
    finally:
        rx.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and json.loads(stdout.strip().splitlines()[-1])["packets"] == 10
    cap = read_capture(out)
    assert len(cap) == 10 and all(cap.packet(i).endswith(b"hello %d" % i) for i in range(10))
