"""Subscription channel names: parse them once into a ChannelSpec, and list the names an event matches."""
from __future__ import annotations

from typing import NamedTuple

from tickwire.sim.instruments import Instrument

INTERVALS = ("raw", "100ms")
GROUP_DEPTHS = ("1", "10", "20")
GROUPS = ("none", "1", "2", "5", "10", "25", "100", "250")
KINDS = ("future", "option", "any")
USER_KINDS = ("orders", "trades", "changes")


class ChannelSpec(NamedTuple):
    """A parsed channel. ``kind`` is book | grouped | trades | ticker | quote | user.orders | user.trades |
    user.changes | user.portfolio; ``instrument`` or (``inst_kind``, ``currency``) say what it covers."""

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


def parse_channel(name: str, instruments: dict[str, Instrument]) -> ChannelSpec | None:
    """The spec of a valid channel name for these instruments, None when invalid (Deribit drops those)."""
    parts = name.split(".")
    head = parts[0]
    if head == "book":
        if len(parts) == 3 and parts[1] in instruments and parts[2] in INTERVALS:
            return ChannelSpec(name, "book", parts[1], parts[2])
        if (len(parts) == 5 and parts[1] in instruments and parts[2] in GROUPS and parts[3] in GROUP_DEPTHS
                and parts[4] == "100ms"):
            return ChannelSpec(name, "grouped", parts[1], "100ms", parts[2], int(parts[3]))
        return None
    if head in ("trades", "ticker") and len(parts) == 3 and parts[1] in instruments and parts[2] in INTERVALS:
        return ChannelSpec(name, head, parts[1], parts[2])
    if head == "trades" and len(parts) == 4 and parts[1] in KINDS and _currency(parts[2]) and parts[3] in INTERVALS:
        return ChannelSpec(name, "trades", None, parts[3], inst_kind=parts[1], currency=_currency(parts[2]))
    if head == "quote" and len(parts) == 2 and parts[1] in instruments:
        return ChannelSpec(name, "quote", parts[1])
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
