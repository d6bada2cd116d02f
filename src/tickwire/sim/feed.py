"""Subscriptions and delivery: who gets which notification, 100 ms aggregation, snapshots, send-time records.

Each public message is encoded once and written to every subscriber. ``book.{i}.raw`` carries every change;
``book.{i}.100ms`` carries, every 100 ms, the net level changes of the window (change_id = the last raw change,
prev_change_id = the previous 100 ms message's change_id); a new subscriber first gets a snapshot and its first
aggregate chains to that snapshot. The ``gap`` fault skips whole book messages (the chain breaks for everyone).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from tickwire.sim import messages as msg
from tickwire.sim.channels import ChannelSpec
from tickwire.sim.feed_extra import SLOW_EVERY_TICKS, ExtraChannels
from tickwire.sim.matching import BUY, SELL, LevelChange
from tickwire.sim.sendtimes import SendTimes

if TYPE_CHECKING:
    from tickwire.sim.accounts import Account
    from tickwire.sim.exchange import Exchange, InstrumentState

_dumps = orjson.dumps


class Subscriber(Protocol):
    """What the feed needs of a connection."""

    id: int
    account_name: str | None
    user_specs: dict[str, ChannelSpec]
    snap_override: dict[str, int]

    def notify(self, data: bytes) -> None: ...


_PREFIXES: dict[str, bytes] = {}


def notification(channel: str, data: Any) -> bytes:
    """``{"jsonrpc":"2.0","method":"subscription","params":{"channel":...,"data":...}}`` with the constant
    head encoded once per channel (this runs for every book message)."""
    prefix = _PREFIXES.get(channel)
    if prefix is None:
        head = _dumps({"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": 0}})
        prefix = _PREFIXES[channel] = head[:-len(b'0}}')]
    return prefix + _dumps(data) + b"}}"


def change_template(channel: str, instrument: str) -> bytes:
    """The bytes of a book change notification on ``channel`` with %-slots for timestamp, prev_change_id,
    change_id (``%d``) and the encoded bids and asks (``%b``): the same bytes as ``notification`` of the
    change object (same keys, same order), without building a dict for every message."""
    head = notification(channel, 0)[:-len(b"0}}")].replace(b"%", b"%%")
    name = _dumps(instrument).replace(b"%", b"%%")
    return (head + b'{"type":"change","timestamp":%d,"prev_change_id":%d,"instrument_name":' + name
            + b',"change_id":%d,"bids":%b,"asks":%b}}}')


class Feed:
    """Channel registry of the venue."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.faults = exchange.config.faults
        self.times = SendTimes(exchange.config.send_times_kept)
        self.subs: dict[str, dict[int, Subscriber]] = {}
        self.specs: dict[str, ChannelSpec] = {}
        self.user_sessions: dict[str, dict[int, Subscriber]] = {}
        self._agg: dict[str, dict[tuple[int, int], int]] = {}
        self._last_agg_id: dict[str, int] = {}
        self._grouped_last: dict[str, int] = {}
        self._trade_buf: dict[str, list[dict[str, Any]]] = {}
        self._last_quote: dict[str, tuple[float, ...]] = {}
        self.sent_book = 0  # book messages written (counted once per subscriber)
        self._names = {name: (f"book.{name}.raw", f"quote.{name}", f"ticker.{name}.raw")
                       for name in exchange.states}
        self._raw_change = {name: change_template(f"book.{name}.raw", name) for name in exchange.states}
        self._agg_names = {name: (f"book.{name}.100ms", f"book.{name}.agg2") for name in exchange.states}
        self._ticks = 0
        self.extra = ExtraChannels(self)

    # --- registry ---
    def subscribe(self, sub: Subscriber, spec: ChannelSpec) -> None:
        """Register ``sub`` on ``spec`` and send what a new subscriber gets first (book snapshots)."""
        if spec.private:
            sub.user_specs[spec.name] = spec
            self.user_sessions.setdefault(sub.account_name or "", {})[sub.id] = sub
            return
        subs = self.subs.setdefault(spec.name, {})
        fresh = sub.id not in subs
        subs[sub.id] = sub
        self.specs[spec.name] = spec
        if spec.kind == "book" and fresh:
            st = self.exchange.states[spec.instrument or ""]
            if spec.interval != "raw":
                self._agg.setdefault(st.inst.name, {})
                sub.snap_override[spec.name] = st.change_id
            data = {"type": "snapshot", "timestamp": msg_now_ms(), "instrument_name": st.inst.name,
                    "change_id": st.change_id, "bids": msg.snapshot_levels(st, BUY),
                    "asks": msg.snapshot_levels(st, SELL)}
            sub.notify(notification(spec.name, data))
        elif spec.kind == "grouped" and fresh:
            st = self.exchange.states[spec.instrument or ""]
            sub.notify(notification(spec.name, self._grouped(st, spec)))

    def unsubscribe(self, sub: Subscriber, name: str) -> bool:
        """Remove one channel of ``sub``; False when it was not subscribed."""
        if name in sub.user_specs:
            del sub.user_specs[name]
            if not sub.user_specs:
                self.user_sessions.get(sub.account_name or "", {}).pop(sub.id, None)
            return True
        subs = self.subs.get(name)
        if not subs or sub.id not in subs:
            return False
        del subs[sub.id]
        sub.snap_override.pop(name, None)
        if not subs:
            del self.subs[name]
            spec = self.specs.pop(name)
            name = spec.instrument or ""
            if spec.kind == "book" and spec.interval != "raw" and not any(
                    channel in self.subs for channel in self._agg_names[name]):
                self._agg.pop(name, None)
        return True

    def channels_of(self, sub: Subscriber) -> list[str]:
        return [name for name, subs in self.subs.items() if sub.id in subs] + list(sub.user_specs)

    def unsubscribe_all(self, sub: Subscriber) -> None:
        """Remove every subscription of ``sub``."""
        for name in self.channels_of(sub):
            self.unsubscribe(sub, name)

    def drop(self, sub: Subscriber) -> None:
        """Forget a closed connection: its subscriptions and its request send times."""
        self.unsubscribe_all(sub)
        self.times.forget_connection(sub.id)

    def has_user_subscribers(self, account: str) -> bool:
        return bool(self.user_sessions.get(account))

    # --- publication ---
    def _send_book(self, channel: str, subs: dict[int, Subscriber], data: dict[str, Any], change_id: int) -> None:
        if self.faults.gap and self.faults.gap_now():
            return
        self._write_book(channel, subs, notification(channel, data), change_id)

    def _write_book(self, channel: str, subs: dict[int, Subscriber], payload: bytes, change_id: int) -> None:
        """The same bytes to every subscriber of a book channel, and the send time of ``change_id``."""
        self.times.record_book(channel, change_id, time.time_ns())
        for sub in tuple(subs.values()):
            sub.notify(payload)
        self.sent_book += len(subs)

    def book_change(self, st: InstrumentState, cid: int, prev: int, ts: int, bids: list[Any], asks: list[Any],
                    changes: list[LevelChange]) -> None:
        """One book change (called by the exchange for every change, in order)."""
        name = st.inst.name
        raw_name, quote_name, ticker_name = self._names[name]
        subs = self.subs
        raw = subs.get(raw_name)
        if raw and not (self.faults.gap and self.faults.gap_now()):
            self._write_book(raw_name, raw, self._raw_change[name] % (ts, prev, cid, _dumps(bids), _dumps(asks)),
                             cid)
        agg = self._agg.get(name)
        if agg is not None:
            for side, price, old, _new in changes:
                agg.setdefault((side, price), old)
        quote = subs.get(quote_name)
        if quote:
            data = msg.quote_json(st, ts)
            key = (data["best_bid_price"], data["best_bid_amount"], data["best_ask_price"], data["best_ask_amount"])
            if key != self._last_quote.get(name):
                self._last_quote[name] = key
                payload = notification(quote_name, data)
                for sub in tuple(quote.values()):
                    sub.notify(payload)
        ticker = subs.get(ticker_name)
        if ticker:
            payload = notification(ticker_name, msg.ticker_json(st, ts))
            for sub in tuple(ticker.values()):
                sub.notify(payload)

    def _trade_channels(self, st: InstrumentState, interval: str) -> list[str]:
        inst = st.inst
        names = [f"trades.{inst.name}.{interval}"]
        for name, spec in self.specs.items():
            if spec.kind == "trades" and spec.instrument is None and spec.interval == interval and spec.matches(inst):
                names.append(name)
        return names

    def trades(self, st: InstrumentState, trades: list[dict[str, Any]]) -> None:
        """Public trades of one match."""
        for channel in self._trade_channels(st, "raw"):
            subs = self.subs.get(channel)
            if subs:
                payload = notification(channel, trades)
                for sub in tuple(subs.values()):
                    sub.notify(payload)
        self._trade_buf.setdefault(st.inst.name, []).extend(trades)

    def user_event(self, acc: Account, st: InstrumentState, orders: list[dict[str, Any]],
                   trades: list[dict[str, Any]], positions: list[dict[str, Any]]) -> None:
        """Orders/trades/positions of one account changed by one event on ``st``."""
        inst = st.inst
        summary: dict[str, Any] | None = None
        for sub in tuple(self.user_sessions.get(acc.name, {}).values()):
            for name, spec in tuple(sub.user_specs.items()):
                if spec.kind == "user.portfolio":
                    if trades and spec.currency in ("any", inst.currency):
                        if summary is None:
                            summary = acc.summary(inst.currency, self.exchange.marks())
                        sub.notify(notification(name, summary))
                elif not spec.matches(inst):
                    continue
                elif spec.kind == "user.orders":
                    if spec.interval == "raw":
                        for order in orders:
                            sub.notify(notification(name, order))
                    elif orders:
                        sub.notify(notification(name, orders))
                elif spec.kind == "user.trades":
                    if trades:
                        sub.notify(notification(name, trades))
                elif spec.kind == "user.changes":
                    sub.notify(notification(name, {"instrument_name": inst.name, "trades": trades,
                                                   "orders": orders, "positions": positions}))

    def _publish(self, channel: str, data: Any) -> None:
        """One notification to every subscriber of a public channel (nothing when nobody listens)."""
        subs = self.subs.get(channel)
        if subs:
            payload = notification(channel, data)
            for sub in tuple(subs.values()):
                sub.notify(payload)

    def user_notice(self, account: str, kind: str, data: dict[str, Any], match: str = "none") -> None:
        """A private notification of ``kind`` (user.mmp_trigger with ``match`` = its index, user.access_log)
        to the account's subscribers."""
        for sub in tuple(self.user_sessions.get(account, {}).values()):
            for name, spec in tuple(sub.user_specs.items()):
                if spec.kind == kind and spec.group == match:
                    sub.notify(notification(name, data))

    def mmp_trigger(self, acc: Account, data: dict[str, Any]) -> None:
        self.user_notice(acc.name, "user.mmp_trigger", data, data["index_name"])

    # --- 100 ms tick ---
    def _grouped(self, st: InstrumentState, spec: ChannelSpec) -> dict[str, Any]:
        inst = st.inst
        step = 1 if spec.group == "none" else max(1, round(float(spec.group) / inst.tick_size))
        sides = []
        for side in (BUY, SELL):
            levels: dict[int, int] = {}
            for price, lots in st.book.depth(side):
                bucket = (price // step) * step if side == BUY else -((-price) // step) * step
                if bucket not in levels and len(levels) >= spec.depth:
                    break
                levels[bucket] = levels.get(bucket, 0) + lots
            sides.append([[inst.price(p), inst.amount(a)] for p, a in levels.items()])
        return {"instrument_name": inst.name, "timestamp": msg_now_ms(), "change_id": st.change_id,
                "bids": sides[0], "asks": sides[1]}

    def tick(self) -> None:
        """Every 100 ms: aggregated books, grouped books, trade batches, tickers."""
        ts = msg_now_ms()
        exchange = self.exchange
        for name, st in exchange.states.items():
            agg = self._agg.get(name)
            if agg:
                self._flush_agg(st, agg, ts)
            trades = self._trade_buf.pop(name, None)
            if trades:
                for interval in ("100ms", "agg2"):
                    for channel in self._trade_channels(st, interval):
                        self._publish(channel, trades)
            ticker_subs = self.subs.get(f"ticker.{name}.100ms")
            if ticker_subs or exchange.listeners or self.specs:
                data = msg.ticker_json(st, ts)
                if ticker_subs:
                    self._publish(f"ticker.{name}.100ms", data)
                if exchange.listeners:
                    exchange.listeners.ticker(name, data)
                if self.specs:
                    self.extra.instrument_tick(st, data, ts, bool(trades))
        self._ticks += 1
        if self.specs and self._ticks % SLOW_EVERY_TICKS == 0:
            self.extra.slow_tick(ts)
        for channel, spec in tuple(self.specs.items()):
            if spec.kind != "grouped":
                continue
            st = exchange.states[spec.instrument or ""]
            if self._grouped_last.get(channel) == st.change_id:
                continue
            self._grouped_last[channel] = st.change_id
            data = self._grouped(st, spec)
            self._send_book(channel, self.subs[channel], data, st.change_id)

    def _flush_agg(self, st: InstrumentState, agg: dict[tuple[int, int], int], ts: int) -> None:
        name, inst = st.inst.name, st.inst
        totals = st.book.totals
        bids: list[list[Any]] = []
        asks: list[list[Any]] = []
        for (side, price), old in agg.items():
            new = totals[side].get(price, 0)
            if new == old:
                continue
            if new == 0:
                entry = ["delete", inst.price(price), 0.0]
            else:
                entry = ["new" if old == 0 else "change", inst.price(price), inst.amount(new)]
            (bids if side == BUY else asks).append(entry)
        agg.clear()
        if not bids and not asks:
            return
        cid = st.change_id
        prev = self._last_agg_id.get(name, cid)
        self._last_agg_id[name] = cid
        if self.faults.gap_now():
            return
        data = {"type": "change", "timestamp": ts, "prev_change_id": prev, "instrument_name": name,
                "change_id": cid, "bids": bids, "asks": asks}
        for channel in self._agg_names[name]:  # 100ms and agg2 carry the same aggregate
            subs = self.subs.get(channel)
            if not subs:
                continue
            payload = notification(channel, data)
            self.times.record_book(channel, cid, time.time_ns())
            for sub in tuple(subs.values()):
                override = sub.snap_override.pop(channel, None)
                if override == cid:
                    continue  # its snapshot already holds this state
                if override is not None and override != prev:
                    sub.notify(notification(channel, dict(data, prev_change_id=override)))
                else:
                    sub.notify(payload)
            self.sent_book += len(subs)


def msg_now_ms() -> int:
    return time.time_ns() // 1_000_000
