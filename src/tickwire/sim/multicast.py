"""The simulator's market data as Deribit multicast SBE over UDP, beside its WebSocket feed.

:class:`MulticastPublisher` is a :class:`tickwire.sim.listeners.MarketDataListener`: the simulator calls it for
every book change, trade and ticker, with the same ``change_id``/``prev_change_id`` as ``book.{name}.raw``, and
it sends them as SBE Book / Trades / Ticker messages on the instrument's incremental channel. Every
``snapshot_interval_s`` it runs a snapshot cycle on the snapshot channels (SnapshotStart, then per instrument
InstrumentV2 + Snapshot split over messages with ``isLastInBook``, then SnapshotEnd), so a client joining late or
after a gap can recover, exactly as on Deribit. Channels: futures and perpetuals of currency C on one channel,
options on another (:data:`CHANNELS`); groups and ports come from a :class:`~tickwire.netstack.mcast.ChannelMap`.
"""
from __future__ import annotations

import math
import socket
import time
from collections.abc import Mapping, Sequence
from typing import Any

from tickwire import types as T
from tickwire.deribit.sbe_encode import encode_message, encode_packet
from tickwire.netstack.mcast import ChannelMap, McastSender
from tickwire.sim.listeners import LevelChange, SnapshotFn

# (currency, kind) -> incremental channel, after Deribit's layout (1 BTC perpetual, 2 BTC options, 3 BTC futures...)
CHANNELS = {("BTC", "future"): 1, ("BTC", "option"): 2, ("ETH", "future"): 4, ("ETH", "option"): 5}
OTHER_CHANNEL = 21
MAX_PAYLOAD = 1400  # bytes of SBE messages per packet (fits a 1500-byte MTU with headers)
MAX_LEVELS = 64  # levels per Book / Snapshot message (18 / 17 bytes each)

_ACTIONS = {"new": T.SBE_CHANGE_CREATED, "change": T.SBE_CHANGE_CHANGED, "delete": T.SBE_CHANGE_DELETED}
_KINDS = {"future": 0, "option": 1, "future_combo": 2, "option_combo": 3, "spot": 4}
_PERIODS = {"perpetual": 0, "minute": 1, "hour": 2, "day": 3, "week": 4, "month": 5, "year": 6}


def _instrument_message(inst: Mapping[str, Any]) -> dict[str, Any]:
    """InstrumentV2 (1010) fields from a ``public/get_instruments`` entry."""
    return {
        "template": T.SBE_TPL_INSTRUMENT_V2, "instrument_id": int(inst["instrument_id"]),
        "state": 1 if inst.get("is_active", True) else 2, "kind": _KINDS.get(inst.get("kind", "future"), 0),
        "future_type": {"reversed": 1, "linear": 2}.get(inst.get("instrument_type", ""), 0),
        "option_type": {"call": 1, "put": 2}.get(inst.get("option_type", ""), 0),
        "settlement_period": _PERIODS.get(inst.get("settlement_period", ""), T.SBE_NULL_U8),
        "settlement_period_count": 1,
        "base_currency": inst.get("base_currency", ""), "quote_currency": inst.get("quote_currency", ""),
        "counter_currency": inst.get("counter_currency", ""),
        "settlement_currency": inst.get("settlement_currency", ""), "size_currency": inst.get("base_currency", ""),
        "creation_timestamp_ms": int(inst.get("creation_timestamp", 0)),
        "expiration_timestamp_ms": int(inst.get("expiration_timestamp", 0)),
        "strike_price": float(inst.get("strike") or math.nan), "contract_size": float(inst["contract_size"]),
        "min_trade_amount": float(inst["min_trade_amount"]), "tick_size": float(inst["tick_size"]),
        "maker_commission": float(inst.get("maker_commission", 0.0)),
        "taker_commission": float(inst.get("taker_commission", 0.0)),
        "block_trade_commission": float(inst.get("block_trade_commission", 0.0)),
        "max_liquidation_commission": float(inst.get("max_liquidation_commission", math.nan)),
        "max_leverage": float(inst.get("max_leverage", math.nan)),
        "tick_steps": [(float(s["above_price"]), float(s["tick_size"])) for s in inst.get("tick_size_steps", [])],
        "name": inst["instrument_name"],
    }


