"""The simulator's own send times (CLOCK_REALTIME ns) for book messages and request answers.

Kept out of the wire format; clients read them with the sim-only method ``sim/get_send_times`` to measure
one-way latency on the same host. Bounded: each book channel keeps its last ``kept`` messages in a numpy ring
(16 bytes each), each connection its last ``kept`` answers; the oldest are forgotten first.
"""
from __future__ import annotations

from collections import deque

import numpy as np

DEFAULT_KEPT = 1 << 18


class _Ring:
    """``(change_id, ns)`` pairs in two preallocated int64 rings."""

    __slots__ = ("ids", "ns", "count", "mask")

    def __init__(self, size: int) -> None:
        self.ids = np.zeros(size, np.int64)
        self.ns = np.zeros(size, np.int64)
        self.count = 0
        self.mask = size - 1

    def append(self, change_id: int, ns: int) -> None:
        i = self.count & self.mask
        self.ids[i] = change_id
        self.ns[i] = ns
        self.count += 1

    def since(self, since: int, limit: int) -> list[list[int]]:
        n = min(self.count, self.mask + 1)
        order = np.arange(self.count - n, self.count) & self.mask
        ids, ns = self.ids[order], self.ns[order]
        keep = ids > since
        return np.stack([ids[keep], ns[keep]], axis=1)[:limit].tolist()


class SendTimes:
    """Per book channel ``(change_id, ns)``; per connection ``(request id, ns)``."""

    def __init__(self, kept: int = DEFAULT_KEPT) -> None:
        if kept < 1 or kept & (kept - 1):
            raise ValueError("kept must be a power of two")
        self.kept = kept
        self.book: dict[str, _Ring] = {}
        self.requests: dict[int, deque[tuple[object, int]]] = {}

    def record_book(self, channel: str, change_id: int, ns: int) -> None:
        ring = self.book.get(channel)
        if ring is None:
            ring = self.book[channel] = _Ring(self.kept)
        ring.append(change_id, ns)

    def record_request(self, conn_id: int, request_id: object, ns: int) -> None:
        log = self.requests.get(conn_id)
        if log is None:
            log = self.requests[conn_id] = deque(maxlen=self.kept)
        log.append((request_id, ns))

    def forget_connection(self, conn_id: int) -> None:
        self.requests.pop(conn_id, None)

    def book_since(self, channel: str, since: int, count: int) -> list[list[int]]:
        """``[change_id, ns]`` pairs of ``channel`` with change_id > since, oldest first, at most count."""
        ring = self.book.get(channel)
        return ring.since(since, count) if ring is not None else []

    def requests_of(self, conn_id: int, ids: list[object] | None, count: int) -> list[list[object]]:
        """``[request id, ns]`` pairs of one connection (only ``ids`` when given: ``[]`` is none), oldest first."""
        if ids is not None and not ids:
            return []
        wanted = set(ids) if ids else None
        out: list[list[object]] = []
        for rid, ns in self.requests.get(conn_id, ()):
            if wanted is None or rid in wanted:
                out.append([rid, ns])
                if len(out) >= count:
                    break
        return out
