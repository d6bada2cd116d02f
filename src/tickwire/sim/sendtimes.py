"""The simulator's own send times (CLOCK_REALTIME ns) for book messages and request answers.

Kept out of the wire format; clients read them with the sim-only method ``sim/get_send_times`` to measure
one-way latency on the same host. Bounded: the oldest entries are forgotten first.
"""
from __future__ import annotations

from collections import deque


class SendTimes:
    """Bounded logs: per book channel ``(change_id, ns)``, per connection ``(request id, ns)``."""

    def __init__(self, max_per_key: int = 1_000_000) -> None:
        self.max_per_key = max_per_key
        self.book: dict[str, deque[tuple[int, int]]] = {}
        self.requests: dict[int, deque[tuple[object, int]]] = {}

    def record_book(self, channel: str, change_id: int, ns: int) -> None:
        log = self.book.get(channel)
        if log is None:
            log = self.book[channel] = deque(maxlen=self.max_per_key)
        log.append((change_id, ns))

    def record_request(self, conn_id: int, request_id: object, ns: int) -> None:
        log = self.requests.get(conn_id)
        if log is None:
            log = self.requests[conn_id] = deque(maxlen=self.max_per_key)
        log.append((request_id, ns))

    def forget_connection(self, conn_id: int) -> None:
        self.requests.pop(conn_id, None)

    def book_since(self, channel: str, since: int, count: int) -> list[list[int]]:
        """``[change_id, ns]`` pairs of ``channel`` with change_id > since, oldest first, at most count."""
        out: list[list[int]] = []
        for change_id, ns in self.book.get(channel, ()):
            if change_id > since:
                out.append([change_id, ns])
                if len(out) >= count:
                    break
        return out

    def requests_of(self, conn_id: int, ids: list[object] | None, count: int) -> list[list[object]]:
        """``[request id, ns]`` pairs of one connection (only ``ids`` when given), oldest first."""
        wanted = set(ids) if ids else None
        out: list[list[object]] = []
        for rid, ns in self.requests.get(conn_id, ()):
            if wanted is None or rid in wanted:
                out.append([rid, ns])
                if len(out) >= count:
                    break
        return out
