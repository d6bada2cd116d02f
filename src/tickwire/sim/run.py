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
GC_GEN0_THRESHOLD = 50_000  # allocations between young-generation collections (CPython's default is 700)
GC_GEN2_THRESHOLD = 1_000   # middle-generation collections between full ones (CPython's default is 10)


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
    the collector's scans, and collect the young generation less often, since every book message and order
    allocates a few short-lived containers (measured: about 4% more messages per CPU-second). Full collections
    are rare: what the venue keeps for long (closed orders, trade logs, send times: bounded, freed by
    reference counting, not in cycles) is a few hundred thousand objects, and walking them stalls every
    connection for tens of milliseconds; at the default threshold that came every few minutes under the seed
    bench's 1000 orders/s, now about every few hours."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, gc.get_threshold()[1], GC_GEN2_THRESHOLD)


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
