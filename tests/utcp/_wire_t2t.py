"""Wire tick-to-trade of one `tickwire run` in the test network: tcpdump on the simulator's side of the veth (in its
namespace) for the whole run, then book packet -> order packet from that capture with tickwire.md.wire (the
measurement `tickwire run --capture` makes on lo for the kernel path)."""
from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from _engine_run import START_UP_S, EngineRun
from _utcp_net import StackNet, capture, kernel_path, stop
from tickwire.md.wire import ORDER_METHODS, REQUEST, TickToTrade, read_wire, tick_to_trade

STRATEGY = "tickwire.bench.pingpong:PingPong"  # a far bid per book update, cancelled once acknowledged


@dataclass
class WireRun:
    """One run's wire figures: the tick-to-trade samples, the order requests seen on the wire, the run's JSON."""

    t2t: TickToTrade
    orders_on_wire: int
    result: dict


def cpu_plan() -> tuple[int | None, int | None]:
    """(simulator CPU, engine CPU): a spinning engine on the simulator's CPU would hold back every answer and book
    update, so with two CPUs or more each gets its own, the same for both stacks (None: no pinning)."""
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[-1]) if len(cpus) >= 2 else (None, None)


def wire_run(net: StackNet, info: dict, stack: str, duration_s: int, runtime_dir: str, pcap: Path,
             cpu: int | None = None) -> WireRun:
    """`tickwire run --stack STACK --driver spin` with the order-load strategy, on ``cpu`` when given, captured on
    the peer's interface."""
    path = kernel_path(net) if stack == "kernel" else nullcontext()
    with path, capture(net, pcap):
        engine = EngineRun(net, info, "spin", duration_s, runtime_dir, stack=stack, strategy=STRATEGY, cpu=cpu)
        try:
            got = engine.result(START_UP_S + duration_s)
        finally:
            stop(engine.proc)
    wire = read_wire(pcap)
    orders = sum(1 for m in wire.messages if m.kind == REQUEST and m.method in ORDER_METHODS)
    return WireRun(tick_to_trade(wire), orders, got)
