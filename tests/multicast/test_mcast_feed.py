"""The multicast feed handler on the real capture and on damaged copies of it (lost, duplicated, reordered,
corrupt and truncated packets): compared with the plain-Python twin and with the undamaged run."""
from __future__ import annotations

import random
import struct

import numpy as np
import pytest
from ref_feed import RefFeed

from tickwire import types as T
from tickwire.md.book import Books, book_apply_events
from tickwire.md.mcast_feed import McastFeed


def run_feed(payloads: list[bytes]) -> tuple[McastFeed, list[np.ndarray]]:
    events: list[np.ndarray] = []
    feed = McastFeed(n_slots=128, on_events=lambda ev: events.append(ev.copy()))
    lengths = np.array([len(p) for p in payloads], np.int64)
    offsets = np.zeros(len(lengths), np.int64)
    offsets[1:] = np.cumsum(lengths)[:-1]
    buf = np.frombuffer(b"".join(payloads), np.uint8).copy()
    feed.on_batch(buf, offsets, lengths, np.arange(len(lengths), dtype=np.int64), len(lengths))
    n = feed.flush()
    events.append(feed.events[:n].copy())
    return feed, events


def run_ref(payloads: list[bytes]) -> RefFeed:
    ref = RefFeed()
    for p in payloads:
        ref.packet(p)
    return ref


def assert_same(feed: McastFeed, ref: RefFeed) -> None:
    stats = feed.stats
    for key, value in ref.stats.items():
        if key != "decode_errors":
            assert stats[key] == value, key
    errors = sum(v for k, v in stats.items() if k.startswith("decode_") and k not in ("decode_packets",
                                                                                         "decode_messages"))
    assert errors == ref.stats["decode_errors"]
    assert feed.names == ref.names
    for slot in ref.names:
        assert feed.synced(slot) == ref.synced(slot), ref.names[slot]
        assert bool(feed.books.state[slot]["valid"]) == ref.books[slot].valid
        if ref.books[slot].valid:
            for side in (T.BOOK_BID, T.BOOK_ASK):
                assert feed.books.levels(slot, side) == ref.books[slot].levels(side), ref.names[slot]
            assert feed.books.state[slot]["last_change_id"] == ref.books[slot].last_change_id
        assert feed.state.trades[slot] == ref.trades[slot]


@pytest.fixture(scope="module")
def clean(capture):
    feed, events = run_feed(capture.data)
    return feed, events, run_ref(capture.data)


def test_real_capture_builds_every_book_and_agrees_with_the_twin(clean) -> None:
    feed, _, ref = clean
    assert_same(feed, ref)
    s = feed.stats
    assert s["decode_packets"] == 5066 and s["packets"] == 5066
    assert s["gaps"] == s["duplicates"] == s["reordered"] == s["book_gaps"] == s["off_tick"] == 0
    assert s["slots"] == len(feed.names) == 84
    assert all(feed.synced(slot) for slot in feed.names)  # every book recovered from the snapshot channels
    assert s["snapshots"] >= 84 and s["snapshots_verified"] > 50
    assert s["trades"] == 421
    report = feed.report()
    perp = report["BTC-PERPETUAL"]
    assert perp["synced"] and perp["bids"] > 0 and perp["asks"] > 0 and perp["best_bid"] < perp["best_ask"]


def test_events_rebuild_the_same_books(clean) -> None:
    """The book events the feed emits, applied to another Books, give the feed's books (the engine's view)."""
    feed, events, _ = clean
    books = Books(len(feed.books.state), feed.books.px.shape[2])
    for batch in events:
        book_apply_events(books.px, books.qty, books.state, batch, len(batch))
    for slot in feed.names:
        assert books.summary(slot) == feed.books.summary(slot)
    kinds = np.concatenate(events)["kind"]
    assert (kinds == T.EV_TRADE).sum() == 421 and (kinds == T.EV_TICKER).sum() == 2 * feed.stats["tickers"]


def _channel_tails(payloads: list[bytes]) -> set[int]:
    """Index of the last packet of each channel: losing it cannot be detected without a later packet."""
    last = {}
    for i, p in enumerate(payloads):
        last[struct.unpack_from("<H", p, 2)[0]] = i
    return set(last.values())


