"""Where the engine trades: the embedded simulator (started as a subprocess), Deribit production, Deribit testnet,
or any other endpoint by URL (a colo gateway, a proxy, a simulator that is already running).

The engine never imports tickwire.sim: it starts ``python -m tickwire.sim --port 0 --ready-json`` and reads the
one JSON line the simulator prints once it listens (url, http, local credentials, pid, and with ``--tls`` the
certificate the engine then trusts).
"""
from __future__ import annotations

import json
import os
import select
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from tickwire.deribit.auth import Credentials

ENDPOINTS = {"deribit": "wss://www.deribit.com/ws/api/v2", "testnet": "wss://test.deribit.com/ws/api/v2"}


class VenueError(RuntimeError):
    """The venue could not be started or reached (the message never contains credentials)."""


@dataclass
class Venue:
    """A venue endpoint; ``process`` is set when we started the simulator ourselves."""

    url: str
    http: str
    creds: Credentials | None  # None: the operator's key (tickwire.deribit.auth.Credentials.load)
    is_sim: bool
    process: subprocess.Popen | None = field(default=None, repr=False)
    mcast_port: int = 0  # incremental UDP port of the simulator's multicast feed on 127.0.0.1, snapshots + 1 (0: none)
    cafile: str = ""  # the certificate of a simulator we started with TLS

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
              multicast: bool = False, tls: bool = False) -> Venue:
    """Start the simulator on an ephemeral loopback port and wait for its ready line; with ``multicast`` it also
    publishes its market data as multicast SBE on loopback (on a free UDP port pair, see ``Venue.mcast_port``);
    with ``tls`` it serves wss:// with a throw-away certificate (``Venue.cafile``)."""
    cmd = [sys.executable, "-m", "tickwire.sim", "--port", "0", "--ready-json", "--rate", f"{rate:g}",
           "--seed", str(seed), "--instruments", ",".join(instruments), *extra, *(("--tls",) if tls else ())]
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
                      mcast_port, info.get("cert", ""))
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


def remote(name: str, url: str = "") -> Venue:
    """A venue we do not start: ``deribit`` or ``testnet`` at their own endpoint or at ``url``, or a running
    simulator at ``url`` (``name`` "sim"). Its key comes from the operator (Credentials.load)."""
    url = url or ENDPOINTS[name]
    return Venue(url, http_url(url), None, name == "sim")


def http_url(ws_url: str) -> str:
    """The HTTP API next to a WebSocket endpoint: wss://h/ws/api/v2 -> https://h/api/v2."""
    parts = urlsplit(ws_url)
    path = parts.path.removesuffix("/").removesuffix("/ws/api/v2") + "/api/v2"
    return urlunsplit(("https" if parts.scheme == "wss" else "http", parts.netloc, path, "", ""))


def fetch_instruments(http: str, names: tuple[str, ...], timeout_s: float = 10.0, cafile: str = "") -> list[dict]:
    """public/get_instruments over HTTP for the currencies of ``names``; VenueError for an unknown name or a venue
    that does not answer."""
    found: dict[str, dict] = {}
    context = ssl.create_default_context(cafile=cafile or None) if http.startswith("https:") else None
    for ccy in sorted({n.split("-")[0].split("_")[0] for n in names}):
        url = f"{http}/public/get_instruments?currency={ccy}"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s, context=context) as resp:  # noqa: S310 - venue URL
                body = json.loads(resp.read(1 << 24))
        except (OSError, ValueError) as exc:
            cert = exc if isinstance(exc, ssl.SSLCertVerificationError) else getattr(exc, "reason", None)
            if isinstance(cert, ssl.SSLCertVerificationError):  # urllib wraps it in a URLError
                raise VenueError(f"the TLS certificate of {http} does not verify ({cert.verify_message}): for a venue "
                                 "with its own CA (e.g. `tickwire sim --tls`) pass its certificate with --cafile"
                                 ) from None
            raise VenueError(f"the venue at {http} does not answer public/get_instruments for {ccy} ({exc}): check "
                             "the venue / url setting and that the endpoint is up") from None
        result = body.get("result") if isinstance(body, dict) else None
        if not isinstance(result, list):
            raise VenueError(f"the venue at {http} answered public/get_instruments for {ccy} without a result list")
        for ins in result:
            if isinstance(ins, dict) and isinstance(ins.get("instrument_name"), str):
                found[ins["instrument_name"]] = ins
    missing = [n for n in names if n not in found]
    if missing:
        raise VenueError(f"unknown instrument(s) on this venue: {', '.join(missing)}")
    return [found[n] for n in names]
