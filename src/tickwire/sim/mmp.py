"""Market Maker Protection: per-account limits per index (``btc_usd``) and per mass-quote MMP group.

A configuration sets a monitoring ``interval`` (s), a ``frozen_time`` (s; 0 = until ``private/reset_mmp``) and
limits: ``quantity_limit`` (traded amount in the base coin within the interval), ``delta_limit`` (absolute net
delta, base coin), ``vega_limit`` (accepted; the simulator's options have no vega, so it never trips) and
``max_quote_quantity`` (largest quote per side per book, base coin). The interval starts at the first MMP fill;
a fill after it ends starts a new one. When a limit is reached the venue cancels the group's MMP orders
(``cancel_reason: "mmp_trigger"``), freezes it and notifies ``user.mmp_trigger.{index_name}``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Key = tuple[str, str]  # (index_name, mmp_group or "")


@dataclass
class MmpConfig:
    """One ``private/set_mmp_config`` entry."""

    index_name: str
    interval: int
    frozen_time: int
    mmp_group: str = ""
    quantity_limit: float | None = None
    delta_limit: float | None = None
    vega_limit: float | None = None
    max_quote_quantity: float | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"index_name": self.index_name, "interval": self.interval,
                                "frozen_time": self.frozen_time}
        if self.mmp_group:
            data["mmp_group"] = self.mmp_group
        for name in ("quantity_limit", "delta_limit", "vega_limit", "max_quote_quantity"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data

    def quote_limit(self) -> float | None:
        """The largest quote per side per book (MQQ; the quantity limit when no MQQ is set)."""
        return self.max_quote_quantity if self.max_quote_quantity is not None else self.quantity_limit


@dataclass
class _Window:
    start_ms: int = 0
    quantity: float = 0.0
    delta: float = 0.0
    frozen: bool = False
    frozen_until_ms: int = 0     # 0 while frozen: until reset_mmp


class MarketMakerProtection:
    """The MMP configurations and counters of one account."""

    def __init__(self) -> None:
        self.configs: dict[Key, MmpConfig] = {}
        self._windows: dict[Key, _Window] = {}

    def __bool__(self) -> bool:
        return bool(self.configs)

    def configure(self, config: MmpConfig) -> None:
        """Set (or with ``interval == 0`` remove) a configuration; counters and freeze start afresh."""
        key = (config.index_name, config.mmp_group)
        self._windows.pop(key, None)
        if config.interval == 0:
            self.configs.pop(key, None)
        else:
            self.configs[key] = config

    def config(self, index_name: str, group: str) -> MmpConfig | None:
        return self.configs.get((index_name, group))

    def frozen(self, key: Key, now_ms: int) -> bool:
        """Is ``key`` frozen now? A freeze with a frozen_time ends by itself."""
        window = self._windows.get(key)
        if window is None or not window.frozen:
            return False
        if window.frozen_until_ms and now_ms >= window.frozen_until_ms:
            self._windows.pop(key, None)
            return False
        return True

    def reset(self, key: Key) -> None:
        """``private/reset_mmp``: lift the freeze and clear the counters."""
        self._windows.pop(key, None)

    def on_fill(self, key: Key, quantity: float, delta: float, now_ms: int) -> dict[str, Any] | None:
        """Count one MMP fill; returns the ``user.mmp_trigger`` data when this fill trips a limit."""
        config = self.configs.get(key)
        if config is None or self.frozen(key, now_ms):
            return None
        window = self._windows.get(key)
        if window is None or now_ms - window.start_ms > config.interval * 1000:
            window = self._windows[key] = _Window(start_ms=now_ms)
        window.quantity += abs(quantity)
        window.delta += delta
        tripped = (config.quantity_limit is not None and window.quantity >= config.quantity_limit) or (
            config.delta_limit is not None and abs(window.delta) >= config.delta_limit)
        if not tripped:
            return None
        window.frozen = True
        window.frozen_until_ms = now_ms + config.frozen_time * 1000 if config.frozen_time else 0
        data: dict[str, Any] = {"index_name": key[0], "frozen_until": window.frozen_until_ms}
        if key[1]:
            data["mmp_group"] = key[1]
        return data
