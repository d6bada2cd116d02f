"""Compiled stream stages for captures: TCP packets -> per-flow reassembly -> WebSocket deframing -> a message arena;
then arena messages -> Deribit JSON records. Replay times each stage separately (engine/replay.py).

The live engine does the same with ``deribit_json.decode_read`` straight on its receive buffer; replay copies the
messages of a batch into an arena so that decoding can be timed on its own and fallbacks can be re-read.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tickwire.deribit.json_decode import decode_message
from tickwire.netstack.tcp import CH_PACKET, EVT_MIDSTREAM, EVT_NEW_CONN, F_CLIENT, tcp_segment
from tickwire.netstack.ws import (
    MASK_ANY, MASK_NO, MASK_YES, OP_TEXT, PH_HTTP, PH_HUNT, S_MASK, SRC_RX, STATE_LEN, ws_feed, ws_init, ws_push,
    ws_resync,
)
from tickwire.types import PKT_TCP

# message rows: (arena offset, length, flow, opcode, from_client, packet ts)
M_OFF, M_LEN, M_FLOW, M_OP, M_CLIENT, M_TS = range(6)
M_COLS = 6
# stage counters
(C_TCP_PKTS, C_MSGS, C_CLIENT_MSGS, C_CTRL, C_OVERFLOW, C_STREAM_BYTES, C_TABLE_FULL) = range(7)
N_COUNTERS = 8


@njit(cache=True, _nrt=False)
def _collect(wst, rx, f, ns, spans, ctrl, arena, msgs, st, ts):
    """Copy the ns spans of flow f into the arena."""
    client = 1 if wst[f, S_MASK] == MASK_YES else 0
    for s in range(ns):
        n = spans[s, 2]
        top = st[0]
        m = st[1]
        if top + n > arena.shape[0] or m >= msgs.shape[0]:
            st[2 + C_OVERFLOW] += 1
            continue
        area = rx[f] if spans[s, 0] == SRC_RX else ctrl
        o = spans[s, 1]
        for j in range(n):
            arena[top + j] = area[o + j]
        msgs[m, M_OFF] = top
        msgs[m, M_LEN] = n
        msgs[m, M_FLOW] = f
        msgs[m, M_OP] = spans[s, 3]
        msgs[m, M_CLIENT] = client
        msgs[m, M_TS] = ts
        st[0] = top + n
        st[1] = m + 1
        if spans[s, 3] >= 8:
            st[2 + C_CTRL] += 1
        elif client:
            st[2 + C_CLIENT_MSGS] += 1
        else:
            st[2 + C_MSGS] += 1


@njit(cache=True, _nrt=False)
def _push(wst, rx, f, data, off, n, spans, ctrl, arena, msgs, st, ts):
    ns = ws_push(wst[f], rx[f], data, off, n, spans, ctrl)
    while ns > 0:
        _collect(wst, rx, f, ns, spans, ctrl, arena, msgs, st, ts)
        if ns < spans.shape[0]:
            break
        ns = ws_feed(wst[f], rx[f], 0, spans, ctrl)
    st[2 + C_STREAM_BYTES] += n


@njit(cache=True)  # may compact the pool (allocates)
def tcp_ws_stage(pk, start, buf, flows, segs, pool, g, chunks, wst, rx, spans, ctrl, arena, msgs, st, limit):
    """Reassemble and deframe the TCP packets pk[start:] until the arena holds ``limit`` bytes.
    ``st`` = [arena top, message count, counters...]. Returns the index of the first packet not processed."""
    i = start
    while i < pk.shape[0]:
        if st[0] > limit or st[1] > msgs.shape[0] // 2:
            break
        r = pk[i]
        i += 1
        if r.kind != PKT_TCP:
            continue
        st[2 + C_TCP_PKTS] += 1
        f, evt, k = tcp_segment(flows, segs, pool, g, chunks, r, buf)
        if f < 0:
            st[2 + C_TABLE_FULL] += 1
            continue
        if evt & EVT_NEW_CONN:
            ws_init(wst[f], PH_HTTP, MASK_YES if flows[f, F_CLIENT] == 1 else MASK_NO)
        elif evt & EVT_MIDSTREAM:
            ws_init(wst[f], PH_HUNT, MASK_ANY)
        for c in range(k):
            if chunks[c, 3] > 0:
                ws_resync(wst[f])
            if chunks[c, 0] == CH_PACKET:
                _push(wst, rx, f, buf, chunks[c, 1], chunks[c, 2], spans, ctrl, arena, msgs, st, r.ts_ns)
            else:
                _push(wst, rx, f, pool, chunks[c, 1], chunks[c, 2], spans, ctrl, arena, msgs, st, r.ts_ns)
    return i


@njit(cache=True, _nrt=False)
def flush_flow(f, flows, segs, pool, g, chunks, k, wst, rx, spans, ctrl, arena, msgs, st, ts):
    """Push the k chunks tcp_flush produced for flow f."""
    for c in range(k):
        if chunks[c, 3] > 0:
            ws_resync(wst[f])
        _push(wst, rx, f, pool, chunks[c, 1], chunks[c, 2], spans, ctrl, arena, msgs, st, ts)


@njit(cache=True, _nrt=False)
def decode_stage(arena, msgs, start, n_msgs, insts, events, resps, fb, out):
    """Decode server->client text messages msgs[start:n_msgs] until the event buffer is half full.
    ``out`` = [n_events, n_resps, n_fb, next message, decoded]. Client messages and control frames are skipped."""
    decoded = 0
    n_ev = 0
    n_resp = 0
    n_fb = 0
    i = start
    half = events.shape[0] // 2
    while i < n_msgs and n_ev < half and n_resp < resps.shape[0] - 2 and n_fb < fb.shape[0]:
        if msgs[i, M_CLIENT] == 0 and msgs[i, M_OP] == OP_TEXT:
            s = msgs[i, M_OFF]
            status, n_ev2, n_resp2 = decode_message(arena, s, s + msgs[i, M_LEN], insts, events, n_ev, resps,
                                                    n_resp, i, msgs[i, M_TS])
            if status >= 0:
                n_ev = n_ev2
                n_resp = n_resp2
                decoded += 1
            else:
                fb[n_fb, 0] = i
                fb[n_fb, 1] = -status
                n_fb += 1
        i += 1
    out[0] = n_ev
    out[1] = n_resp
    out[2] = n_fb
    out[3] = i
    out[4] = decoded


def new_flow_buffers(max_flows: int, rx_cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-flow WebSocket states and receive buffers (pages are touched only by flows that carry data)."""
    wst = np.zeros((max_flows, STATE_LEN), dtype=np.int64)
    for f in range(max_flows):
        ws_init(wst[f], PH_HUNT, MASK_ANY)
    return wst, np.zeros((max_flows, rx_cap), dtype=np.uint8)