def _mutate(payloads: list[bytes], kind: str, rng: random.Random) -> tuple[list[bytes], int]:
    """A damaged copy of the capture and the number of damaged packets."""
    out = list(payloads)
    tails = _channel_tails(payloads)
    picks = sorted(rng.sample([i for i in range(len(out) - 1) if i not in tails], 40), reverse=True)
    for i in picks:
        if kind == "drop":
            del out[i]
        elif kind == "duplicate":
            out.insert(i + rng.randint(1, 5), out[i])
        elif kind == "reorder":  # move the packet a few places later (past other packets of its channel)
            out.insert(min(i + rng.randint(2, 30), len(out) - 1), out.pop(i))
        elif kind == "truncate":
            out[i] = out[i][:rng.randint(0, len(out[i]) - 1)]
        elif kind == "corrupt":  # a damaged header field that the walk must catch
            b = bytearray(out[i])
            struct.pack_into("<H", b, 8 + rng.choice([0, 4, 8]), rng.choice([0xFFFF, 999, 7]))
            out[i] = bytes(b)
    return out, len(picks)


@pytest.mark.parametrize("kind", ["drop", "duplicate", "reorder", "truncate", "corrupt"])
@pytest.mark.parametrize("seed", [1, 2])
def test_damaged_capture_is_counted_and_never_gives_a_wrong_book(capture, clean, kind, seed) -> None:
    damaged, n = _mutate(capture.data, kind, random.Random(seed))
    feed, _ = run_feed(damaged)
    assert_same(feed, run_ref(damaged))
    s = feed.stats
    rejected = sum(v for k, v in s.items() if k.startswith("decode_") and k not in ("decode_packets",
                                                                                   "decode_messages"))
    if kind == "duplicate":
        assert s["duplicates"] == n and s["gaps"] == 0
    elif kind == "reorder":
        assert s["reordered"] > 0 and s["missing"] == 0  # every late packet filled its gap
    elif kind in ("truncate", "corrupt"):
        assert rejected == n and s["gaps"] > 0
    else:
        assert s["gaps"] > 0 and s["missing"] == n
    clean_feed = clean[0]
    synced = 0
    for slot, name in feed.names.items():
        if not feed.synced(slot):
            continue
        want = clean_feed.slot(name)
        synced += 1  # a book the feed calls in sync is exactly the undamaged run's book
        assert feed.books.state[slot]["last_change_id"] == clean_feed.books.state[want]["last_change_id"], name
        for side in (T.BOOK_BID, T.BOOK_ASK):
            assert feed.books.levels(slot, side) == clean_feed.books.levels(want, side), name
    assert synced > 0


def test_engine_instrument_table_keeps_its_slots(capture) -> None:
    """With the engine's InstrumentTable, known names keep their slot and new ones are appended to the table."""
    from tickwire.deribit.instruments import InstrumentTable

    table = InstrumentTable(capacity=128)  # BTC-PERPETUAL is slot 0, ETH-PERPETUAL slot 1
    events: list[np.ndarray] = []
    feed = McastFeed(table=table, on_events=lambda ev: events.append(ev.copy()))
    buf, offsets, lengths, rx_ns = capture.batch()
    feed.on_batch(buf, offsets, lengths, rx_ns, len(lengths))
    events.append(feed.events[:feed.flush()].copy())
    assert feed.slot("BTC-PERPETUAL") == table.slot("BTC-PERPETUAL") == 0
    assert all(table.slot(name) == slot for slot, name in feed.names.items())
    assert feed.slot("ETH-PERPETUAL") == 1
    assert len(table) == len(feed.names) == 84
    for slot in feed.names:
        assert float(table.tick_size(slot)) == feed.state.tick[slot]
        assert float(table.lot_size(slot)) == feed.state.lot[slot]
    trades = np.concatenate(events)
    trades = trades[trades["kind"] == T.EV_TRADE]
    assert (trades["inst"] == 0).sum() == feed.state.trades[0] > 0
