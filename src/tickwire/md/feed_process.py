"""The multicast feed handler in its own process, handing book events to the engine through a shared-memory ring.

Layout: the feed process (pinned to its own CPU when given one) receives the multicast SBE feed, decodes it and
keeps its own books (tickwire.md.mcast_feed); each event it produces (EVENT_DTYPE, 64 bytes = one ring record)
is pushed into an SPSC ring (tickwire.netstack.ring), and one byte written to a wake-up pipe. The engine side
(:class:`FeedReader`) wakes on that pipe, pops the events, applies them to the engine's books with the
change_id chain, and hands them to the engine's compiled pass. Instrument slots are the engine's: both sides
build their instrument table from the same list.

When the ring is full the ring refuses the event (counted in its ``overruns``); the engine's copy of a book
would now miss a change, so the producer takes a snapshot of every book it holds and queues it, followed by
every later event, and pushes that backlog as the ring frees up (``resyncs`` counts completed catch-ups): the
engine's chain check marks a book invalid at the hole (no quoting on it) and the snapshot makes it valid again,
the queued increments chaining on from the snapshot's change_id. When the feed process dies, the
wake-up pipe reads end-of-file at once: :class:`FeedReader` calls ``on_death`` with the exit code (the engine
stops quoting and says why); nothing waits on a dead peer.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit

from tickwire.deribit.instruments import InstrumentTable
from tickwire.md.book import Books, book_apply_events
from tickwire.netstack.ring import P_BEAT_NS, ShmRing, ring_pop_many, ring_push
from tickwire.types import (
    ACT_LEVEL_NEW, ACT_LEVEL_NONE, BOOK_ASK, BOOK_BID, EV_BOOK, EVENT_DTYPE, EVF_FIRST, EVF_LAST, EVF_SNAPSHOT,
)

EVENT_WORDS = EVENT_DTYPE.itemsize // 8
W_RESYNCS = 13  # producer-owned header word (cache line 1): snapshots pushed after an overrun
DEFAULT_SLOTS = 1 << 14
MAX_BACKLOG_EVENTS = 1 << 20  # events kept while the ring is full; beyond, a fresh snapshot replaces them
_FORK = mp.get_context("fork")


@njit(cache=True)
def push_events(words: np.ndarray, raw: np.ndarray, n: int) -> int:
    """Push rows ``raw[:n]`` (EVENT_WORDS uint64 each); returns how many went in (stops at the first refusal)."""
    for k in range(n):
        if not ring_push(words, raw[k]):
            return k
    return n


def snapshot_events(books: Books, n_slots: int) -> np.ndarray:
    """One snapshot message per valid book (EVF_SNAPSHOT; first/last flags; its last change_id), as events."""
    out = []
    for inst in range(n_slots):
        st = books.state[inst]
        if not st["valid"]:
            continue
        rows = [(BOOK_BID, p, q) for p, q in books.levels(inst, BOOK_BID)]
        rows += [(BOOK_ASK, p, q) for p, q in books.levels(inst, BOOK_ASK)]
        ev = np.zeros(max(1, len(rows)), EVENT_DTYPE)
        ev["kind"], ev["inst"], ev["flags"] = EV_BOOK, inst, EVF_SNAPSHOT
        ev["change_id"], ev["prev_change_id"], ev["exch_ts"] = int(st["last_change_id"]), -1, int(st["exch_ts"])
        ev["action"] = ACT_LEVEL_NEW if rows else ACT_LEVEL_NONE
        for k, (side, price, amount) in enumerate(rows):
            ev[k]["side"], ev[k]["price"], ev[k]["amount"] = side, price, amount
        ev[0]["flags"] |= EVF_FIRST
        ev[-1]["flags"] |= EVF_LAST
        out.append(ev)
    return np.concatenate(out) if out else np.zeros(0, EVENT_DTYPE)


class _Producer:
    """The feed process's side: events in, ring records out. After a refusal, the events wait here in order:
    first a snapshot of every book (taken at the refusal, so it already holds the refused events), then every
    later batch; they go into the ring as it frees up, and live pushing resumes once this backlog is empty."""

    def __init__(self, ring: ShmRing, wake_fd: int, books: Books, n_slots: int,
                 max_backlog: int = MAX_BACKLOG_EVENTS) -> None:
        self.ring, self.wake_fd, self.books, self.n_slots = ring, wake_fd, books, n_slots
        self.max_backlog = max_backlog
        self.backlog: deque[np.ndarray] = deque()
        self.backlog_events = 0
        self.pos = 0  # events of backlog[0] already pushed

    @property
    def resyncing(self) -> bool:
        return bool(self.backlog)

    def on_events(self, events: np.ndarray) -> None:
        if self.backlog:
            self.backlog.append(events.copy())
            self.backlog_events += events.shape[0]
            if self.backlog_events > self.max_backlog:  # the engine is not draining: start over from now
                self._start_resync()
            self.drain_backlog()
            return
        n = events.shape[0]
        if push_events(self.ring.words, events.view(np.uint64).reshape(n, EVENT_WORDS), n) < n:
            self._start_resync()
            self.drain_backlog()
        self.wake()

    def _start_resync(self) -> None:
        snap = snapshot_events(self.books, self.n_slots)
        self.backlog = deque([snap] if snap.shape[0] else [])
        self.backlog_events = snap.shape[0]
        self.pos = 0
        if not self.backlog:  # no valid book to send: nothing the engine could be missing beyond the hole
            self.ring.words[W_RESYNCS] += 1

    def drain_backlog(self) -> None:
        """Push what fits of the backlog, oldest first."""
        pushed = False
        while self.backlog:
            head = self.backlog[0]
            rest = head.shape[0] - self.pos
            k = push_events(self.ring.words, head[self.pos:].view(np.uint64).reshape(rest, EVENT_WORDS), rest)
            pushed |= k > 0
            self.pos += k
            if k < rest:
                break
            self.backlog.popleft()
            self.backlog_events -= head.shape[0]
            self.pos = 0
            if not self.backlog:
                self.ring.words[W_RESYNCS] += 1
        if pushed:
            self.wake()

    def wake(self) -> None:
        try:
            os.write(self.wake_fd, b"\x01")
        except BlockingIOError:
            pass  # the pipe is full of wake-ups already: the engine is awake


def _feed_main(ring_name: str, wake_fd: int, ports: tuple[int, int], channels: list[int],
               instruments: list[tuple[str, str, str]], cpu: int, interface: str) -> None:
    from tickwire.md.mcast_feed import McastMarketData
    from tickwire.netstack.mcast import ChannelMap

    if cpu >= 0:
        os.sched_setaffinity(0, {cpu})
    ring = ShmRing.attach(ring_name)
    ring.register(producer=True)
    table = InstrumentTable(capacity=max(1, len(instruments)), defaults=False)
    for name, tick, lot in instruments:
        table.add(name, tick, lot)
    books = Books(max(1, len(instruments)))
    md = McastMarketData(ChannelMap(port_incremental=ports[0], port_snapshot=ports[1]), channels, table=table,
                         books=books, interface=interface)
    producer = _Producer(ring, wake_fd, books, len(instruments))
    md.feed.on_events = producer.on_events
    parent = os.getppid()
    while os.getppid() == parent:  # the engine died: so do we
        md.receive(timeout_ms=1)
        if producer.resyncing:
            producer.drain_backlog()
        ring.words[P_BEAT_NS] = time.monotonic_ns()


class FeedProcess:
    """Starts the feed process; ``reader`` is the engine's end (attach it to the engine's loop)."""

    def __init__(self, ports: tuple[int, int], channels: list[int], instruments: list[tuple[str, str, str]],
                 cpu: int = -1, slots: int = DEFAULT_SLOTS, interface: str = "127.0.0.1") -> None:
        self.ring = ShmRing.create(slots, EVENT_WORDS)
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        self.process = _FORK.Process(target=_feed_main, name="tickwire-md-feed", daemon=True,
                                     args=(self.ring.name, w, ports, channels, instruments, cpu, interface))
        self.process.start()
        os.close(w)  # only the child holds the write end: its death is our end-of-file
        self.wake_fd = r

    def resyncs(self) -> int:
        return int(self.ring.words[W_RESYNCS])

    def exit_code(self) -> int | None:
        return self.process.exitcode

    def close(self) -> None:
        """Stop the feed process and free the ring and the pipe."""
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        os.close(self.wake_fd)
        self.ring.close()


class FeedReader:
    """The engine's end of the ring: on each wake-up, pop every event, apply it to ``books`` and call
    ``on_events(events)``; ``on_death(reason)`` once when the feed process is gone."""

    def __init__(self, feed: FeedProcess, books: Books, on_events: Callable[[np.ndarray], Any],
                 on_death: Callable[[str], Any], batch: int = 4096) -> None:
        self.feed, self.books, self.on_events, self.on_death = feed, books, on_events, on_death
        self.events = np.zeros(batch, EVENT_DTYPE)
        self.raw = self.events.view(np.uint64).reshape(batch, EVENT_WORDS)
        self.gaps = 0
        self.dead = False
        self._loop: Any = None

    def attach(self, loop: Any) -> None:
        self._loop = loop
        loop.add_reader(self.feed.wake_fd, self.on_readable)

    def on_readable(self) -> None:
        try:
            eof = os.read(self.feed.wake_fd, 4096) == b""
        except BlockingIOError:
            eof = False
        self.drain()
        if eof and not self.dead:
            self.dead = True
            if self._loop is not None:
                self._loop.remove_reader(self.feed.wake_fd)
            self.feed.process.join(1.0)
            self.on_death(f"md feed process died: exit code {self.feed.exit_code()}, "
                          f"{self.feed.ring.overruns()} event(s) refused by a full ring")

    def drain(self) -> int:
        """Pop, apply and hand over everything in the ring now; returns the events handled."""
        total = 0
        while True:
            n = ring_pop_many(self.feed.ring.words, self.raw)
            if n == 0:
                return total
            self.gaps += int(book_apply_events(self.books.px, self.books.qty, self.books.state, self.events, n))
            self.on_events(self.events[:n])
            total += n

    def detach(self) -> None:
        if self._loop is not None and not self.dead:
            self._loop.remove_reader(self.feed.wake_fd)
        self._loop = None
