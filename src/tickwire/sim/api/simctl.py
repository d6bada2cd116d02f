"""Simulator-only methods (``sim/*``): send times, faults and connection control, counters."""
from __future__ import annotations

from typing import Any

from tickwire.sim.api.registry import Ctx, method
from tickwire.sim.errors import invalid_param


@method("sim/get_send_times", sim=True)
def get_send_times(ctx: Ctx) -> dict[str, Any]:
    """Send times (CLOCK_REALTIME ns) of book messages of ``channel`` after change_id ``since``, and of this
    connection's answered requests (``ids``: only those; ``connection_id``: another connection's)."""
    times = ctx.venue.exchange.feed.times
    count = ctx.p.int_("count", default=100_000, lo=1, hi=1_000_000) or 100_000
    out: dict[str, Any] = {}
    channel = ctx.p.str_("channel")
    if channel is not None:
        out["channel"] = channel
        out["book"] = times.book_since(channel, ctx.p.int_("since", default=0) or 0, count)
    conn = ctx.p.int_("connection_id")
    if conn is None and ctx.session is not None:
        conn = ctx.session.id
    ids_raw = ctx.p.raw.get("ids")
    if ids_raw is not None and (not isinstance(ids_raw, list) or not all(
            isinstance(i, (int, str)) and not isinstance(i, bool) for i in ids_raw)):
        raise invalid_param("ids", "must be an array of request ids")
    out["connection_id"] = conn
    out["requests"] = times.requests_of(conn or 0, ids_raw, count)
    return out


@method("sim/control", sim=True)
def control(ctx: Ctx) -> dict[str, Any]:
    """Change faults (``gap``, ``drop``, ``delay_ms``, ``reject``, ``slow_ack_ms``, ``squeeze``, ``close_every``)
    and/or close connections now (``close``: "self" | "others" | "all", after this answer)."""
    raw = dict(ctx.p.raw)
    close = raw.pop("close", None)
    raw.pop("access_token", None)
    if close is not None and close not in ("self", "others", "all"):
        raise invalid_param("close", "must be self, others or all")
    try:
        ctx.venue.config.faults.update(raw)
    except ValueError as exc:
        raise invalid_param("faults", str(exc)) from None
    if close is not None:
        me = ctx.session.id if ctx.session is not None else None
        ctx.after.append(lambda: ctx.venue.close_sessions(close, me))
    return {"faults": ctx.venue.config.faults.to_json(), "connections": len(ctx.venue.sessions)}


@method("sim/get_stats", sim=True)
def get_stats(ctx: Ctx) -> dict[str, Any]:
    """Counters: flow events, book messages written, connections, orders."""
    venue = ctx.venue
    return {"flow_events": venue.flow.events, "flow_skipped": venue.flow.skipped,
            "book_messages_sent": venue.exchange.feed.sent_book,
            "connections": len(venue.sessions), "orders": len(venue.exchange.orders),
            "change_ids": {n: st.change_id for n, st in venue.exchange.states.items()},
            "listener_errors": list(venue.exchange.listener_errors)}
