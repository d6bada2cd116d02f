"""OHLCV candles from the public trades of this run (``public/get_tradingview_chart_data``, ``chart.trades.*``).

``volume`` is in the base coin and ``cost`` in the quote currency (USD for inverse futures, whose amounts are
USD: volume = amount / price, cost = amount), as Deribit reports them. Buckets without trades are left out.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tickwire.sim.instruments import Instrument

#: Deribit's resolutions (minutes, or 1D) -> bucket length in ms.
RESOLUTIONS = {r: int(r) * 60_000 for r in ("1", "3", "5", "10", "15", "30", "60", "120", "180", "360", "720")}
RESOLUTIONS["1D"] = 86_400_000


def _volume_cost(inst: Instrument, price: float, amount: float) -> tuple[float, float]:
    if inst.inverse:
        return amount / price, amount
    return amount, amount * price


def buckets(inst: Instrument, trades: Iterable[dict[str, Any]], step_ms: int) -> dict[int, list[float]]:
    """``{bucket start ms: [open, high, low, close, volume, cost]}`` in time order, from trades oldest first."""
    out: dict[int, list[float]] = {}
    for trade in trades:
        tick = trade["timestamp"] // step_ms * step_ms
        price = trade["price"]
        volume, cost = _volume_cost(inst, price, trade["amount"])
        candle = out.get(tick)
        if candle is None:
            out[tick] = [price, price, price, price, volume, cost]
        else:
            candle[1] = max(candle[1], price)
            candle[2] = min(candle[2], price)
            candle[3] = price
            candle[4] += volume
            candle[5] += cost
    return out


def chart_data(inst: Instrument, trades: Iterable[dict[str, Any]], start: int, end: int, step_ms: int
               ) -> dict[str, Any]:
    """The ``get_tradingview_chart_data`` result: the buckets that hold ``start`` .. ``end``."""
    first = start // step_ms * step_ms
    picked = buckets(inst, (t for t in trades if first <= t["timestamp"] <= end), step_ms)
    ticks = list(picked)
    rows = list(picked.values())
    return {"ticks": ticks, "open": [r[0] for r in rows], "high": [r[1] for r in rows],
            "low": [r[2] for r in rows], "close": [r[3] for r in rows],
            "volume": [round(r[4], 8) for r in rows], "cost": [round(r[5], 8) for r in rows],
            "status": "ok" if ticks else "no_data"}


def candle_json(tick: int, row: list[float]) -> dict[str, Any]:
    """One ``chart.trades.{instrument}.{resolution}`` notification."""
    return {"tick": tick, "open": row[0], "high": row[1], "low": row[2], "close": row[3],
            "volume": round(row[4], 8), "cost": round(row[5], 8)}
