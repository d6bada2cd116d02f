"""The periodic public channels beyond books, trades and tickers, fed by the 100 ms tick of ``Feed``.

Per instrument, every 100 ms: ``ticker.{i}.agg2`` (the 100 ms ticker), ``incremental_ticker.{i}`` (a snapshot,
then only the fields that changed), ``perpetual.{i}.{interval}`` (interest and index of a perpetual) and, when
the instrument traded in the window, ``chart.trades.{i}.{resolution}`` (the current candle). Every second, per
index: ``deribit_price_index``, ``deribit_price_ranking`` (one constituent: the simulator's own price),
``estimated_expiration_price`` and ``markprice.options``. All values come from the exchange state, so they
agree with ``public/ticker``, ``get_index_price`` and ``get_tradingview_chart_data``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tickwire.sim import candles

if TYPE_CHECKING:
    from tickwire.sim.exchange import InstrumentState
    from tickwire.sim.feed import Feed

SLOW_EVERY_TICKS = 10  # index-level channels once a second


class ExtraChannels:
    """Publishes the periodic channels of one feed."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self._incremental: dict[str, dict[str, Any]] = {}  # channel -> ticker last sent to it

    def instrument_tick(self, st: InstrumentState, ticker: dict[str, Any], ts: int, traded: bool) -> None:
        feed, name = self.feed, st.inst.name
        feed._publish(f"ticker.{name}.agg2", ticker)
        self._incremental_ticker(f"incremental_ticker.{name}", ticker)
        if st.inst.perpetual:
            data = {"timestamp": ts, "interest": st.funding_8h, "index_price": st.index}
            for interval in ("raw", "100ms", "agg2"):
                feed._publish(f"perpetual.{name}.{interval}", data)
        if traded:
            for channel, spec in tuple(feed.specs.items()):
                if spec.kind == "chart" and spec.instrument == name:
                    step = candles.RESOLUTIONS[spec.group]
                    tick = ts // step * step
                    current = candles.buckets(st.inst, (t for t in st.trades if t["timestamp"] >= tick), step)
                    if tick in current:
                        feed._publish(channel, candles.candle_json(tick, current[tick]))

    def _incremental_ticker(self, channel: str, ticker: dict[str, Any]) -> None:
        subs = self.feed.subs.get(channel)
        if not subs:
            self._incremental.pop(channel, None)
            return
        last = self._incremental.get(channel)
        self._incremental[channel] = ticker
        if last is None:
            self.feed._publish(channel, dict(ticker, type="snapshot"))
            return
        changed = {k: v for k, v in ticker.items() if last.get(k) != v}
        if set(changed) - {"timestamp"}:
            changed.update(type="change", instrument_name=ticker["instrument_name"], timestamp=ticker["timestamp"])
            self.feed._publish(channel, changed)

    def slow_tick(self, ts: int) -> None:
        feed = self.feed
        exchange = feed.exchange
        for currency, index in exchange.indexes.items():
            name = index.name
            feed._publish(f"deribit_price_index.{name}", {"timestamp": ts, "price": index.price, "index_name": name})
            feed._publish(f"deribit_price_ranking.{name}", [{
                "identifier": "tickwire_sim", "original_price": index.price, "price": index.price,
                "weight": 100.0, "timestamp": ts, "enabled": True}])
            expiries = [st.inst.expiration_ms for st in exchange.states.values()
                        if st.inst.currency == currency and not st.inst.perpetual and st.inst.expiration_ms > ts]
            if expiries:
                feed._publish(f"estimated_expiration_price.{name}", {
                    "seconds": (min(expiries) - ts) // 1000, "price": index.price, "is_estimated": False})
            options = [st for st in exchange.states.values()
                       if st.inst.currency == currency and st.inst.kind == "option"]
            if options:
                feed._publish(f"markprice.options.{name}", [
                    {"instrument_name": st.inst.name, "mark_price": st.mark, "iv": 0.5, "timestamp": ts}
                    for st in options])
