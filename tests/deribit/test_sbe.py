"""The compiled SBE decoder against the plain-Python twin: the real Deribit capture, random messages, mutations."""
from __future__ import annotations

import collections
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sbe_strategies import canon, expected, message

from tickwire import types as T
from tickwire.deribit import sbe as D
from tickwire.deribit._sbe_dicts import packet_dicts
from tickwire.deribit.sbe_encode import encode_message, encode_packet
from tickwire.deribit._sbe_ref import SbeDecodeError, decode_packet_py


def decode_one(payload: bytes, out: D.SbeOut | None = None) -> tuple[int, list]:
    """Compiled decode of one payload: (status, [RefPacket]) -- the list is empty when rejected."""
    out = out or D.new_out()
    D.reset(out)
    status = D.decode_packet(np.frombuffer(payload, np.uint8), 0, len(payload), 7, out)
    return int(status), packet_dicts(out)


def reference(payload: bytes) -> tuple[int, list]:
    try:
        return T.SBE_OK, [decode_packet_py(payload)]
    except SbeDecodeError as exc:
        return exc.status, []


def test_real_capture_decodes_with_zero_errors_and_agrees_with_the_twin(capture) -> None:
    buf, offsets, lengths, rx_ns = capture.batch()
    out = D.new_out()
    status = np.zeros(len(lengths), np.uint8)
    compiled, i = [], 0
    while i < len(lengths):
        j = D.decode_batch(buf, offsets, lengths, rx_ns, i, len(lengths) - i, out, status)
        compiled += packet_dicts(out)
        assert out.packets[:out.fill[D.F_PACKETS]]["rx_ns"].tolist() == rx_ns[i:j].tolist()
        D.reset(out)
        i = j
    ref = [decode_packet_py(p) for p in capture.data]
    assert not status.any()
    assert out.stats[T.SBE_STAT_ERRORS] == 0 and out.stats[T.SBE_STAT_UNKNOWN] == 0
    assert out.stats[T.SBE_STAT_PACKETS] == len(capture.data) == 5066
    assert canon(compiled) == canon(ref)  # every field of every message of every packet
    per_template = collections.Counter(T.SBE_TEMPLATE_NAMES[m["template"]] for p in ref for m in p.messages)
    counts = D.template_counts(out.stats)
    assert counts == {name: per_template.get(name, 0) for name in T.SBE_TEMPLATE_NAMES.values()}
    # the figures an independent decoder (the team's protocol notes) found on this capture
    assert counts == {"instrument": 194, "book": 1064, "trades": 332, "ticker": 4211, "snapshot": 197,
                      "snapshot_start": 60, "snapshot_end": 60, "combo_legs": 0, "price_index": 468, "rfq": 0,
                      "instrument_v2": 194}
    assert sum(counts.values()) == out.stats[T.SBE_STAT_MESSAGES] == 6780


def test_channels_follow_the_group_rule_and_match_the_twin(capture) -> None:
    out = D.new_out(packets=8192, msgs=16384, levels=65536, trades=4096)
    buf, offsets, lengths, rx_ns = capture.batch()
    status = np.zeros(len(lengths), np.uint8)
    assert D.decode_batch(buf, offsets, lengths, rx_ns, 0, len(lengths), out, status) == len(lengths)
    channels = out.packets[:out.fill[D.F_PACKETS]]["channel"].tolist()
    assert channels == [decode_packet_py(p).channel for p in capture.data]
    for channel, (group, port) in zip(channels, capture.dst):
        n = int(group.rsplit(".", 1)[1])
        assert channel == (n if port == T.SBE_PORT_INCREMENTAL else n + T.SBE_SNAPSHOT_CHANNEL_OFFSET)
    per_channel = collections.Counter(channels)
    assert per_channel[0] == 468 and per_channel[11] == 1757 and per_channel[111] == 34
    ref_msgs = collections.Counter((p.channel, m["template"]) for p in map(decode_packet_py, capture.data)
                                   for m in p.messages)
    msgs_all = out.msgs[:out.fill[D.F_MSGS]]
    assert collections.Counter(zip(msgs_all["channel"].tolist(), msgs_all["template"].tolist())) == ref_msgs
    # every message carries the channel of its packet
    msgs = out.msgs[:out.fill[D.F_MSGS]]
    assert (msgs["channel"] == out.packets["channel"][msgs["packet"]]).all()


