"""Engine configuration: frozen msgspec Structs loaded from TOML and validated with clear errors.

Every section has defaults, so an empty file (or none) is a valid configuration. Unknown keys, wrong types
and out-of-range values raise ConfigError naming the key path, e.g. ``risk.max_position: must be > 0``.
"""
from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec


class ConfigError(ValueError):
    """The configuration is invalid; the message names the offending key."""


class _Base(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class SessionConfig(_Base):
    """Connection behaviour of the Deribit session (slow path)."""

    heartbeat_s: int = 10  # Deribit's minimum is 10 s
    request_timeout_ms: int = 2000  # then private/get_order_state, never a blind resend
    reconnect_min_ms: int = 50
    reconnect_max_ms: int = 5000
    book_interval: Literal["raw", "100ms"] = "raw"
    cancel_on_disconnect: bool = True
    socket_profile: str = "latency"  # tuning catalogue profile that gives the socket options
    auth: Literal["client_signature", "client_credentials"] = "client_signature"  # signed: the secret stays home
    scope: str = ""  # public/auth scope, e.g. "session:tickwire trade:read_write" (empty: the key's own)
    cafile: str = ""  # PEM file of CAs trusted for wss:// instead of the system store (e.g. `tickwire sim --tls`)
    ready_timeout_s: float = 30.0  # the first session must be ready by then, else the run stops with the cause


class RiskConfig(_Base):
    """Limits checked before every order on the hot path (amounts in USD for inverse perpetuals)."""

    max_order_amount: float = 1000.0
    max_position: float = 5000.0
    max_open_orders: int = 10
    price_band_bps: float = 200.0  # a limit price more than this away from mid is refused
    max_orders_per_s: float = 50.0  # local cap, also bounded by the credit budget


class CreditConfig(_Base):
    """Client-side mirror of Deribit's credit rate limits (leaky bucket per request class)."""

    non_matching_cost: int = 500
    non_matching_max: int = 50_000
    non_matching_refill_per_s: int = 10_000
    matching_rate_per_s: float = 20.0  # Deribit tier 2
    matching_burst: int = 50


class EngineConfig(_Base):
    """Top-level configuration of `tickwire run`."""

    venue: Literal["sim", "testnet", "deribit"] = "sim"  # deribit = production: real money (see _check_live)
    url: str = ""  # another endpoint than the venue's own: a colo gateway, a proxy, an already running simulator
    instruments: tuple[str, ...] = ("BTC-PERPETUAL",)
    strategy: str = "tickwire.engine.strategies.market_maker:MarketMaker"
    strategy_params: dict[str, float] = {}
    duration_s: float = 30.0
    position_poll_ms: int = 100  # private/get_positions period (the position-query latency figure)
    sim_rate: int = 100  # book messages/s per instrument the simulator generates (venue sim only)
    sim_tls: bool = False  # the embedded simulator serves wss:// with a throw-away certificate this run trusts
    # market data: book.* over WebSocket, or multicast SBE (in the engine's process, or in a feed process of its own)
    md: Literal["websocket", "multicast", "multicast-process"] = "websocket"
    driver: Literal["auto", "spin", "async"] = "auto"  # hot path: "spin" (a compiled loop owns the socket), "async"
    # (event-loop reads), "auto" (spin when the host has a core to give it; tickwire.engine.driver.choose_driver)
    cpu: int = -1  # the engine's CPU (-1: the core plan's engine CPU); the simulator goes on the others
    pin: bool = True  # pin the engine to ``cpu`` and the simulator elsewhere (false: let the scheduler place them)
    lock_memory: bool = True  # mlockall(MCL_CURRENT | MCL_FUTURE) when allowed (the run header says if it was)
    capture: bool = True  # record the run on lo and report wire-to-wire figures (venue sim only)
    cache_dir: str = ""  # compiled passes of the strategy kernels ("": $TICKWIRE_CACHE_DIR or ~/.cache/tickwire)
    # the TCP stack under the session: kernel sockets, or the userspace stack (tickwire.netstack.utcp) on a DPDK
    # port (plaintext ws:// to an IPv4 address only); the port's devargs or PCI address, our address/prefix and
    # the next hop
    stack: Literal["kernel", "dpdk"] = "kernel"
    port_spec: str = ""
    stack_ip: str = ""
    stack_gw: str = ""
    session: SessionConfig = SessionConfig()
    risk: RiskConfig = RiskConfig()
    credits: CreditConfig = CreditConfig()


_POSITIVE = {
    "duration_s", "position_poll_ms", "sim_rate", "session.heartbeat_s", "session.request_timeout_ms",
    "session.reconnect_min_ms", "session.reconnect_max_ms", "risk.max_order_amount", "risk.max_position",
    "risk.max_open_orders", "risk.price_band_bps", "risk.max_orders_per_s", "credits.non_matching_cost",
    "credits.non_matching_max", "credits.non_matching_refill_per_s", "credits.matching_rate_per_s",
    "credits.matching_burst", "session.ready_timeout_s",
}
_INSTRUMENT = re.compile(r"^[A-Z0-9_]+(-[A-Z0-9]+)+$")


def _get(cfg: Any, path: str) -> Any:
    for part in path.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _check(cfg: EngineConfig) -> EngineConfig:
    for path in sorted(_POSITIVE):
        value = _get(cfg, path)
        if not (value > 0 and math.isfinite(value)):  # inf would switch a limit off, nan compares false
            raise ConfigError(f"{path}: must be > 0 and finite (got {value!r})")
    for name, value in cfg.strategy_params.items():
        if not math.isfinite(value):
            raise ConfigError(f"strategy_params.{name}: must be a finite number (got {value!r})")
    if cfg.session.heartbeat_s < 10:
        raise ConfigError(f"session.heartbeat_s: Deribit's minimum is 10 (got {cfg.session.heartbeat_s})")
    if cfg.session.reconnect_max_ms < cfg.session.reconnect_min_ms:
        raise ConfigError("session.reconnect_max_ms: must be >= session.reconnect_min_ms")
    if not cfg.instruments:
        raise ConfigError("instruments: at least one instrument is required")
    for name in cfg.instruments:
        if not _INSTRUMENT.match(name):
            raise ConfigError(f"instruments: {name!r} is not a Deribit instrument name (e.g. BTC-PERPETUAL)")
    twice = sorted({name for name in cfg.instruments if cfg.instruments.count(name) > 1})
    if twice:
        raise ConfigError(f"instruments: listed more than once: {', '.join(twice)}")
    if cfg.md.startswith("multicast") and cfg.venue != "sim":
        raise ConfigError(f"md: multicast market data needs venue = \"sim\" here (got venue {cfg.venue!r}): "
                          "Deribit's multicast feed is only reachable in a colocation rack")
    if cfg.cpu < -1:
        raise ConfigError(f"cpu: a CPU number, or -1 for the core plan's engine CPU (got {cfg.cpu})")
    if ":" not in cfg.strategy:
        raise ConfigError(f"strategy: expected 'package.module:Name' (got {cfg.strategy!r})")
    _check_url(cfg)
    if cfg.sim_tls and (cfg.venue != "sim" or cfg.url):
        raise ConfigError("sim_tls: only for the embedded simulator (venue = \"sim\" without url)")
    if cfg.session.cafile and not Path(cfg.session.cafile).is_file():
        raise ConfigError(f"session.cafile: no such file: {cfg.session.cafile}")
    return cfg


PRODUCTION_HOSTS = ("deribit.com", "www.deribit.com")


def _check_url(cfg: EngineConfig) -> None:
    if not cfg.url:
        return
    parts = urlsplit(cfg.url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ConfigError(f"url: expected ws://HOST[:PORT]/PATH or wss://... (got {cfg.url!r})")
    if parts.hostname.lower() in PRODUCTION_HOSTS and cfg.venue != "deribit":
        raise ConfigError(f"url: {parts.hostname} is Deribit production: set venue = \"deribit\" (and every risk "
                          "limit) to trade there")


def _check_live(cfg: EngineConfig, data: dict[str, Any]) -> None:
    """Live money (venue ``deribit``) takes no default risk limit: every one must be written in the config."""
    if cfg.venue != "deribit":
        return
    given = data.get("risk") if isinstance(data.get("risk"), dict) else {}
    missing = [f"risk.{name}" for name in RiskConfig.__struct_fields__ if name not in given]
    if missing:
        raise ConfigError(f"venue = \"deribit\" trades real money and takes no default risk limit: set "
                          f"{', '.join(missing)} in the [risk] table of the config file")


def from_dict(data: dict[str, Any]) -> EngineConfig:
    """Validate a mapping (the parsed TOML plus CLI overrides) into an EngineConfig."""
    try:
        cfg = msgspec.convert(data, EngineConfig, strict=False)
    except msgspec.ValidationError as exc:
        # msgspec says e.g. "Expected `int`, got `str` - at `$.risk.max_open_orders`": keep its words, drop the `$.`
        raise ConfigError(str(exc).replace("`$.", "`").replace("`$`", "the top level")) from None
    _check_live(cfg, data)
    return _check(cfg)


def load(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> EngineConfig:
    """Load and validate a TOML file (or only defaults when ``path`` is None), applying CLI ``overrides``."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {p}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}  # e.g. --cafile into the file's [session] table
        elif value is not None:
            data[key] = value
    return from_dict(data)


_UNITS_S = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Parse '30s', '500ms', '2m', '1h' or a bare number of seconds into seconds."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"duration: expected e.g. 30s, 500ms, 2m (got {text!r})")
    return float(m.group(1)) * _UNITS_S[m.group(2) or "s"]
