"""Wire-to-wire analysis on a crafted capture: every expected figure is computed by hand from the packet times."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

import synth_session as synth
from tickwire.md.wire import (
    NEW_ORDER_METHODS, ORDER_METHODS, POSITION_METHODS, read_wire, split_round_trips, tick_to_trade, venue_times,
)
from tickwire.netstack.ws import OP_TEXT, ref_encode

T0 = 1_700_000_000 * 10**9
CLIENT_A, CLIENT_B, SERVER = ("127.0.0.1", 41000), ("127.0.0.1", 41001), ("127.0.0.1", 8022)


def _book(change_id: int) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "method": "subscription", "params": {
        "channel": "book.BTC-PERPETUAL.raw", "data": {"type": "change", "change_id": change_id,
                                                      "prev_change_id": change_id - 1, "bids": [], "asks": []}}})


def _request(rid: int, method: str) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": {}})


def _answer(rid: int) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": rid, "result": {}})


class _Conn:
    """One TCP connection written packet by packet at chosen capture times."""

    def __init__(self, client: tuple[str, int], t: int, out: list[tuple[int, bytes]],
                 server: tuple[str, int] = SERVER) -> None:
        self.endpoint, self.server_endpoint, self.out = client, server, out
        self.c_seq, self.s_seq = 1001, 5001
        self._pkt(t, False, 1000, 0, 0x02)
        self._pkt(t + 1, True, 5000, self.c_seq, 0x12)
        self.send(t + 2, False, synth.UPGRADE_REQUEST)
        self.send(t + 3, True, synth.UPGRADE_RESPONSE)

    def _pkt(self, t: int, from_server: bool, seq: int, ack: int, flags: int, payload: bytes = b"") -> None:
        server = self.server_endpoint
        (sa, sp), (da, dp) = (server, self.endpoint) if from_server else (self.endpoint, server)
        self.out.append((t, synth.tcp_frame(sa, da, sp, dp, seq, ack, flags, payload)))

    def send(self, t: int, from_server: bool, data: bytes) -> None:
        if from_server:
            self._pkt(t, True, self.s_seq, self.c_seq, 0x18, data)
            self.s_seq += len(data)
        else:
            self._pkt(t, False, self.c_seq, self.s_seq, 0x18, data)
            self.c_seq += len(data)

    def server(self, t: int, msg: bytes) -> None:
        self.send(t, True, ref_encode(msg, OP_TEXT))

    def client(self, t: int, msg: bytes) -> None:
        self.send(t, False, ref_encode(msg, OP_TEXT, key=0x1234ABCD))


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pkts: list[tuple[int, bytes]] = []
    a = _Conn(CLIENT_A, T0, pkts)
    b = _Conn(CLIENT_B, T0 + 10, pkts)
    us = 1_000
    a.server(T0 + 100 * us, _book(10))
    a.client(T0 + 107 * us, _request(1, "private/buy"))  # 7 µs after book 10 (the latest)
    a.server(T0 + 200 * us, _answer(1))  # venue: 93 µs
    a.server(T0 + 300 * us, _book(11))
    frame = ref_encode(_book(12), OP_TEXT)  # book 12 in two packets: it completes at 306 µs
    a.send(T0 + 305 * us, True, frame[:20])
    a.send(T0 + 306 * us, True, frame[20:])
    b.server(T0 + 308 * us, _book(99))  # another connection's book never triggers A's orders
    a.client(T0 + 309 * us, _request(2, "private/cancel"))  # logged trigger 11: 9 µs (the latest would say 3)
    a.client(T0 + 320 * us, _request(4, "private/buy"))  # not logged: latest on A is book 12 -> 14 µs
    a.server(T0 + 330 * us, _answer(2))  # venue: 21 µs
    a.send(T0 + 335 * us, True, ref_encode(b"not json {", OP_TEXT))  # counted and skipped
    a.server(T0 + 340 * us, _answer(4))  # venue: 20 µs
    a.client(T0 + 400 * us, _request(3, "private/get_positions"))
    a.server(T0 + 450 * us, _answer(3))  # venue: 50 µs
    b.client(T0 + 500 * us, _request(7, "private/buy"))  # B: book 99 at 308 µs -> 192 µs
    pkts.sort(key=lambda p: p[0])
    path = tmp_path_factory.mktemp("wire") / "crafted.pcap"
    synth.write_packets(path, pkts)
    return path


def test_tick_to_trade_by_logged_change_id_else_latest_book_of_the_connection(crafted: Path) -> None:
    wire = read_wire(crafted)
    assert wire.skipped == 1 and wire.capture_error is None
    t2t = tick_to_trade(wire, triggers={2: 11})
    assert t2t.samples_ns.tolist() == [7_000, 9_000, 14_000, 192_000]
    assert (t2t.by_change_id, t2t.by_latest, t2t.no_trigger) == (1, 3, 0)
    # without the log, order 2 takes the latest book before it on its own connection (12, at 306 µs)
    assert tick_to_trade(wire).samples_ns.tolist() == [7_000, 3_000, 14_000, 192_000]
    # a trigger log naming a change_id the capture does not hold falls back to the latest book
    assert tick_to_trade(wire, triggers={2: 5}).samples_ns.tolist() == [7_000, 3_000, 14_000, 192_000]


def test_venue_part_and_ours_per_request_id(crafted: Path) -> None:
    wire = read_wire(crafted)
    assert venue_times(wire, ORDER_METHODS) == {1: 93_000.0, 2: 21_000.0, 4: 20_000.0}
    assert venue_times(wire, NEW_ORDER_METHODS) == {1: 93_000.0, 4: 20_000.0}  # B's order 7 was never answered
    positions = venue_times(wire, POSITION_METHODS)
    assert positions == {3: 50_000.0}
    split = split_round_trips(positions, {3: 80_000.0, 8: 60_000.0})  # 8: not in the capture
    assert split.venue_ns.tolist() == [50_000.0] and split.ours_ns.tolist() == [30_000.0]
    assert split.unmatched == 1 and split.ids == [3]


def test_between_keeps_the_connections_that_started_in_the_window(crafted: Path) -> None:
    wire = read_wire(crafted)
    only_b = wire.between(T0 + 5, T0 + 1_000_000)  # A opened (SYN) at T0, B at T0 + 10
    assert {m.conn for m in only_b.messages} == {m.conn for m in wire.messages if m.conn[0][1] == CLIENT_B[1]
                                                 or m.conn[1][1] == CLIENT_B[1]}
    assert tick_to_trade(only_b).samples_ns.tolist() == [192_000]


def test_addresses_from_128_0_0_0_up_keep_one_key_per_connection(tmp_path: Path) -> None:
    """Both directions of a connection between 198.18.0.1 and 198.18.0.2 (the userspace stack's test network) are
    one connection: the book the venue sent triggers the order the client sent, and the answer matches it."""
    pkts: list[tuple[int, bytes]] = []
    c = _Conn(("198.18.0.1", 50000), T0, pkts, server=("198.18.0.2", 8022))
    c.server(T0 + 100_000, _book(10))
    c.client(T0 + 105_000, _request(1, "private/buy"))
    c.server(T0 + 150_000, _answer(1))
    path = tmp_path / "high.pcap"
    synth.write_packets(path, pkts)
    wire = read_wire(path)
    assert len({m.conn for m in wire.messages}) == 1 and set(wire.opened) == {wire.messages[0].conn}
    assert tick_to_trade(wire).samples_ns.tolist() == [5_000]
    assert venue_times(wire, ORDER_METHODS) == {1: 45_000.0}


def test_damaged_capture_keeps_what_precedes_the_damage(crafted: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.pcap"
    data = crafted.read_bytes()
    cut.write_bytes(data[: len(data) - 30])  # the last packet (B's order) is cut
    wire = read_wire(cut)
    assert wire.capture_error is not None
    assert tick_to_trade(wire, triggers={2: 11}).samples_ns.tolist() == [7_000, 9_000, 14_000]
    assert np.all(np.diff([m.ts_ns for m in wire.messages]) >= 0)
