"""TCP client connections (RFC 9293) for the userspace stack: the byte-stream API (``tcp_connect``/``tcp_send``/
``tcp_recv``/``tcp_close``/``tcp_abort``) and the timers; segments in are ``utcp_tcp_in``, segments out
``utcp_tcp_out`` (``tcp_input``/``tcp_output`` are re-exported here).

Compiled with ``cache=True`` over the ``UtcpState`` arrays. What it does, per connection slot ``c``:
- three-way handshake with MSS and window-scale options (no SACK, no timestamps); simultaneous open is not
  supported (a SYN without ACK in SYN_SENT is ignored);
- the send ring holds bytes from SND.UNA on; segments of at most MSS go out as soon as the peer's window allows
  (no Nagle); the receive ring holds in-order bytes the application has not read, and out-of-order data is
  written straight to its place in the ring, its ``[start, end)`` recorded in ``ooo`` until the gap fills;
- every accepted segment is ACKed without a delayed-ACK timer: a duplicate ACK for out-of-order data at once,
  the ACK of in-order data on the application's next segment (it reads the data and answers in the same poll)
  or at the next poll, whichever comes first - never a separate pure ACK on the path of a request/response;
- retransmission timer per RFC 6298 (SRTT/RTTVAR, Karn, exponential back-off, CFG_RTO_MIN..MAX), go-back-N
  from SND.UNA on timeout; fast retransmit on the third duplicate ACK with NewReno partial-ACK recovery;
  no congestion window (the peer's receive window is the only limit: a LAN/colo client of a few connections);
- zero-window probes (persist), keepalive probes (SEG.SEQ = SND.UNA - 1), RST in both directions with the
  RFC 5961 checks (exact-sequence RST, challenge ACKs), FIN in both directions, TIME_WAIT for CFG_TIMEWAIT;
  reconnecting a slot in TIME_WAIT parks its 4-tuple in ``tw`` (still answered) and picks a new local port.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tickwire.netstack.utcp_arp import arp_find, arp_retry_failed
from tickwire.netstack.utcp_ip import copy_bytes
from tickwire.netstack.utcp_state import (
    ARP_FAILED, A_STATE, CFG_DATA_RETRIES, CFG_GW, CFG_IP, CFG_ISN_KEY, CFG_KA_IDLE, CFG_KA_INTVL, CFG_KA_PROBES,
    CFG_MASK, CFG_MSS, CFG_NEXT_PORT, CFG_RTO_INIT, CFG_RTO_MAX, CFG_SYN_RETRIES, CLOSED, CLOSE_WAIT,
    CTR_KEEPALIVE_TX, CTR_RTO_EVENTS, CTR_TW_REUSED, CTR_WINDOW_PROBES, EHOSTUNREACH, EINVAL, EISCONN, ENOBUFS,
    ENOTCONN, EPHEMERAL_HI, EPHEMERAL_LO, EPIPE, ESTABLISHED, ETIMEDOUT, FIN_WAIT_1, LAST_ACK, SYN_SENT, TIME_WAIT,
    T_ACK_NOW, T_CLOSE_REQ, T_DUPACKS, T_ERROR, T_FIN_SEQ, T_ISS, T_KA_AT, T_KA_SENT, T_LAST_RX, T_LPORT, T_MSS,
    T_NEXTHOP, T_OOO_N, T_PEER_FIN, T_PROBE, T_RBUF_HEAD, T_RBUF_LEN, T_RCV_NXT, T_RCV_WS, T_RECOVER, T_RIP,
    T_RPORT, T_RTO, T_RTT_SEQ, T_RTT_TS, T_RTX_AT, T_RTX_COUNT, T_SBUF_HEAD, T_SBUF_LEN, T_SBUF_SEQ, T_SND_MAX,
    T_SND_NXT, T_SND_UNA, T_SND_WND, T_STATE, T_TW_AT, UTCP_EOF, W_EXPIRES, W_LPORT, W_RCV_NXT, W_RIP, W_RPORT,
    W_SND_NXT)
from tickwire.netstack.utcp_tcp_in import tcp_input
from tickwire.netstack.utcp_tcp_out import (
    ACK, DEFAULT_PEER_MSS, MAX_WS, SEQ_MASK, seq_lt, seq_add, emit, tcp_output, drop, tcp_abort)

__all__ = ["tcp_connect", "tcp_send", "tcp_recv", "tcp_close", "tcp_abort", "tcp_timers", "tcp_state", "tcp_input",
           "tcp_output"]


@njit(cache=True, _nrt=False)
def _mix(x: int) -> int:
    """splitmix64 finaliser (ISN and port choice: not predictable from the 4-tuple alone)."""
    x = (x ^ (x >> 30)) * -4658895280553007687
    x = (x ^ (x >> 27)) * -7723592293110705685
    return x ^ (x >> 31)


@njit(cache=True, _nrt=False)
def _port_in_use(st, lport: int) -> bool:
    for i in range(st.tcb.shape[0]):
        if st.tcb[i, T_STATE] != CLOSED and st.tcb[i, T_LPORT] == lport:
            return True
    for i in range(st.tw.shape[0]):
        if st.tw[i, W_LPORT] == lport:
            return True
    return False


@njit(cache=True, _nrt=False)
def _pick_port(st) -> int:
    span = EPHEMERAL_HI - EPHEMERAL_LO + 1
    for _ in range(span):
        p = st.cfg[CFG_NEXT_PORT]
        st.cfg[CFG_NEXT_PORT] = EPHEMERAL_LO + (p + 1 - EPHEMERAL_LO) % span
        if not _port_in_use(st, p):
            return p
    return -1


@njit(cache=True, _nrt=False)
def _park_time_wait(st, c: int, now: int) -> None:
    """Keep the 4-tuple of slot c (in TIME_WAIT) answerable in ``tw`` so the slot can be reused now."""
    tw = st.tw
    row, soonest = 0, np.int64(2**62)
    for i in range(tw.shape[0]):
        if tw[i, W_LPORT] == 0 or tw[i, W_EXPIRES] <= now:
            row = i
            break
        if tw[i, W_EXPIRES] < soonest:
            row, soonest = i, tw[i, W_EXPIRES]
    tw[row, W_LPORT] = st.tcb[c, T_LPORT]
    tw[row, W_RIP] = st.tcb[c, T_RIP]
    tw[row, W_RPORT] = st.tcb[c, T_RPORT]
    tw[row, W_EXPIRES] = st.tcb[c, T_TW_AT]
    tw[row, W_SND_NXT] = st.tcb[c, T_SND_NXT]
    tw[row, W_RCV_NXT] = st.tcb[c, T_RCV_NXT]
    st.ctr[CTR_TW_REUSED] += 1


@njit(cache=True, _nrt=False)
def _our_window_shift(st) -> int:
    ws = 0
    while (st.rcv.shape[1] >> ws) > 0xFFFF and ws < MAX_WS:
        ws += 1
    return ws


@njit(cache=True, _nrt=False)
def tcp_connect(st, c: int, rip: int, rport: int, now: int) -> int:
    """Open slot c to rip:rport (SYN now, or after ARP resolves the next hop). 0, or -EINVAL/-EISCONN/
    -EHOSTUNREACH (off-subnet without a gateway) / -ENOBUFS (no free local port)."""
    if c < 0 or c >= st.tcb.shape[0] or not 0 < rport < 65536 or not 0 < rip < (1 << 32):
        return -EINVAL
    s = st.tcb[c, T_STATE]
    if s != CLOSED and s != TIME_WAIT:
        return -EISCONN
    if s == TIME_WAIT:
        _park_time_wait(st, c, now)
    ours, mask, gw = st.cfg[CFG_IP], st.cfg[CFG_MASK], st.cfg[CFG_GW]
    nexthop = rip if (rip & mask) == (ours & mask) else gw
    if nexthop == 0:
        return -EHOSTUNREACH
    st.tcb[c, :] = 0
    st.tcb[c, T_STATE] = CLOSED
    lport = _pick_port(st)
    if lport < 0:
        return -ENOBUFS
    arp_retry_failed(st, nexthop)
    iss = (now // 4000 + _mix(st.cfg[CFG_ISN_KEY] ^ (lport << 48) ^ (rport << 32) ^ rip)) & SEQ_MASK
    tcb = st.tcb
    tcb[c, T_LPORT], tcb[c, T_RIP], tcb[c, T_RPORT], tcb[c, T_NEXTHOP] = lport, rip, rport, nexthop
    tcb[c, T_ISS] = tcb[c, T_SND_UNA] = tcb[c, T_SND_NXT] = tcb[c, T_SND_MAX] = iss
    tcb[c, T_SBUF_SEQ] = seq_add(iss, 1)
    tcb[c, T_FIN_SEQ] = -1
    tcb[c, T_RECOVER] = -1
    tcb[c, T_MSS] = min(DEFAULT_PEER_MSS, st.cfg[CFG_MSS])
    tcb[c, T_RTO] = st.cfg[CFG_RTO_INIT]
    tcb[c, T_RCV_WS] = _our_window_shift(st)
    tcb[c, T_RTT_TS] = now
    tcb[c, T_RTT_SEQ] = seq_add(iss, 1)
    tcb[c, T_LAST_RX] = now
    tcb[c, T_OOO_N] = 0
    tcb[c, T_STATE] = SYN_SENT
    tcp_output(st, c, now)
    return 0


@njit(cache=True, _nrt=False)
def tcp_send(st, c: int, data: np.ndarray, off: int, n: int, now: int) -> int:
    """Queue data[off:off+n] (uint8) on connection c and send what the window allows. Returns the bytes queued
    (less than n when the send ring is full), or -EPIPE after close, -ENOTCONN / the connection's error."""
    if c < 0 or c >= st.tcb.shape[0] or n < 0 or off < 0 or off + n > data.size:
        return -EINVAL
    tcb = st.tcb
    s = tcb[c, T_STATE]
    if s == CLOSED:
        return -(tcb[c, T_ERROR] if tcb[c, T_ERROR] else ENOTCONN)
    if tcb[c, T_FIN_SEQ] >= 0 or tcb[c, T_CLOSE_REQ]:
        return -EPIPE
    if s != SYN_SENT and s != ESTABLISHED and s != CLOSE_WAIT:
        return -ENOTCONN
    ring = st.snd[c]
    cap = ring.size
    k = min(n, cap - tcb[c, T_SBUF_LEN])
    start = (tcb[c, T_SBUF_HEAD] + tcb[c, T_SBUF_LEN]) % cap
    first = min(k, cap - start)
    copy_bytes(ring, start, data, off, first)
    copy_bytes(ring, 0, data, off + first, k - first)
    tcb[c, T_SBUF_LEN] += k
    tcp_output(st, c, now)
    return k


