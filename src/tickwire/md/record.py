"""`tickwire record` and `tickwire replay`: capture a live session on loopback into a pcap, replay a capture.

Recording uses tcpdump when it is installed (``-U``: every packet is flushed, so the file is complete when it
stops) and otherwise an AF_PACKET socket that writes the pcap itself (needs CAP_NET_RAW). Both stamp every packet
with the kernel's receive time in nanoseconds (tcpdump ``--time-stamp-precision nano``; SO_TIMESTAMPNS on the
AF_PACKET socket) and write classic nanosecond pcap that tshark/Wireshark open (tickwire.md.wire reads these
timestamps as the wire times of a run). This module stays light: the compiled pipeline is imported by the replay command only.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import typer

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


class RecordError(RuntimeError):
    """Recording could not start (no tcpdump and no AF_PACKET permission, bad interface...)."""


class Recorder:
    """Capture ``iface`` (default loopback) into ``out``, optionally only TCP/UDP ``port``.

    Use as a context manager or ``start()``/``stop()``; ``start`` returns once the capture is live."""

    def __init__(self, out: str | Path, iface: str = "lo", port: int | None = None, method: str = "auto",
                 snaplen: int = 262144) -> None:
        if method not in ("auto", "tcpdump", "afpacket"):
            raise ValueError(f"method must be auto, tcpdump or afpacket, got {method!r}")
        if method == "auto":
            method = "tcpdump" if shutil.which("tcpdump") else "afpacket"
        self.out, self.iface, self.port, self.method, self.snaplen = Path(out), iface, port, method, snaplen
        self.packets = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._error: BaseException | None = None

    @property
    def pid(self) -> int | None:
        """The tcpdump process id (None for the in-process AF_PACKET capture)."""
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 10.0) -> Recorder:
        if self.method == "tcpdump":
            self._start_tcpdump(timeout)
        else:
            self._start_afpacket()
        return self

    def _start_tcpdump(self, timeout: float) -> None:
        exe = shutil.which("tcpdump")
        if exe is None:
            raise RecordError("tcpdump not found: install it (apt-get install tcpdump) or use --method afpacket")
        # -U and --immediate-mode: every packet reaches the file at once (no 1 s ring-block delay at stop)
        cmd = [exe, "-i", self.iface, "-w", str(self.out), "-U", "--immediate-mode", "-n", "-s",
               str(self.snaplen), "--time-stamp-precision", "nano"]
        if os.geteuid() == 0:
            cmd += ["-Z", "root"]  # keep write access to the output file
        if self.port is not None:
            cmd += ["port", str(self.port)]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        assert self._proc.stderr is not None
        line = b""
        while time.monotonic() < deadline:  # tcpdump prints "listening on ..." once the capture is live
            line = self._proc.stderr.readline()
            if b"listening on" in line or not line:
                break
        if b"listening on" not in line:
            self._proc.kill()
            err = line + self._proc.stderr.read()
            self._proc.wait()
            raise RecordError(f"tcpdump did not start: {err.decode(errors='replace').strip()}")
        threading.Thread(target=self._proc.stderr.read, daemon=True).start()  # drain the rest

    def _start_afpacket(self) -> None:
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except PermissionError as exc:
            raise RecordError("AF_PACKET capture needs CAP_NET_RAW (run as root) or tcpdump") from exc
        try:
            sock.bind((self.iface, 0))
        except OSError as exc:
            sock.close()
            raise RecordError(f"cannot capture on {self.iface!r}: {exc}") from exc
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)  # the kernel's receive time of every packet
        sock.settimeout(0.05)
        self._thread = threading.Thread(target=self._afpacket_loop, args=(sock,), daemon=True)
        self._thread.start()

    def _afpacket_loop(self, sock: socket.socket) -> None:
        from tickwire.netstack.pcap import PcapWriter

        try:
            with sock, PcapWriter(self.out, nanosecond=True, snaplen=self.snaplen) as w:
                while not self._stop.is_set():
                    try:
                        data, anc, _flags, addr = sock.recvmsg(self.snaplen, 64)
                    except TimeoutError:
                        continue
                    if addr[2] == PACKET_OUTGOING:  # loopback shows every packet twice: keep the incoming copy
                        continue
                    if self.port is not None and not _has_port(data, self.port):
                        continue
                    w.write(_kernel_ns(anc), data)
                    w.flush()
                    self.packets += 1
        except BaseException as exc:  # reported by stop()
            self._error = exc

    def _settle(self, quiet_s: float = 0.3, limit_s: float = 5.0) -> None:
        """Wait until the capture stops growing: packets still queued in the kernel would be lost at stop."""
        deadline = time.monotonic() + limit_s
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            size = self.out.stat().st_size if self.out.exists() else 0
            if size != last:
                last, since = size, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return
            time.sleep(0.05)

    def stop(self) -> int:
        """Stop capturing once the capture is quiet; returns the number of packets written."""
        self._settle()
        if self._proc is not None:
            self._proc.send_signal(signal.SIGINT)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stderr:
                self._proc.stderr.close()
            self._proc = None
            from tickwire.netstack.pcap import read_capture

            self.packets = len(read_capture(self.out, strict=False)) if self.out.exists() else 0
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=5)
            self._thread = None
            if self._error is not None:
                raise RecordError(f"capture failed: {self._error}") from self._error
        return self.packets

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _kernel_ns(ancillary: list[tuple[int, int, bytes]]) -> int:
    """The SO_TIMESTAMPNS stamp (struct timespec) of a received packet; now when the kernel attached none."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack_from("qq", data)
            return sec * 1_000_000_000 + nsec
    return time.time_ns()


