"""tickwire.sim: a Deribit-compatible exchange simulator on loopback (the embedded default venue).

Start it as a subprocess (the engine never imports this package)::

    tickwire sim --port 0 --ready-json        # or: python -m tickwire.sim --port 0 --ready-json

Once listening it prints ONE line of JSON to stdout and flushes::

    {"url": "ws://127.0.0.1:PORT/ws/api/v2", "http": "http://127.0.0.1:PORT/api/v2",
     "client_id": "tickwire-sim", "client_secret": "tickwire-sim-secret", "pid": N}

and exits cleanly on SIGINT/SIGTERM. Local default credentials: client_id ``tickwire-sim``, client_secret
``tickwire-sim-secret`` (they only open this loopback venue; change them with --client-id/--client-secret).

In-process (tests, benchmarks)::

    async with SimServer(SimConfig(port=0)) as sim:
        ...  # sim.url, sim.http_url, sim.venue

Sim-only methods: ``sim/get_send_times`` (CLOCK_REALTIME ns send times of book messages by channel and
change_id, and of answered requests by connection and id), ``sim/control`` (faults at run time),
``sim/get_stats``. Market-data listeners (e.g. a multicast publisher): ``tickwire.sim.listeners``.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

# Lazy re-exports (PEP 562): `tickwire sim --help` and `tickwire --help` import this package, not the venue.
_EXPORTS = {
    "SimConfig": "tickwire.sim.config", "DEFAULT_CLIENT_ID": "tickwire.sim.config",
    "DEFAULT_CLIENT_SECRET": "tickwire.sim.config", "SimServer": "tickwire.sim.server",
    "MarketDataListener": "tickwire.sim.listeners", "BookSnapshot": "tickwire.sim.listeners",
    "Faults": "tickwire.sim.faults", "parse_faults": "tickwire.sim.faults",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tickwire.sim' has no attribute {name!r}")
    return getattr(import_module(module), name)
