"""``tickwire run`` and ``tickwire kill``. Only typer at module top; the engine is imported inside the commands."""
from __future__ import annotations

import json
from typing import Optional

import typer


def run(
    venue: Optional[str] = typer.Option(None, help="sim (the embedded simulator, default), testnet, or deribit "
                                        "(production: the config file must set every risk limit)"),
    url: Optional[str] = typer.Option(None, help="another ws:// or wss:// endpoint for the venue (a colo gateway, "
                                      "a proxy, a running simulator)"),
    cafile: Optional[str] = typer.Option(None, help="PEM file of the CA(s) to trust for wss:// instead of the "
                                         "system store (e.g. the certificate of `tickwire sim --tls`)"),
    tls: bool = typer.Option(False, "--tls", help="venue sim: the embedded simulator serves wss:// (OpenSSL on "
                             "the engine side, its throw-away certificate trusted)"),
    strategy: Optional[str] = typer.Option(None, help="package.module:Name (default: the demo market maker)"),
    duration: Optional[str] = typer.Option(None, help="how long to trade, e.g. 30s, 2m"),
    instruments: Optional[str] = typer.Option(None, help="comma-separated, e.g. BTC-PERPETUAL,ETH-PERPETUAL"),
    config: Optional[str] = typer.Option(None, help="TOML file (see README: Running the engine)"),
    md: Optional[str] = typer.Option(None, "--md", help="market data: websocket (default), multicast or "
                                     "multicast-process (the simulator's SBE feed on loopback, in the engine's "
                                     "process or a pinned feed process; orders stay on WebSocket)"),
    driver: Optional[str] = typer.Option(None, "--driver", help="hot path: spin (a compiled loop owns the socket; "
                                         "needs a core of its own), async (event-loop reads), auto (default)"),
    cpu: Optional[int] = typer.Option(None, "--cpu", help="the engine's CPU (default: the core plan's engine "
                                      "CPU, `tickwire hw plan`); the simulator runs on the others"),
    pin: Optional[bool] = typer.Option(None, "--pin/--no-pin", help="pin the engine to its CPU and the "
                                       "simulator to the others (default on; off on a host whose CPUs are shared)"),
    capture: Optional[bool] = typer.Option(None, "--capture/--no-capture", help="record the run on lo and report "
                                           "tick-to-trade on the wire (default on with the simulator)"),
    stack: Optional[str] = typer.Option(None, "--stack", help="TCP stack under the session: kernel (default) or "
                                        "dpdk (the userspace stack on a DPDK port; needs a plaintext ws:// --url)"),
    port_spec: Optional[str] = typer.Option(None, "--port-spec", help="--stack dpdk: the port, as DPDK devargs "
                                            "(net_af_packet0,iface=eth1 / net_af_xdp0,iface=eth1) or a PCI address"),
    ip: Optional[str] = typer.Option(None, "--ip", help="--stack dpdk: our IPv4 address with prefix, e.g. "
                                     "198.18.0.1/30"),
    gw: Optional[str] = typer.Option(None, "--gw", help="--stack dpdk: the next hop for the venue when it is "
                                     "not on our subnet"),
    as_json: bool = typer.Option(False, "--json", help="print the figures as JSON"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="log the session to stderr"),
) -> None:
    """Trade a strategy against the venue and print the latency table (Order Placement, Market Data,
    Position Query: avg, p50, p95, p99, max in µs), hot-path stages, counters and positions."""
    import logging

    from tickwire.config import ConfigError, load, parse_duration
    from tickwire.engine.report import print_run
    from tickwire.engine.run import RunFailed, run as run_engine
    from tickwire.deribit.session import VenueError
    from tickwire.engine.strategy import StrategyLoadError, load_strategy
    from tickwire.deribit.transport import TransportError
    from tickwire.deribit.auth import CredentialsError
    from tickwire.deribit.errors import message
    from tickwire.deribit.venue import VenueError as VenueStartError

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    try:
        overrides = {"venue": venue, "url": url, "strategy": strategy, "md": md, "driver": driver, "cpu": cpu,
                     "pin": pin, "capture": capture, "sim_tls": tls or None, "stack": stack,
                     "port_spec": port_spec, "stack_ip": ip, "stack_gw": gw,
                     "session": {"cafile": cafile} if cafile else None,
                     "duration_s": parse_duration(duration) if duration else None,
                     "instruments": [s.strip() for s in instruments.split(",") if s.strip()] if instruments else None}
        cfg = load(config, overrides)
        load_strategy(cfg.strategy)  # a bad --strategy fails before any venue is started
        result = run_engine(cfg)
    except VenueError as exc:
        hint = (": check the API key (TICKWIRE_CLIENT_ID / TICKWIRE_CLIENT_SECRET, or the systemd credentials "
                "client_id / client_secret), that it belongs to this venue and has the scope asked for"
                if exc.method == "public/auth" else "")
        # the compiled decoder keeps an error's code only: Deribit's name for it comes from the one error table
        text = exc.message if exc.message not in ("", "error") else message(exc.code)
        typer.echo(f"tickwire run: the venue refused {exc.method}: {exc.code} {text}{hint}", err=True)
        raise typer.Exit(2) from None
    except (ConfigError, CredentialsError, StrategyLoadError, VenueStartError, TransportError, TimeoutError) as exc:
        typer.echo(f"tickwire run: {exc}", err=True)
        raise typer.Exit(2) from None
    except RunFailed as exc:
        typer.echo(f"tickwire run: failed: {exc}", err=True)
        raise typer.Exit(3) from None
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
    else:
        print_run(result)


def kill() -> None:
    """Fire the kill switch of the running `tickwire run` (stop quoting, cancel every order)."""
    from tickwire.engine.run import kill_running

    try:
        pid = kill_running()
    except RuntimeError as exc:
        typer.echo(f"tickwire kill: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"kill switch sent to engine pid {pid}")


def warm(
    strategy: Optional[str] = typer.Option(None, help="package.module:Name (default: the config's, else the demo "
                                           "market maker)"),
    config: Optional[str] = typer.Option(None, help="TOML file of the engine (its strategy, instruments and "
                                         "cache_dir)"),
    cache_dir: Optional[str] = typer.Option(None, "--cache-dir", help="where compiled passes are kept (default: "
                                            "the config's cache_dir, $TICKWIRE_CACHE_DIR, ~/.cache/tickwire)"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Compile the strategy's hot pass ahead of a first start and keep it on disk, so that `tickwire run` starts
    in seconds (no venue is contacted). Run it as the user the engine runs as, with the same cache directory."""
    from tickwire.config import ConfigError, load
    from tickwire.engine.strategy import StrategyLoadError
    from tickwire.engine.warm import warm_engine

    try:
        cfg = load(config, {"strategy": strategy, "cache_dir": cache_dir})
        result = warm_engine(cfg)
    except (ConfigError, StrategyLoadError) as exc:
        typer.echo(f"tickwire warm: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
    else:
        typer.echo(result.describe())
    if not result.cached:
        raise typer.Exit(1)  # nothing was kept: the next start compiles again
