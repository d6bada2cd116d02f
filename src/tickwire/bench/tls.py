"""TLS vs plaintext on our side of the wire, in one run: the engine against ``tickwire sim`` and ``tickwire sim
--tls`` (both running the whole time, so both see the same background load), taking turns in rounds.

- tick to trade: TSC before the read (before OpenSSL reads and decrypts, over TLS) -> order written (after
  ``SSL_write`` over TLS), per pass that sent; this is the time TLS adds on our side;
- order round trip: order written -> its answer read (both sides' TLS, plus the simulator).

Figures are HdrHistogram percentiles over every round's samples (``tickwire.engine.probes.summarize``).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np

from tickwire.config import EngineConfig, RiskConfig, SessionConfig
from tickwire.deribit.venue import start_sim
from tickwire.engine.probes import Summary, summarize
from tickwire.engine.run import run_async

METRICS = {"tick to trade": "tick_to_trade_ns", "order round trip": "order_ns"}
TRANSPORTS = ("plaintext", "tls")


@dataclass
class TlsBench:
    """Per metric, the plaintext and TLS summaries; ``added_p50_us`` = TLS p50 - plaintext p50."""

    summaries: dict[str, dict[str, Summary]]
    tls: str  # the negotiated protocol and cipher, and whether the kernel encrypts (kTLS)
    duration_s: float
    rounds: int

    def added_p50_us(self, metric: str) -> float:
        return self.summaries[metric]["tls"].p50 - self.summaries[metric]["plaintext"].p50

    def as_dict(self) -> dict[str, Any]:
        return {"tls": self.tls, "duration_s": self.duration_s, "rounds": self.rounds,
                "metrics": {m: {**{t: s.as_dict() for t, s in by.items()}, "tls_added_p50_us": self.added_p50_us(m)}
                            for m, by in self.summaries.items()}}


async def _bench(duration_s: float, rate: float, orders_per_s: float, rounds: int) -> TlsBench:
    venues = dict(zip(TRANSPORTS, await asyncio.gather(asyncio.to_thread(start_sim, rate=rate),
                                                         asyncio.to_thread(start_sim, rate=rate, tls=True))))
    samples: dict[str, dict[str, list[np.ndarray]]] = {m: {t: [] for t in TRANSPORTS} for m in METRICS}
    tls = ""
    try:
        cfg = EngineConfig(strategy="tickwire.bench.pingpong:PingPong", duration_s=duration_s / rounds,
                           session=SessionConfig(book_interval="raw"), risk=RiskConfig(max_orders_per_s=orders_per_s))
        for _ in range(rounds):
            for transport in TRANSPORTS:
                result = await run_async(cfg, venues[transport])
                tls = result.live.get("tls") or tls
                for metric, key in METRICS.items():
                    samples[metric][transport].append(np.asarray(result.samples[key], float))
    finally:
        for venue in venues.values():
            await asyncio.to_thread(venue.close)
    summaries = {m: {t: summarize(m, np.concatenate(by[t])) for t in TRANSPORTS} for m, by in samples.items()}
    return TlsBench(summaries, tls, duration_s, rounds)


def run_tls_bench(duration_s: float = 20.0, rate: float = 100.0, orders_per_s: float = 20.0,
                  rounds: int = 0) -> TlsBench:
    """``duration_s`` per transport, split into ``rounds`` turns (default: one per 4 s, 1..5)."""
    rounds = rounds or max(1, min(5, int(duration_s // 4)))
    return asyncio.run(_bench(duration_s, rate, orders_per_s, rounds))


def markdown(bench: TlsBench) -> str:
    """The comparison as a Markdown table (µs)."""
    lines = [f"TLS: {bench.tls}; {bench.duration_s:g} s per transport in {bench.rounds} rounds", "",
             "| metric | transport | count | p50 | p95 | p99 | max |", "|---|---|---:|---:|---:|---:|---:|"]
    for metric, by in bench.summaries.items():
        for transport, s in by.items():
            lines.append(f"| {metric} | {transport} | {s.count} | {s.p50:.1f} | {s.p95:.1f} | {s.p99:.1f} | "
                         f"{s.max:.1f} |")
        lines.append(f"| {metric} | TLS adds (p50) | | {bench.added_p50_us(metric):+.1f} | | | |")
    return "\n".join(lines)
