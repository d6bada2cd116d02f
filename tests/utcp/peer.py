"""The kernel TCP peer of the userspace-stack tests (runs inside the peer namespace).

argv[1] is JSON: ip, port, and ``conns``: one spec per connection accepted in turn, each with ``down`` (bytes of
pattern(seed) to send), ``up`` (bytes expected from the stack), ``seed``, and optionally ``rst_after`` (send that
many bytes, wait until the stack acknowledged them, then reset: SO_LINGER 0 + close) or ``echo`` (echo everything
until the stack closes).
Prints LISTENING, then one JSON line: per connection the bytes received and their SHA-256, bytes sent, how it
ended. Every wait is bounded by ``seconds``.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import selectors
import socket
import struct
import sys
import termios
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _pattern import pattern  # noqa: E402


def _unacked(conn: socket.socket) -> int:
    """Bytes in the kernel's send queue not yet acknowledged by the stack (SIOCOUTQ)."""
    return struct.unpack("i", fcntl.ioctl(conn.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]


def serve_one(conn: socket.socket, spec: dict, deadline: float) -> dict:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.setblocking(False)
    echo = spec.get("echo", False)
    data = b"" if echo else pattern(spec["seed"], spec["down"])
    limit = spec.get("rst_after")
    to_send = memoryview(data[:limit] if limit is not None else data)
    got = hashlib.sha256()
    received = 0
    sent = 0
    eof = False
    fin_sent = False
    pending = bytearray()
    sel = selectors.DefaultSelector()
    sel.register(conn, selectors.EVENT_READ | selectors.EVENT_WRITE)
    ended = "timeout"
    while time.monotonic() < deadline:
        sel.select(timeout=0.2)
        try:
            chunk = conn.recv(1 << 16)
            if chunk:
                got.update(chunk)
                received += len(chunk)
                if echo:
                    pending += chunk
            elif chunk == b"":
                eof = True
        except BlockingIOError:
            pass
        except ConnectionResetError:
            ended = "reset_by_stack"
            break
        out = pending if echo else to_send[sent:]
        if len(out):
            try:
                k = conn.send(out)
                if echo:
                    del pending[:k]
                else:
                    sent += k
            except BlockingIOError:
                pass
        if limit is not None and sent >= len(to_send) and _unacked(conn) == 0:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            ended = "reset_sent"
            break
        if echo and eof and not pending:
            ended = "closed"
            break
        if not echo and sent >= len(data) and (eof or received >= spec["up"]):
            if not fin_sent:
                conn.shutdown(socket.SHUT_WR)
                fin_sent = True
            if eof:
                ended = "closed"
                break
    sel.close()
    conn.close()
    return {"received": received, "sha256": got.hexdigest(), "sent": sent if not echo else received,
            "ended": ended}


def main() -> None:
    a = json.loads(sys.argv[1])
    deadline = time.monotonic() + a.get("seconds", 60)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((a["ip"], a["port"]))
    srv.listen(4)
    srv.settimeout(1.0)
    print("LISTENING", flush=True)
    results = []
    for spec in a["conns"]:
        conn = None
        while conn is None and time.monotonic() < deadline:
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
        if conn is None:
            results.append({"ended": "never_connected"})
            break
        results.append(serve_one(conn, spec, deadline))
    srv.close()
    print(json.dumps({"conns": results}), flush=True)


if __name__ == "__main__":
    main()
