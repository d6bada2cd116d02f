"""Where the engine trades: the embedded simulator (started as a subprocess) or Deribit testnet.

The engine never imports tickwire.sim: it starts ``python -m tickwire.sim --port 0 --ready-json`` and reads the
one JSON line the simulator prints once it listens (url, http, local credentials, pid).
"""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field

from tickwire.deribit.session import Credentials

TESTNET_WS = "wss://test.deribit.com/ws/api/v2"
TESTNET_HTTP = "https://test.deribit.com/api/v2"


class VenueError(RuntimeError):
    """The venue could not be started or reached (the message never contains credentials)."""


@dataclass
class Venue:
    """A venue endpoint; ``process`` is set when we started the simulator ourselves."""

    url: str
    http: str
    creds: Credentials
    is_sim: bool
    process: subprocess.Popen | None = field(default=None, repr=False)
    mcast_port: int = 0  # incremental UDP port of the simulator's multicast feed on 127.0.0.1, snapshots + 1 (0: none)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the simulator we started (SIGTERM, then SIGKILL after ``timeout_s``)."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Venue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_sim(instruments: tuple[str, ...] = ("BTC-PERPETUAL",), rate: float = 100.0, seed: int = 1,
              faults: str | None = None, extra: tuple[str, ...] = (), timeout_s: float = 30.0,
              multicast: bool = False) -> Venue:
    """Start the simulator on an ephemeral loopback port and wait for its ready line; with ``multicast`` it also
    publishes its market data as multicast SBE on loopback (on a free UDP port pair, see ``Venue.mcast_port``)."""
    cmd = [sys.executable, "-m", "tickwire.sim", "--port", "0", "--ready-json", "--rate", f"{rate:g}",
           "--seed", str(seed), "--instruments", ",".join(instruments), *extra]
    mcast_port = free_udp_pair() if multicast else 0
    if mcast_port:
        cmd += ["--multicast", f"127.0.0.1:{mcast_port}"]
    if faults:
        cmd += ["--faults", faults]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    line = b""
    assert proc.stdout is not None
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            line += chunk
        elif proc.poll() is not None:
            break
    try:
        info = json.loads(line)
        venue = Venue(info["url"], info["http"], Credentials(info["client_id"], info["client_secret"]), True, proc,
                      mcast_port)
    except (ValueError, KeyError):
        err = b""
        try:
            proc.wait(1.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stderr is not None:
            err = proc.stderr.read()[-300:]
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        raise VenueError(f"the simulator did not start within {timeout_s:g}s: "
                         f"{err.decode(errors='replace').strip() or 'no ready line'}") from None
    return venue


def free_udp_pair(attempts: int = 50) -> int:
    """A UDP port P with P and P + 1 both free now (the multicast feed's incremental and snapshot ports), so that
    concurrent runs on one host do not share groups."""
    import socket

    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a:
            a.bind(("0.0.0.0", 0))
            port = a.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                try:
                    b.bind(("0.0.0.0", port + 1))
                except OSError:
                    continue
                return port
    raise VenueError("no free UDP port pair for the simulator's multicast feed")


def testnet(url: str = TESTNET_WS) -> Venue:
    """Deribit testnet (or another Deribit API endpoint at ``url``, config ``session.url``) with keys from
    TICKWIRE_CLIENT_ID / TICKWIRE_CLIENT_SECRET; the HTTP API is the same host and port, ``/ws/api/v2`` ->
    ``/api/v2``."""
    try:
        creds = Credentials.from_env()
    except ValueError as exc:
        raise VenueError(f"--venue testnet: {exc}") from None
    return Venue(url, http_url(url), creds, False)


def http_url(ws_url: str) -> str:
    """The HTTP API root that belongs to a Deribit WebSocket URL (ws -> http, wss -> https, /ws/api/v2 ->
    /api/v2)."""
    scheme, rest = ws_url.split("://", 1)
    host, _, path = rest.partition("/")
    path = "/" + path
    path = path[3:] if path.startswith("/ws/") else path
    return f"{'https' if scheme == 'wss' else 'http'}://{host}{path.rstrip('/') or '/api/v2'}"


def fetch_instruments(http: str, names: tuple[str, ...], timeout_s: float = 10.0) -> list[dict]:
    """public/get_instruments over HTTP for the currencies of ``names``; VenueError for an unknown name."""
    found: dict[str, dict] = {}
    for ccy in sorted({n.split("-")[0].split("_")[0] for n in names}):
        url = f"{http}/public/get_instruments?currency={ccy}"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - ws/http venue URL
                body = json.loads(resp.read())
        except (OSError, ValueError) as exc:
            raise VenueError(f"public/get_instruments for {ccy} failed: {exc}") from None
        for ins in body.get("result") or []:
            found[ins["instrument_name"]] = ins
    missing = [n for n in names if n not in found]
    if missing:
        raise VenueError(f"unknown instrument(s) on this venue: {', '.join(missing)}")
    return [found[n] for n in names]
