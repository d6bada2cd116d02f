"""Simulator settings (one frozen-ish dataclass the CLI, tests and benchmarks fill in)."""
from __future__ import annotations

from dataclasses import dataclass, field

from tickwire.sim.faults import Faults
from tickwire.sim.instruments import Instrument, parse_instruments
from tickwire.sim.ratelimit import TIERS

#: Local default credentials of the simulator (not secrets: they only open the loopback venue).
DEFAULT_CLIENT_ID = "tickwire-sim"
DEFAULT_CLIENT_SECRET = "tickwire-sim-secret"
STACKS = ("picows", "websockets")


@dataclass
class SimConfig:
    """Everything a simulator run needs; defaults are a quiet local venue (100 book messages/s/instrument)."""

    host: str = "127.0.0.1"
    port: int = 0
    instruments: list[Instrument] = field(default_factory=lambda: parse_instruments(None))
    rate: float = 100.0               # synthetic book messages per second per instrument (0 = static book)
    seed: int = 1
    faults: Faults = field(default_factory=Faults)
    credentials: dict[str, str] = field(default_factory=lambda: {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET})
    token_ttl_s: float = 900.0
    rate_limits: bool = True
    tier: str | None = "1"            # matching-engine tier "1".."4" or "mm" (ratelimit.TIERS); None = unlimited
    heartbeat_min_s: float = 10.0     # Deribit refuses intervals below 10 s; tests lower it
    tls: bool = False
    stack: str = "picows"
    testnet: bool = False
    max_message_bytes: int = 256 * 1024  # larger requests get 11050 bad_request (the connection survives)
    book_depth: int = 20              # levels per side the synthetic flow keeps near the mid
    send_times_kept: int = 1 << 18    # send times remembered per book channel and per connection (power of 2)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be in 0..65535 (0 = ephemeral)")
        if self.rate < 0:
            raise ValueError("rate must be >= 0")
        if self.stack not in STACKS:
            raise ValueError(f"stack must be one of {', '.join(STACKS)}")
        if not self.instruments:
            raise ValueError("at least one instrument is needed")
        if self.tier is not None and self.tier not in TIERS:
            raise ValueError(f"tier must be one of {', '.join(TIERS)} or unlimited")
        if self.token_ttl_s <= 0:
            raise ValueError("token_ttl_s must be > 0")
        if self.send_times_kept < 1 or self.send_times_kept & (self.send_times_kept - 1):
            raise ValueError("send_times_kept must be a power of two")