def _trade_id(value: Any) -> int:
    digits = "".join(ch for ch in str(value) if ch.isdigit())
    return int(digits) if digits else 0


class MulticastPublisher:
    """Market-data listener that publishes SBE on UDP multicast (loopback or a test's network namespace)."""

    def __init__(self, channel_map: ChannelMap | None = None, interface: str = "127.0.0.1",
                 snapshot_interval_s: float = 0.2, sender: McastSender | None = None) -> None:
        self.channel_map = channel_map or ChannelMap()
        self.sender = sender or McastSender(interface)
        self.snapshot_interval_s = snapshot_interval_s
        self._seq: dict[int, int] = {}
        self._channel_of: dict[str, int] = {}
        self._ids: dict[str, int] = {}
        self._instruments: dict[str, dict[str, Any]] = {}
        self._snapshot: SnapshotFn | None = None
        self._last_cycle = 0.0
        self.packets_sent = 0

    # --- sending ---
    def _send(self, channel: int, messages: Sequence[bytes]) -> None:
        """Pack messages into as few packets as fit MAX_PAYLOAD, each with the channel's next sequence number."""
        group, port = self.channel_map.group(channel)
        batch: list[bytes] = []
        size = 0
        for msg in list(messages) + [b""]:
            if batch and (not msg or size + len(msg) > MAX_PAYLOAD):
                seq = self._seq.get(channel, 0)
                self._seq[channel] = seq + 1
                self.sender.send(encode_packet(channel, seq, batch), group, port)
                self.packets_sent += 1
                batch, size = [], 0
            if msg:
                batch.append(msg)
                size += len(msg)

    # --- MarketDataListener ---
    def on_instruments(self, instruments: Sequence[Mapping[str, Any]], snapshot: SnapshotFn) -> None:
        self._snapshot = snapshot
        per_channel: dict[int, list[bytes]] = {}
        for inst in instruments:
            name = inst["instrument_name"]
            channel = CHANNELS.get((inst.get("base_currency", ""), inst.get("kind", "")), OTHER_CHANNEL)
            self._channel_of[name] = channel
            self._ids[name] = int(inst["instrument_id"])
            self._instruments[name] = _instrument_message(inst)
            per_channel.setdefault(channel, []).append(encode_message(self._instruments[name]))
        for channel, messages in per_channel.items():
            self._send(channel, messages)

    def on_book_change(self, instrument: str, change_id: int, prev_change_id: int, timestamp_ms: int,
                       bids: Sequence[LevelChange], asks: Sequence[LevelChange]) -> None:
        levels = [(T.SBE_SIDE_BID, _ACTIONS[a], float(p), float(q)) for a, p, q in bids]
        levels += [(T.SBE_SIDE_ASK, _ACTIONS[a], float(p), float(q)) for a, p, q in asks]
        parts = [levels[i:i + MAX_LEVELS] for i in range(0, len(levels), MAX_LEVELS)] or [[]]
        messages = [encode_message({
            "template": T.SBE_TPL_BOOK, "instrument_id": self._ids[instrument], "timestamp_ms": int(timestamp_ms),
            "prev_change_id": int(prev_change_id), "change_id": int(change_id),
            "is_last": T.SBE_YES if k == len(parts) - 1 else T.SBE_NO, "levels": part}) for k, part in enumerate(parts)]
        self._send(self._channel_of[instrument], messages)
        self._maybe_snapshot_cycle()

    def on_trades(self, instrument: str, trades: Sequence[Mapping[str, Any]]) -> None:
        rows = [{
            "direction": T.SBE_DIR_BUY if t.get("direction") == "buy" else T.SBE_DIR_SELL,
            "price": float(t["price"]), "amount": float(t["amount"]), "timestamp_ms": int(t["timestamp"]),
            "mark_price": float(t.get("mark_price", math.nan)), "index_price": float(t.get("index_price", math.nan)),
            "trade_seq": int(t.get("trade_seq", 0)), "trade_id": _trade_id(t.get("trade_id", 0)),
            "tick_direction": int(t.get("tick_direction", 0)),
            "liquidation": {"M": 1, "T": 2, "MT": 3}.get(t.get("liquidation", ""), 0),
            "iv": float(t.get("iv", math.nan))} for t in trades]
        self._send(self._channel_of[instrument],
                   [encode_message({"template": T.SBE_TPL_TRADES, "instrument_id": self._ids[instrument],
                                    "trades": rows})])

    def on_ticker(self, instrument: str, ticker: Mapping[str, Any]) -> None:
        def num(key: str) -> float:
            value = ticker.get(key)
            return math.nan if value is None else float(value)

        stats = {name: num(key) for name, key in (
            ("open_interest", "open_interest"), ("min_sell_price", "min_price"), ("max_buy_price", "max_price"),
            ("last_price", "last_price"), ("index_price", "index_price"), ("mark_price", "mark_price"),
            ("best_bid_price", "best_bid_price"), ("best_bid_amount", "best_bid_amount"),
            ("best_ask_price", "best_ask_price"), ("best_ask_amount", "best_ask_amount"),
            ("current_funding", "current_funding"), ("funding_8h", "funding_8h"),
            ("estimated_delivery_price", "estimated_delivery_price"), ("delivery_price", "delivery_price"),
            ("settlement_price", "settlement_price"))}
        self._send(self._channel_of[instrument], [encode_message({
            "template": T.SBE_TPL_TICKER, "instrument_id": self._ids[instrument], "state": 1,
            "timestamp_ms": int(ticker.get("timestamp", time.time() * 1000)), **stats})])
        self._maybe_snapshot_cycle()

    def close(self) -> None:
        self.sender.close()

    # --- snapshot channels ---
    def _maybe_snapshot_cycle(self) -> None:
        now = time.monotonic()
        if self._snapshot is not None and now - self._last_cycle >= self.snapshot_interval_s:
            self._last_cycle = now
            self.snapshot_cycle()

    def snapshot_cycle(self) -> None:
        """Publish one full cycle on every snapshot channel (called from the simulator's loop: consistent books)."""
        assert self._snapshot is not None
        by_channel: dict[int, list[str]] = {}
        for name, channel in self._channel_of.items():
            by_channel.setdefault(channel, []).append(name)
        for channel, names in by_channel.items():
            messages = [encode_message({"template": T.SBE_TPL_SNAPSHOT_START,
                                        "snapshot_delay": int(self.snapshot_interval_s * 1000)})]
            for name in names:
                book = self._snapshot(name)
                levels = [(T.SBE_SIDE_BID, 0, float(p), float(q)) for p, q in book.bids]
                levels += [(T.SBE_SIDE_ASK, 0, float(p), float(q)) for p, q in book.asks]
                parts = [levels[i:i + MAX_LEVELS] for i in range(0, len(levels), MAX_LEVELS)] or [[]]
                messages.append(encode_message(self._instruments[name]))
                messages += [encode_message({
                    "template": T.SBE_TPL_SNAPSHOT, "instrument_id": self._ids[name],
                    "timestamp_ms": int(book.timestamp_ms), "change_id": int(book.change_id),
                    "is_book_complete": T.SBE_YES, "is_last_in_book": T.SBE_YES if k == len(parts) - 1 else T.SBE_NO,
                    "levels": part}) for k, part in enumerate(parts)]
            messages.append(encode_message({"template": T.SBE_TPL_SNAPSHOT_END}))
            self._send(channel + T.SBE_SNAPSHOT_CHANNEL_OFFSET, messages)


def publisher_from_option(option: str) -> MulticastPublisher:
    """A publisher from the CLI's ``--multicast INTERFACE[:PORT]`` (snapshot channels on PORT + 1)."""
    interface, _, port = option.partition(":")
    socket.inet_aton(interface)  # raises OSError for a bad address
    base = int(port) if port else T.SBE_PORT_INCREMENTAL
    if not 0 < base < 65535:
        raise ValueError(f"port {base} out of range")
    return MulticastPublisher(ChannelMap(port_incremental=base, port_snapshot=base + 1), interface=interface)