def _has_port(frame: bytes, port: int) -> bool:
    """Ethernet/IPv4 TCP or UDP frame with ``port`` as source or destination."""
    if len(frame) < 38 or frame[12:14] != b"\x08\x00":
        return False
    ihl = (frame[14] & 0x0F) * 4
    if frame[23] not in (6, 17) or len(frame) < 14 + ihl + 4:
        return False
    sport, dport = struct.unpack_from("!HH", frame, 14 + ihl)
    return port in (sport, dport)


# ---------------------------------------------------------------------------------------------------------------
# CLI commands (registered in tickwire/cli.py)

def record_command(
    out: Path = typer.Option(..., "--out", help="pcap file to write"),
    iface: str = typer.Option("lo", help="interface to capture"),
    port: int = typer.Option(None, help="only this TCP/UDP port"),
    duration: float = typer.Option(None, help="stop after this many seconds (default: Ctrl-C)"),
    method: str = typer.Option("auto", help="auto | tcpdump | afpacket"),
) -> None:
    """Capture a live engine <-> simulator session (loopback by default) into a pcap file."""
    try:
        rec = Recorder(out, iface=iface, port=port, method=method).start()
    except (RecordError, ValueError) as exc:
        typer.echo(f"record: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps({"recording": str(out), "iface": iface, "method": rec.method}), err=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait(duration)
    except KeyboardInterrupt:
        pass
    n = rec.stop()
    typer.echo(json.dumps({"recorded": str(out), "packets": n}))


def _parse_specs(specs: list[str]) -> list[tuple[str, str, str]]:
    out = []
    for spec in specs:
        try:
            name, rest = spec.split("=", 1)
            tick, lot = rest.split(":", 1)
        except ValueError:
            raise typer.BadParameter(f"--tick wants NAME=TICK:LOT (e.g. BTC-PERPETUAL=0.5:10), got {spec!r}") from None
        out.append((name, tick, lot))
    return out


def replay_command(
    file: Path = typer.Argument(..., help="pcap or pcapng capture", exists=True, dir_okay=False),
    speed: str = typer.Option("max", help="max | 1x (paced by capture timestamps)"),
    instrument: str = typer.Option(None, help="report only this instrument"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    timing: bool = typer.Option(True, "--timing/--no-timing", help="include per-stage throughput (varies per run)"),
    udp: list[str] = typer.Option([], help="UDP handler to run on UDP packets (e.g. sbe)"),
    tick: list[str] = typer.Option([], help="instrument tick/lot sizes NAME=TICK:LOT (besides the defaults)"),
    source: str = typer.Option("file", help="file | dpdk (the file played through DPDK's net_pcap)"),
    checksums: str = typer.Option("auto", help="auto (verify; accept the partial checksums of captures taken on "
                                  "the sending host) | strict | off"),
) -> None:
    """Replay a capture through the compiled path; print throughput per stage, gaps and the final books.

    A capture damaged after its file header (truncated or corrupt record, pcap or pcapng alike) replays the
    packets before the damage, reports it (``capture_error``) and exits 0; a file that is not a capture at all
    exits 2."""
    from tickwire.md.replay import replay_file
    from tickwire.native import NativeUnavailableError
    from tickwire.deribit.instruments import InstrumentTable
    from tickwire.netstack.dpdk import DpdkError
    from tickwire.netstack.pcap import PcapError

    if speed not in ("max", "1x"):
        raise typer.BadParameter("--speed must be max or 1x")
    table = InstrumentTable()
    for name, t, lot in _parse_specs(tick):
        table.add(name, t, lot)
    try:
        report = replay_file(file, speed=speed, udp=tuple(udp), table=table, source=source, checksums=checksums)
    except (PcapError, ValueError, DpdkError, NativeUnavailableError) as exc:
        typer.echo(f"replay: {exc}", err=True)
        raise typer.Exit(2) from None
    data = report.as_dict(timing=timing)
    if instrument is not None:
        data["instruments"] = {k: v for k, v in data["instruments"].items() if k == instrument}
    if as_json:
        typer.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    _print_report(data)


def _print_report(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160)  # pipes/logs: do not cut instrument names
    console.print(f"[bold]{data['source']}[/]: {data['packets']} packets {data['packet_kinds']}")
    if data.get("capture_error"):
        console.print(f"[yellow]capture damaged:[/] {data['capture_error']}")
    if "throughput" in data:
        t = Table(title="throughput per stage")
        for col in ("stage", "items", "seconds", "items/s"):
            t.add_column(col, justify="right")
        for stage, v in data["throughput"].items():
            t.add_row(stage, str(v["items"]), f"{v['seconds']:.4f}", f"{v['items_per_s']:,.0f}")
        console.print(t)
    console.print(f"tcp {data['tcp']}")
    console.print(f"websocket {data['websocket']}")
    console.print(f"json {data['json']}  events {data['events']}  responses {data['responses']}  "
                  f"book gaps {data['book_gaps']}")
    t = Table(title="final books")
    cols = ("instrument", "bid", "bid amt", "ask", "ask amt", "levels b/a", "last change_id", "valid", "gaps",
            "checksum")
    for col in cols:
        t.add_column(col)
    for name, b in data["instruments"].items():
        t.add_row(name, str(b["best_bid"]), str(b["best_bid_amount"]), str(b["best_ask"]), str(b["best_ask_amount"]),
                  f"{b['bid_levels']}/{b['ask_levels']}", str(b["last_change_id"]), str(b["valid"]), str(b["gaps"]),
                  b["checksum"])
    console.print(t)
    for name, udp in (data.get("udp") or {}).items():  # e.g. sbe: multicast books (tickwire.md.mcast_feed)
        console.print(f"udp {name} {udp.get('stats', udp)}")
        if udp.get("instruments"):
            t = Table(title=f"final books ({name})")
            for col in ("instrument", "bid", "bid amt", "ask", "ask amt", "levels b/a", "last change_id", "synced",
                        "trades"):
                t.add_column(col)
            for inst, b in udp["instruments"].items():
                t.add_row(inst, str(b["best_bid_price"]), str(b["best_bid_amount_units"]), str(b["best_ask_price"]),
                          str(b["best_ask_amount_units"]), f"{b['bids']}/{b['asks']}", str(b["last_change_id"]),
                          str(b["synced"]), str(b["trades"]))
            console.print(t)


def register(app: typer.Typer) -> None:
    """Add `record` and `replay` to the tickwire CLI."""
    app.command("record")(record_command)
    app.command("replay")(replay_command)
