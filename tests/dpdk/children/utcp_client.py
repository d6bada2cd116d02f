"""The userspace TCP stack on net_af_packet (one end of a veth) against the kernel peer of tests/utcp/peer.py.

For each connection spec in turn (on slot 0, so every reconnect reuses the slot): connect, send ``up`` bytes
of pattern(seed + 1) while receiving, close once everything was sent and the peer's FIN arrived (or first, with
``active_close``), or stop at the error the spec expects. Prints "CONNECTED <i>" when a handshake completes and
"FLOWING <i>" at the first bytes received (the parent injects faults then). The JSON result has per connection
the bytes received and their SHA-256, how it ended, the longest stall (no byte received or acknowledged), the
RTO; and the stack's counters.
"""
from __future__ import annotations

import errno
import hashlib
import sys
import time
from pathlib import Path

import _common

sys.path.insert(0, str(Path(__file__).parents[2] / "utcp"))
from _pattern import pattern  # noqa: E402

from tickwire.netstack.dpdk import Mempool, Port  # noqa: E402
from tickwire.netstack.utcp import UtcpError, UtcpStack  # noqa: E402
from tickwire.netstack.utcp_state import T_ISS, T_LPORT, T_RTO, T_SBUF_LEN, T_STATE, CLOSED, TIME_WAIT  # noqa: E402


def run_conn(stack: UtcpStack, i: int, spec: dict, a: dict, deadline: float) -> dict:
    tcb = stack.state.tcb
    stack.connect(a["peer_ip"], a["port"], slot=0)
    try:
        stack.wait_established(0, timeout_s=max(1.0, deadline - time.monotonic()))
    except (UtcpError, TimeoutError) as exc:
        return {"ended": "connect_failed", "error": str(exc)}
    print(f"CONNECTED {i}", flush=True)
    info = {"iss": int(tcb[0, T_ISS]), "lport": int(tcb[0, T_LPORT])}
    up = pattern(spec["seed"] + 1, spec["up"])
    sent = received = 0
    digest = hashlib.sha256()
    eof = closing = False
    error = None
    last_progress = time.monotonic()
    max_stall = 0.0
    unacked = 0
    while time.monotonic() < deadline:
        stack.poll()
        try:
            if sent < len(up) and not closing:
                sent += stack.send(0, up[sent:sent + 65536])
            chunk = stack.recv(0)
        except UtcpError as exc:
            error = errno.errorcode.get(exc.errno, str(exc.errno))
            break
        now = time.monotonic()
        acked_now = int(tcb[0, T_SBUF_LEN])
        if chunk or acked_now < unacked:
            max_stall = max(max_stall, now - last_progress)
            last_progress = now
        unacked = acked_now
        if chunk is None:
            eof = True
        elif chunk:
            if received == 0:
                print(f"FLOWING {i}", flush=True)
            digest.update(chunk)
            received += len(chunk)
        if spec.get("active_close") and sent == len(up) and not closing:
            stack.close(0)
            closing = True
        if eof and sent == len(up) and not closing:
            stack.close(0)
            closing = True
        if closing and int(tcb[0, T_STATE]) in (CLOSED, TIME_WAIT) and (eof or spec.get("active_close")):
            break
    return {**info, "received": received, "sha256": digest.hexdigest(), "sent": sent, "eof": eof,
            "error": error, "state": stack.state_name(0), "max_stall_ms": max_stall * 1e3,
            "rto_ms": int(tcb[0, T_RTO]) / 1e6}


def main() -> None:
    a = _common.args()
    eal = _common.eal(a, [a["devargs"]])
    pool = Mempool.create("utcp", 4095)
    port = Port(0)
    port.setup(pool)
    stack = UtcpStack(port, pool, f"{a['stack_ip']}/30", **a.get("limits", {}))
    deadline = time.monotonic() + a["seconds"]
    conns = [run_conn(stack, i, spec, a, deadline) for i, spec in enumerate(a["conns"])]
    # let the last FIN/ACK exchange finish before the port goes away
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        stack.poll()
    counters = stack.counters()
    port.close()
    pool.free()
    eal.cleanup()
    _common.emit({"conns": conns, "counters": counters})


if __name__ == "__main__":
    main()