def test_instrument_dictionary(capture) -> None:
    names = {}
    for payload in capture.data:
        _, packets = decode_one(payload)
        for m in packets[0].messages:
            if m["template"] in (T.SBE_TPL_INSTRUMENT, T.SBE_TPL_INSTRUMENT_V2):
                assert names.setdefault(m["instrument_id"], m["name"]) == m["name"]
    assert len(names) == 84
    assert names[14] == "BTC-PERPETUAL" and names[26] == "BTC_USDC"


def test_reencoding_the_capture_gives_the_same_bytes(capture) -> None:
    """Our encoder is exact: every packet re-encodes byte for byte, except Trades.iv written as 0 (null -> NaN)."""
    differ = 0
    for payload in capture.data:
        packet = decode_packet_py(payload)
        again = encode_packet(packet.channel, packet.seq, [encode_message(m) for m in packet.messages])
        differ += again != payload
    iv_zero = sum(1 for p in capture.data for m in decode_packet_py(p).messages if m["template"] == T.SBE_TPL_TRADES
                  for t in m["trades"] if t["iv"] != t["iv"]) > 0
    assert iv_zero and differ == 2  # the two packets whose trades carry iv = 0.0 on the wire


@settings(max_examples=150, deadline=None)
@given(st.lists(message, min_size=1, max_size=10), st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1),
       st.integers(0, 9))
def test_random_messages_round_trip_through_both_decoders(msgs, channel, seq, pad) -> None:
    """Random messages of every template, with extra bytes in every block (a newer schema): both decoders agree."""
    payload = encode_packet(channel, seq, [encode_message(m, pad=pad) for m in msgs])
    want = canon([[channel, seq, [expected(m, channel) for m in msgs]]])
    status, got = decode_one(payload)
    assert status == T.SBE_OK and canon(got) == want
    assert canon(reference(payload)[1]) == want


def _mutations(payload: bytes, data: st.DataObject) -> bytes:
    kind = data.draw(st.sampled_from(["flip", "truncate", "extend", "splice", "header"]))
    b = bytearray(payload)
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            b[data.draw(st.integers(0, len(b) - 1))] = data.draw(st.integers(0, 255))
    elif kind == "truncate":
        del b[data.draw(st.integers(0, len(b) - 1)):]
    elif kind == "extend":
        b += bytes(data.draw(st.integers(1, 20)))
    elif kind == "splice":  # fix the frame length so the walk itself must catch the damage
        del b[data.draw(st.integers(8, len(b) - 1)):]
        struct.pack_into("<H", b, 0, len(b) - 8)
    else:  # damage a message header field (blockLength, templateId, schemaId, numGroups, numVarData)
        field = data.draw(st.sampled_from([0, 2, 4, 8, 10]))
        struct.pack_into("<H", b, 8 + field, data.draw(u16_values))
    return bytes(b)


u16_values = st.one_of(st.integers(0, 0xFFFF), st.sampled_from([0, 1, 2, 999, 1011, 0xFFFF]))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_capture_packets_agree_with_the_twin(capture, data) -> None:
    """Corrupt/truncated packets: never a crash; the same status and the same records as the twin."""
    payload = capture.data[data.draw(st.integers(0, len(capture.data) - 1))]
    mutated = _mutations(payload, data)
    status, got = decode_one(mutated)
    ref_status, ref = reference(mutated)
    assert status == ref_status
    assert canon(got) == canon(ref)


def test_every_truncation_is_rejected(capture) -> None:
    payload = max(capture.data, key=len)
    out = D.new_out()
    for n in range(len(payload)):
        assert D.decode_packet(np.frombuffer(payload[:n], np.uint8), 0, n, 0, out) == T.SBE_ERR_TRUNCATED
    assert out.stats[T.SBE_STAT_ERR_BASE + T.SBE_ERR_TRUNCATED] == len(payload)
    assert out.fill[D.F_PACKETS] == 0 and out.fill[D.F_MSGS] == 0  # nothing of a rejected packet is kept


