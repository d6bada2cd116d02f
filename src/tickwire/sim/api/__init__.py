"""The simulator's JSON-RPC API: ``METHODS`` maps a method name to its handler and flags.

Importing this package registers every method module (connection, market, trading, quotes, account, simctl).
"""
from __future__ import annotations

from tickwire.sim.api import account, connection, market, quotes, simctl, trading  # noqa: F401 - registration
from tickwire.sim.api.registry import METHODS, Ctx, MethodSpec

__all__ = ["METHODS", "Ctx", "MethodSpec"]
