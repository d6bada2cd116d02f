"""``tickwire sim``: run the simulator until SIGINT/SIGTERM. Only typer at module top (``tickwire --help``
stays fast); the venue is imported inside the command."""
from __future__ import annotations

from typing import Optional

import typer


def sim(
    host: str = typer.Option("127.0.0.1", help="address to bind (keep it on loopback)"),
    port: int = typer.Option(8765, help="TCP port; 0 = ephemeral"),
    instruments: Optional[str] = typer.Option(None, help="comma-separated names; default BTC-PERPETUAL, "
                                              "ETH-PERPETUAL, a dated BTC future and two BTC options"),
    rate: float = typer.Option(100.0, help="synthetic book messages per second per instrument (0 = static)"),
    seed: int = typer.Option(1, help="seed of the synthetic market flow"),
    faults: Optional[str] = typer.Option(None, help="e.g. gap=0.001,drop=0.01,delay_ms=5,reject=3,"
                                         "slow_ack_ms=10,squeeze=0.1,close_every=30"),
    ready_json: bool = typer.Option(False, "--ready-json", help="print one JSON line (url, http, credentials, "
                                    "pid) once listening, nothing else on stdout"),
    tls: bool = typer.Option(False, "--tls", help="wss:// and https:// with a generated self-signed certificate"),
    client_id: str = typer.Option("tickwire-sim", help="API client id of the local account"),
    client_secret: str = typer.Option("tickwire-sim-secret", help="API client secret of the local account"),
    tier: str = typer.Option("1", help="matching-engine rate-limit tier 1..4, mm (2000/s) or 'unlimited'"),
    no_rate_limits: bool = typer.Option(False, "--no-rate-limits", help="switch the credit rate limiter off"),
    token_ttl: float = typer.Option(900.0, help="access token lifetime in seconds"),
    stack: str = typer.Option("picows", help="server stack: picows (default) or websockets (baseline)"),
    multicast: Optional[str] = typer.Option(None, "--multicast", help="also publish market data as Deribit "
                                            "multicast SBE: INTERFACE[:PORT] (e.g. 127.0.0.1 or 127.0.0.1:6100; "
                                            "snapshots on PORT+1)"),
    send_times_kept: int = typer.Option(1 << 18, help="send times remembered per book channel and per "
                                        "connection (a power of two)"),
) -> None:
    """Run the Deribit-compatible exchange simulator (JSON-RPC over WebSocket at /ws/api/v2, HTTP at /api/v2)."""
    from tickwire.sim.config import SimConfig
    from tickwire.sim.faults import parse_faults
    from tickwire.sim.instruments import parse_instruments
    from tickwire.sim.run import serve

    try:
        config = SimConfig(
            host=host, port=port, instruments=parse_instruments(instruments), rate=rate, seed=seed,
            faults=parse_faults(faults), credentials={client_id: client_secret}, token_ttl_s=token_ttl,
            rate_limits=not no_rate_limits, tier=None if tier == "unlimited" else tier, tls=tls, stack=stack,
            send_times_kept=send_times_kept)
    except ValueError as exc:
        typer.echo(f"tickwire sim: {exc}", err=True)
        raise typer.Exit(2) from None
    listeners: list = []  # market-data listeners (e.g. a multicast publisher) are appended here
    if multicast:
        from tickwire.sim.multicast import publisher_from_option

        try:
            listeners.append(publisher_from_option(multicast))
        except (ValueError, OSError) as exc:
            typer.echo(f"tickwire sim: --multicast {multicast}: {exc}", err=True)
            raise typer.Exit(2) from None
    raise typer.Exit(serve(config, ready_json=ready_json, listeners=listeners))
