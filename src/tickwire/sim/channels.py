"""Subscription channel names: parse them once into a ChannelSpec, and list the names an event matches."""
from __future__ import annotations

from typing import NamedTuple

from tickwire.sim.instruments import Instrument

INTERVALS = ("raw", "100ms", "agg2")
GROUPED_INTERVALS = ("100ms", "agg2")
CHART_RESOLUTIONS = ("1", "3", "5", "10", "15", "30", "60", "120", "180", "360", "720", "1D")
GROUP_DEPTHS = ("1", "10", "20")
GROUPS = ("none", "1", "2", "5", "10", "25", "100", "250")
KINDS = ("future", "option", "any")
USER_KINDS = ("orders", "trades", "changes")


class ChannelSpec(NamedTuple):
    """A parsed channel. ``kind`` is book | grouped | trades | ticker | quote | chart | incremental_ticker |
    perpetual | index | ranking | expiration | markprice | platform_state | instrument.state | announcements |
    user.orders | user.trades | user.changes | user.portfolio | user.mmp_trigger | user.access_log | user.lock;
    ``instrument`` or (``inst_kind``, ``currency``) say what it covers (``group`` holds an index name or a
    chart resolution)."""

    name: str
    kind: str
    instrument: str | None = None
    interval: str = "raw"
    group: str = "none"
    depth: int = 0
    inst_kind: str = "any"
    currency: str = "any"

    @property
    def private(self) -> bool:
        return self.kind.startswith("user.")

    def matches(self, inst: Instrument) -> bool:
        """Does an event on ``inst`` belong to this (kind/currency or instrument) channel?"""
        if self.instrument is not None:
            return self.instrument == inst.name
        return (self.inst_kind in ("any", inst.kind)) and (self.currency in ("any", inst.currency))


#: Channels without instrument or parameters: accepted; Deribit publishes them only on events a simulator
#: run does not have (a platform lock, an announcement, an instrument created or expired, an account lock).
_EVENT_ONLY = {"platform_state": "platform_state", "announcements": "announcements"}
_INDEX_KINDS = {"deribit_price_index": "index", "deribit_price_ranking": "ranking",
                "estimated_expiration_price": "expiration"}


def parse_channel(name: str, instruments: dict[str, Instrument]) -> ChannelSpec | None:
    """The spec of a valid channel name for these instruments, None when invalid (Deribit drops those)."""
    parts = name.split(".")
    head = parts[0]
    indexes = {f"{i.currency.lower()}_usd" for i in instruments.values()}
    if head == "book":
        if len(parts) == 3 and parts[1] in instruments and parts[2] in INTERVALS:
            return ChannelSpec(name, "book", parts[1], parts[2])
        if (len(parts) == 5 and parts[1] in instruments and parts[2] in GROUPS and parts[3] in GROUP_DEPTHS
                and parts[4] in GROUPED_INTERVALS):
            return ChannelSpec(name, "grouped", parts[1], parts[4], parts[2], int(parts[3]))
        return None
    if name in _EVENT_ONLY:
        return ChannelSpec(name, _EVENT_ONLY[name])
    if head in _INDEX_KINDS and len(parts) == 2 and parts[1] in indexes:
        return ChannelSpec(name, _INDEX_KINDS[head], group=parts[1])
    if head == "markprice" and len(parts) == 3 and parts[1] == "options" and parts[2] in indexes:
        return ChannelSpec(name, "markprice", group=parts[2])
    if head == "chart" and len(parts) == 4 and parts[1] == "trades" and parts[2] in instruments \
            and parts[3] in CHART_RESOLUTIONS:
        return ChannelSpec(name, "chart", parts[2], group=parts[3])
    if head == "incremental_ticker" and len(parts) == 2 and parts[1] in instruments:
        return ChannelSpec(name, "incremental_ticker", parts[1], "100ms")
    if head == "perpetual" and len(parts) == 3 and parts[1] in instruments and instruments[parts[1]].perpetual \
            and parts[2] in INTERVALS:
        return ChannelSpec(name, "perpetual", parts[1], parts[2])
    if head == "instrument" and len(parts) == 4 and parts[1] == "state" and parts[2] in KINDS \
            and _currency(parts[3]):
        return ChannelSpec(name, "instrument.state", inst_kind=parts[2], currency=_currency(parts[3]))
    if head in ("trades", "ticker") and len(parts) == 3 and parts[1] in instruments and parts[2] in INTERVALS:
        return ChannelSpec(name, head, parts[1], parts[2])
    if head == "trades" and len(parts) == 4 and parts[1] in KINDS and _currency(parts[2]) and parts[3] in INTERVALS:
        return ChannelSpec(name, "trades", None, parts[3], inst_kind=parts[1], currency=_currency(parts[2]))
    if head == "quote" and len(parts) == 2 and parts[1] in instruments:
        return ChannelSpec(name, "quote", parts[1])
    if name in ("user.access_log", "user.lock"):
        return ChannelSpec(name, name)
    if head == "user" and len(parts) == 3 and parts[1] == "mmp_trigger" and parts[2] in indexes:
        return ChannelSpec(name, "user.mmp_trigger", group=parts[2])
    if head == "user" and len(parts) >= 3:
        sub = parts[1]
        if sub == "portfolio" and len(parts) == 3 and _currency(parts[2]):
            return ChannelSpec(name, "user.portfolio", None, currency=_currency(parts[2]))
        if sub in USER_KINDS:
            if len(parts) == 4 and parts[2] in instruments and parts[3] in INTERVALS:
                return ChannelSpec(name, f"user.{sub}", parts[2], parts[3])
            if len(parts) == 5 and parts[2] in KINDS and _currency(parts[3]) and parts[4] in INTERVALS:
                return ChannelSpec(name, f"user.{sub}", None, parts[4], inst_kind=parts[2],
                                   currency=_currency(parts[3]))
    return None


def _currency(text: str) -> str:
    """"BTC"/"btc" -> "BTC", "any" -> "any", anything else -> "" (invalid)."""
    if text.lower() == "any":
        return "any"
    return text.upper() if text.upper() in ("BTC", "ETH") else ""