@njit(cache=True, _nrt=False)
def tcp_recv(st, c: int, out: np.ndarray, off: int, cap: int, now: int) -> int:
    """Move up to cap in-order bytes of connection c into out[off:]. Returns the count; 0 when none yet;
    UTCP_EOF once the peer closed and everything was read; -errno when the connection failed."""
    if c < 0 or c >= st.tcb.shape[0] or cap < 0 or off < 0 or off + cap > out.size:
        return -EINVAL
    tcb = st.tcb
    ring = st.rcv[c]
    size = ring.size
    k = min(cap, tcb[c, T_RBUF_LEN])
    if k == 0:
        if tcb[c, T_ERROR]:
            return -tcb[c, T_ERROR]
        if tcb[c, T_PEER_FIN]:
            return UTCP_EOF
        if tcb[c, T_STATE] == CLOSED:
            return -ENOTCONN
        return 0
    free_before = size - tcb[c, T_RBUF_LEN]
    start = tcb[c, T_RBUF_HEAD]
    first = min(k, size - start)
    copy_bytes(out, off, ring, start, first)
    copy_bytes(out, off + first, ring, 0, k - first)
    tcb[c, T_RBUF_HEAD] = (start + k) % size
    tcb[c, T_RBUF_LEN] -= k
    free_after = size - tcb[c, T_RBUF_LEN]
    # window update when the window re-opens past one MSS or half the ring (receiver-side SWS avoidance)
    mss = st.cfg[CFG_MSS]
    if (free_before < mss <= free_after or free_before < size // 2 <= free_after) and tcb[c, T_STATE] != CLOSED:
        tcb[c, T_ACK_NOW] = 1
        tcp_output(st, c, now)
    return k


@njit(cache=True, _nrt=False)
def tcp_close(st, c: int, now: int) -> int:
    """Half-close connection c: a FIN follows the queued data. 0, or -ENOTCONN."""
    if c < 0 or c >= st.tcb.shape[0]:
        return -EINVAL
    tcb = st.tcb
    s = tcb[c, T_STATE]
    if s == SYN_SENT:
        tcb[c, T_STATE] = CLOSED
        tcb[c, T_ERROR] = ENOTCONN
        return 0
    if s != ESTABLISHED and s != CLOSE_WAIT:
        return 0 if s != CLOSED else -ENOTCONN
    tcb[c, T_FIN_SEQ] = seq_add(tcb[c, T_SBUF_SEQ], tcb[c, T_SBUF_LEN])
    tcb[c, T_STATE] = FIN_WAIT_1 if s == ESTABLISHED else LAST_ACK
    tcb[c, T_CLOSE_REQ] = 1
    tcp_output(st, c, now)
    return 0


@njit(cache=True, _nrt=False)
def tcp_timers(st, c: int, now: int) -> None:
    """Retransmission/persist timeout, keepalive and TIME_WAIT expiry of connection c."""
    tcb = st.tcb
    s = tcb[c, T_STATE]
    if s == CLOSED:
        return
    if s == TIME_WAIT:
        if now >= tcb[c, T_TW_AT]:
            tcb[c, T_STATE] = CLOSED
        return
    if s == SYN_SENT:
        row = arp_find(st, tcb[c, T_NEXTHOP])
        if row >= 0 and st.arp[row, A_STATE] == ARP_FAILED:
            drop(st, c, EHOSTUNREACH)
            return
    if tcb[c, T_RTX_AT] != 0 and now >= tcb[c, T_RTX_AT]:
        _on_rtx_timeout(st, c, now)
        if tcb[c, T_STATE] == CLOSED:
            return
    _keepalive(st, c, now)


@njit(cache=True, _nrt=False)
def _on_rtx_timeout(st, c: int, now: int) -> None:
    tcb = st.tcb
    tcb[c, T_RTX_AT] = 0
    una, smax = tcb[c, T_SND_UNA], tcb[c, T_SND_MAX]
    data_end = seq_add(tcb[c, T_SBUF_SEQ], tcb[c, T_SBUF_LEN])
    if una == smax:
        if tcb[c, T_SND_WND] == 0 and seq_lt(tcb[c, T_SND_NXT], data_end):
            tcb[c, T_PROBE] = 1  # persist: the window stayed shut with data waiting
            st.ctr[CTR_WINDOW_PROBES] += 1
            tcb[c, T_RTO] = min(2 * tcb[c, T_RTO], st.cfg[CFG_RTO_MAX])
        return
    tcb[c, T_RTX_COUNT] += 1
    limit = st.cfg[CFG_SYN_RETRIES] if tcb[c, T_STATE] == SYN_SENT else st.cfg[CFG_DATA_RETRIES]
    if tcb[c, T_RTX_COUNT] > limit:
        tcp_abort(st, c, now)
        tcb[c, T_ERROR] = ETIMEDOUT
        return
    st.ctr[CTR_RTO_EVENTS] += 1
    tcb[c, T_RTO] = min(2 * tcb[c, T_RTO], st.cfg[CFG_RTO_MAX])
    tcb[c, T_RTT_TS] = 0
    tcb[c, T_SND_NXT] = una  # go back N: everything from SND.UNA goes out again as the window allows
    tcb[c, T_DUPACKS] = 0
    tcb[c, T_RECOVER] = -1
    if tcb[c, T_SND_WND] == 0:
        tcb[c, T_PROBE] = 1  # the lost segment was a zero-window probe: probe again


@njit(cache=True, _nrt=False)
def _keepalive(st, c: int, now: int) -> None:
    tcb = st.tcb
    s = tcb[c, T_STATE]
    idle = st.cfg[CFG_KA_IDLE]
    if idle <= 0 or (s != ESTABLISHED and s != CLOSE_WAIT) or tcb[c, T_SND_UNA] != tcb[c, T_SND_MAX] \
            or tcb[c, T_SBUF_LEN] > 0:
        return
    if tcb[c, T_KA_SENT] == 0:
        if now - tcb[c, T_LAST_RX] < idle:
            return
    elif now < tcb[c, T_KA_AT]:
        return
    if tcb[c, T_KA_SENT] >= st.cfg[CFG_KA_PROBES]:
        tcp_abort(st, c, now)
        tcb[c, T_ERROR] = ETIMEDOUT
        return
    if emit(st, c, seq_add(tcb[c, T_SND_UNA], -1), ACK, 0, 0, now):
        st.ctr[CTR_KEEPALIVE_TX] += 1
    tcb[c, T_KA_SENT] += 1
    tcb[c, T_KA_AT] = now + st.cfg[CFG_KA_INTVL]


@njit(cache=True, _nrt=False)
def tcp_state(st, c: int) -> int:
    """Connection c's state (utcp_state.ESTABLISHED, ...), for compiled callers."""
    return st.tcb[c, T_STATE]
