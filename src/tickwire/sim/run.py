"""Run a SimServer in the foreground until SIGINT/SIGTERM (the CLI's event loop, on uvloop when present)."""
from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal
import sys
from collections.abc import Iterable

from tickwire.sim.config import SimConfig
from tickwire.sim.listeners import MarketDataListener
from tickwire.sim.server import SimServer


MAX_LOG_RECORDS = 200
GC_YOUNG_EVERY_S = 0.1  # the young generation is collected this often, nothing else (see _tune_gc)


class _LogBudget(logging.Filter):
    """Let at most MAX_LOG_RECORDS records through: a parent that pipes stderr but never reads it must not
    be able to block the venue on a full pipe."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def filter(self, record: logging.LogRecord) -> bool:
        self.seen += 1
        if self.seen == MAX_LOG_RECORDS:
            record.msg, record.args = "further simulator log records are suppressed", ()
        return self.seen <= MAX_LOG_RECORDS


def _tune_gc() -> None:
    """Startup objects (modules, instruments, the seeded books) live as long as the process: freeze them out of
    the collector's scans. Then automatic collection is off and :func:`_collect_young` collects the young
    generation every ``GC_YOUNG_EVERY_S``, nothing else. What survives that is what the venue keeps for long
    (closed orders, trade logs, send times: bounded, freed by reference counting, not in cycles), and walking it
    again and again is what stalled every connection: under the seed bench (1000 orders/s) automatic young
    collections came every ~22 s and walked ~50,000 such containers each (13-21 ms of CPU, 30-70 ms on the
    loaded host), the tail of every latency the bench measured; the older generations would walk all of them.
    A cycle that outlives a young collection (a closed connection's objects, a few kB) is not collected: the
    price of no stall, as in the engine (tickwire.engine.placement.GcSafePoints)."""
    gc.collect()
    gc.freeze()
    gc.disable()


async def _collect_young() -> None:
    while True:
        await asyncio.sleep(GC_YOUNG_EVERY_S)
        gc.collect(0)


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("tickwire sim %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_LogBudget())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])


async def _main(config: SimConfig, ready_json: bool, listeners: Iterable[MarketDataListener]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = SimServer(config, listeners)
    try:
        await server.start()
    except OSError as exc:
        print(f"tickwire sim: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(f"tickwire sim: {exc}", file=sys.stderr)
        return 1
    _tune_gc()
    collector = loop.create_task(_collect_young(), name="gc-young")
    info = server.ready_info()
    if ready_json:
        sys.stdout.write(json.dumps(info) + "\n")
    else:
        names = ", ".join(i.name for i in config.instruments)
        sys.stdout.write(f"tickwire sim listening on {info['url']} (HTTP {info['http']})\n"
                         f"instruments: {names}; rate {config.rate:g} book msgs/s each; seed {config.seed}\n"
                         f"local credentials: client_id={info['client_id']} "
                         f"client_secret={info['client_secret']}\nCtrl-C stops.\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        collector.cancel()
        await server.stop()
    return 0


def serve(config: SimConfig, ready_json: bool = False, listeners: Iterable[MarketDataListener] = ()) -> int:
    """Blocking: serve until a signal; returns the exit code."""
    _setup_logging()
    try:
        import uvloop
    except ImportError:  # uvloop is a dependency; plain asyncio still works
        return asyncio.run(_main(config, ready_json, listeners))
    return uvloop.run(_main(config, ready_json, listeners))