def test_unknown_template_is_skipped_by_its_header() -> None:
    book = {"template": T.SBE_TPL_BOOK, "instrument_id": 5, "timestamp_ms": 1, "prev_change_id": 1, "change_id": 2,
            "is_last": 1, "levels": [(1, 0, 100.5, 2.0)]}
    unknown = struct.pack("<6H", 6, 1050, 1, 4, 1, 1) + bytes(6) + struct.pack("<4H", 3, 2, 0, 0) + bytes(6) + b"\x02ab"
    payload = encode_packet(3, 9, [unknown, encode_message(book)])
    status, got = decode_one(payload)
    assert status == T.SBE_OK and [m["template"] for m in got[0].messages] == [1050, T.SBE_TPL_BOOK]
    assert canon(got) == canon(reference(payload)[1])
    assert got[0].messages[1]["levels"] == [(1, 0, 100.5, 2.0)]


def test_short_block_of_a_known_template_is_rejected() -> None:
    payload = encode_packet(1, 1, [struct.pack("<6H", 20, T.SBE_TPL_BOOK, 1, 2, 1, 0) + bytes(20)
                                   + struct.pack("<4H", 18, 0, 0, 0)])
    assert decode_one(payload)[0] == reference(payload)[0] == T.SBE_ERR_BLOCK


def test_full_buffers_ask_for_a_flush_and_keep_nothing(capture) -> None:
    out = D.new_out(packets=2)
    payloads = [np.frombuffer(p, np.uint8) for p in capture.data[:3]]
    assert [D.decode_packet(p, 0, len(p), 0, out) for p in payloads] == [T.SBE_OK, T.SBE_OK, T.SBE_ERR_CAPACITY]
    assert out.fill[D.F_PACKETS] == 2 and out.stats[T.SBE_STAT_PACKETS] == 2
    D.reset(out)
    assert D.decode_packet(payloads[2], 0, len(payloads[2]), 0, out) == T.SBE_OK
    assert canon(packet_dicts(out)) == canon([decode_packet_py(capture.data[2])])


def test_nan_and_zero_iv_are_null() -> None:
    trade = {"direction": 0, "price": 1.0, "amount": 1.0, "timestamp_ms": 1, "mark_price": 1.0, "index_price": 1.0,
             "trade_seq": 1, "trade_id": 2, "tick_direction": 0, "liquidation": 0, "block_trade_id": 0,
             "combo_trade_id": T.SBE_NULL_U64}
    msg = {"template": T.SBE_TPL_TRADES, "instrument_id": 3,
           "trades": [dict(trade, iv=0.0), dict(trade, iv=float("nan")), dict(trade, iv=55.5)]}
    payload = np.frombuffer(encode_packet(1, 1, [encode_message(msg)]), np.uint8)
    out = D.new_out()
    assert D.decode_packet(payload, 0, len(payload), 0, out) == T.SBE_OK
    trades = out.trades[:out.fill[D.F_TRADES]]
    assert np.isnan(trades["iv"][:2]).all() and trades["iv"][2] == 55.5
    assert (trades["combo_trade_id"] == 0).all()


@pytest.mark.parametrize("bad", [b"", b"\x00" * 7, struct.pack("<HHI", 5, 1, 1) + b"\x00" * 4])
def test_frames_with_a_wrong_length_are_truncated(bad: bytes) -> None:
    assert decode_one(bad)[0] == reference(bad)[0] == T.SBE_ERR_TRUNCATED


def test_bad_book_side_is_an_enum_error() -> None:
    book = {"template": T.SBE_TPL_BOOK, "instrument_id": 5, "timestamp_ms": 1, "prev_change_id": 1, "change_id": 2,
            "is_last": 1, "levels": [(7, 0, 100.5, 2.0)]}
    payload = encode_packet(3, 9, [encode_message(book)])
    assert decode_one(payload)[0] == reference(payload)[0] == T.SBE_ERR_ENUM
