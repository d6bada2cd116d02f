"""Warm start: the strategy's compiled pass built once and kept on disk (tickwire.engine.kernel_cache).

:func:`warm_engine` builds an engine offline (no venue: instrument sizes do not change the compiled code) and
compiles, or loads, every entry point a run uses: the async driver's reads, the multicast batches, the spin
driver's slice and the backtest's replay. ``tickwire warm`` runs it ahead of a first start (the Ansible role
does at deploy time); ``tickwire run`` measures the same steps and prints them in its report header.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tickwire.config import EngineConfig
from tickwire.engine import kernel_cache

# Stand-in sizes for an offline engine: the compiled pass depends on array types only, never on these values.
_OFFLINE_INFO = {"tick_size": 0.5, "min_trade_amount": 10.0, "base_currency": "BTC"}


@dataclass
class WarmUp:
    """How an engine got its compiled pass: seconds taken, and how many functions were compiled here."""

    seconds: float
    compiled: int  # functions compiled in this process (0: everything came from the disk cache)
    cached: bool  # whether this kernel's pass is kept on disk at all
    directory: str

    def describe(self) -> str:
        """One line for a run header."""
        if not self.cached:
            how = "compiled in this process (the kernel is not importable at module level: nothing is cached)"
        elif self.compiled:
            how = f"{self.compiled} functions compiled and cached in {self.directory}"
        else:
            how = f"compiled pass loaded from the cache in {self.directory}"
        return f"warm-up {self.seconds:.1f} s: {how}"

    def as_dict(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 3), "compiled": self.compiled, "cached": self.cached,
                "directory": self.directory, "summary": self.describe()}


def apply_cache_dir(cfg: EngineConfig) -> None:
    """The config's ``cache_dir`` for this process, when it sets one."""
    if cfg.cache_dir:
        kernel_cache.set_cache_dir(cfg.cache_dir)


def measure_warm_up(engine: Any, started: float) -> WarmUp:
    """The WarmUp of ``engine`` built from ``started`` (time.monotonic()) until now."""
    passes = engine.hot.passes
    return WarmUp(time.monotonic() - started, kernel_cache.compiled_here(passes),
                  kernel_cache.is_cached(engine.kernel), str(kernel_cache.cache_dir()))


def warm_engine(cfg: EngineConfig) -> WarmUp:
    """Build an offline engine for ``cfg``'s strategy and compile (or load) every entry point of its pass."""
    from tickwire.engine.engine import Engine, Instrument
    from tickwire.engine.spin import SpinDriver
    from tickwire.engine.strategy import load_strategy

    apply_cache_dir(cfg)
    started = time.monotonic()
    instruments = [Instrument({"instrument_name": name, **_OFFLINE_INFO}) for name in cfg.instruments]
    engine = Engine(cfg, instruments, load_strategy(cfg.strategy), "warm-")
    engine.warm_up()
    SpinDriver(engine).warm_up()
    engine.hot.entry("replay", engine.events[:0], 0, 0)
    engine.hot.entry("admit", 0, 0)
    return measure_warm_up(engine, started)
