"""Benchmark machinery (opt-in runs in test_bench_multicast.py): decode rate compiled vs the Python twin, and
market-data latency multicast vs WebSocket against the simulator."""
from __future__ import annotations

import time
from typing import Any

import numpy as np
from numba import njit

from sim_harness import run_both
from tickwire import types as T
from tickwire.md.mcast_feed import McastFeed
from tickwire.deribit import sbe as D
from tickwire.deribit._sbe_ref import decode_packet_py
from tickwire.netstack.mcast import ChannelMap
from tickwire.bench.stats import latency_percentiles_us


@njit(_nrt=False)
def _compiled_passes(buf, offsets, lengths, rx, out, status, reps):  # noqa: ANN001, ANN202
    """decode_batch driven by a compiled loop, as a spin receive loop calls it (decode until full, reset)."""
    for _ in range(reps):
        i = 0
        while i < len(lengths):
            i = D.decode_batch(buf, offsets, lengths, rx, i, len(lengths) - i, out, status)
            for k in range(len(out.fill)):
                out.fill[k] = 0


def decode_rates(payloads: list[bytes], seconds: float, repeat_ref: int = 1) -> dict[str, Any]:
    """Messages/s on one core (process CPU time, so other load on the box does not count): compiled decode_batch
    (and decode + feed) vs decode_packet_py, same payloads."""
    lengths = np.array([len(p) for p in payloads], np.int64)
    offsets = np.zeros(len(lengths), np.int64)
    offsets[1:] = np.cumsum(lengths)[:-1]
    buf = np.frombuffer(b"".join(payloads), np.uint8).copy()
    rx = np.zeros(len(lengths), np.int64)
    status = np.zeros(len(lengths), np.uint8)
    out = D.new_out()  # the feed's default buffers: decode until full, hand over, reset (cache-sized)

    def one_pass() -> None:
        i = 0
        while i < len(lengths):
            i = D.decode_batch(buf, offsets, lengths, rx, i, len(lengths) - i, out, status)
            D.reset(out)

    one_pass()  # compile / warm
    msgs_per_pass = int(out.stats[T.SBE_STAT_MESSAGES])
    passes, start = 0, time.process_time()
    while True:
        one_pass()
        passes += 1
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            break
    python_driven = passes * msgs_per_pass / elapsed
    _compiled_passes(buf, offsets, lengths, rx, out, status, 1)  # compile / warm
    reps = max(1, passes)
    start = time.process_time()
    _compiled_passes(buf, offsets, lengths, rx, out, status, reps)
    compiled = reps * msgs_per_pass / (time.process_time() - start)

    ref_msgs, start = 0, time.process_time()
    while True:  # the twin gets as much CPU time as the compiled decoder
        for p in payloads:
            ref_msgs += len(decode_packet_py(p).messages)
        ref_elapsed = time.process_time() - start
        if ref_elapsed >= min(seconds, 1.0) * repeat_ref:
            break
    reference = ref_msgs / ref_elapsed

    feed_passes, feed_elapsed = 0, 0.0
    warm = McastFeed(n_slots=128)  # compile / load the feed kernels outside the timed part
    warm.on_batch(buf, offsets, lengths, rx, len(lengths))
    warm.flush()
    while feed_elapsed < seconds:  # decode + sequence + books + events from a fresh feed (start-up recovery included)
        feed = McastFeed(n_slots=128)  # allocation outside the timed part
        start = time.process_time()
        feed.on_batch(buf, offsets, lengths, rx, len(lengths))
        feed.flush()
        feed_elapsed += time.process_time() - start
        feed_passes += 1
    return {"messages_per_pass": msgs_per_pass, "compiled_msgs_s": compiled, "python_driven_msgs_s": python_driven,
            "reference_msgs_s": reference,
            "ratio": compiled / reference, "decode_feed_msgs_s": feed_passes * msgs_per_pass / feed_elapsed,
            "ns_per_msg": 1e9 / compiled}


def latency(channel_map: ChannelMap, seconds: float | None, rate: float, min_changes: int = 0) -> dict[str, Any]:
    """Per book change: receive time - the time the simulator handed it to its listeners, in µs, on each feed.
    Measures for ``seconds``, or (``seconds`` None) until both feeds saw ``min_changes`` of the same changes.

    The simulator writes the WebSocket message first, then calls the listeners (the stamp, then the multicast
    publisher): WebSocket latency is slightly understated, multicast includes SBE encoding. Both clients run in
    the simulator's process and event loop (one box, 2 cores): compare them, do not read them as absolutes.
    """
    if seconds is None:
        obs = run_both(channel_map, rate=rate, until=lambda o, _: len(o.ws_rx.keys() & o.mc_rx.keys()) >= min_changes)
    else:
        obs = run_both(channel_map, seconds=seconds, rate=rate)
    keys = [k for k in obs.published if k in obs.ws_rx and k in obs.mc_rx]
    ws = [obs.ws_rx[k] - obs.published[k] for k in keys]
    mc = [obs.mc_rx[k] - obs.published[k] for k in keys]
    faster = sum(1 for a, b in zip(mc, ws) if a < b)
    return {"changes": len(keys), "websocket_us": latency_percentiles_us(ws),
            "multicast_us": latency_percentiles_us(mc),
            "multicast_first_fraction": faster / max(1, len(keys))}


def format_latency(row: dict[str, Any]) -> str:
    lines = [f"book changes compared: {row['changes']}, multicast first in {row['multicast_first_fraction']:.1%}"]
    for name in ("multicast_us", "websocket_us"):
        h = row[name]
        lines.append(f"  {name[:-3]:>9}: " + "  ".join(f"{k}={h[k]:.1f}" for k in ("p50", "p95", "p99", "p99.9", "max"))
                     + " µs")
    ratio = row["websocket_us"]["p50"] / max(row["multicast_us"]["p50"], 1e-9)
    lines.append(f"  p50 ratio websocket/multicast = {ratio:.2f}x")
    return "\n".join(lines)
