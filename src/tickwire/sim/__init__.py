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

from tickwire.sim.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SimConfig
from tickwire.sim.faults import Faults, parse_faults
from tickwire.sim.listeners import BookSnapshot, MarketDataListener
from tickwire.sim.server import SimServer

__all__ = ["SimConfig", "SimServer", "MarketDataListener", "BookSnapshot", "Faults", "parse_faults",
           "DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET"]
