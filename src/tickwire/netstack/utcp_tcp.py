"""TCP client connections (RFC 9293) for the userspace stack: segments in, segments out, timers, and the
byte-stream API (``tcp_connect``/``tcp_send``/``tcp_recv``/``tcp_close``/``tcp_abort``).

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

from tickwire.netstack.utcp_arp import arp_find, arp_resolve, arp_retry_failed
from tickwire.netstack.utcp_ip import (ETH_HLEN, ETHERTYPE_IPV4, IP_HLEN, PROTO_TCP, csum_add, csum_fold,
                                       pseudo_header_sum, rd16, rd32, tx_commit, tx_slot, wr16, wr32, write_eth,
                                       write_ipv4)
from tickwire.netstack.utcp_state import (
    ARP_FAILED, A_STATE, CFG_DATA_RETRIES, CFG_GW, CFG_IP, CFG_ISN_KEY, CFG_KA_IDLE, CFG_KA_INTVL, CFG_KA_PROBES,
    CFG_MAC, CFG_MASK, CFG_MSS, CFG_NEXT_PORT, CFG_RTO_INIT, CFG_RTO_MAX, CFG_RTO_MIN, CFG_SYN_RETRIES,
    CFG_TIMEWAIT, CLOSED, CLOSE_WAIT, CLOSING, CTR_BAD_CSUM, CTR_CHALLENGE_ACKS, CTR_DUP_ACKS, CTR_DUP_SEGS,
    CTR_FAST_RETRANSMITS, CTR_KEEPALIVE_TX, CTR_MALFORMED, CTR_NO_CONN, CTR_OOO_FULL, CTR_OOO_SEGS, CTR_RETRANSMITS,
    CTR_RST_RX, CTR_RST_TX, CTR_RTO_EVENTS, CTR_RX_SEGS, CTR_TW_REUSED, CTR_TX_SEGS, CTR_WINDOW_PROBES,
    ECONNREFUSED, ECONNRESET, EHOSTUNREACH, EINVAL, EISCONN, ENOBUFS, ENOTCONN, EPHEMERAL_HI, EPHEMERAL_LO, EPIPE,
    ESTABLISHED, ETIMEDOUT, FIN_WAIT_1, FIN_WAIT_2, LAST_ACK, SYN_SENT, TIME_WAIT, T_ACK_HOLD, T_ACK_NOW,
    T_CLOSE_REQ, T_DUPACKS, T_ERROR, T_FIN_SEQ, T_IRS, T_ISS, T_KA_AT, T_KA_SENT, T_LAST_RX, T_LPORT, T_MSS,
    T_NEXTHOP, T_OOO_N, T_PEER_FIN, T_PROBE, T_RBUF_HEAD, T_RBUF_LEN, T_RCV_NXT, T_RCV_WS, T_RECOVER, T_RIP,
    T_RPORT, T_RTO, T_RTTVAR, T_RTT_SEQ, T_RTT_TS, T_RTX_AT, T_RTX_COUNT, T_SBUF_HEAD, T_SBUF_LEN, T_SBUF_SEQ,
    T_SND_MAX, T_SND_NXT, T_SND_UNA, T_SND_WL1, T_SND_WL2, T_SND_WND, T_SND_WS, T_SRTT, T_STATE, T_TW_AT, UTCP_EOF,
    W_EXPIRES, W_LPORT, W_RCV_NXT, W_RIP, W_RPORT, W_SND_NXT)

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
TCP_HLEN = 20
SYN_OPT_LEN = 8  # MSS (4) + NOP + window scale (3)
MIN_FRAME = 60
DEFAULT_PEER_MSS = 536
MAX_WS = 14
SEQ_MASK = 0xFFFFFFFF
CLOCK_G_NS = 1_000_000  # RFC 6298's clock granularity G, as a floor under 4*RTTVAR


# --- sequence arithmetic (mod 2**32) --------------------------------------------------------------------------

@njit(cache=True, inline="always")
def seq_diff(a: int, b: int) -> int:
    """a - b as a signed 32-bit distance."""
    d = (a - b) & SEQ_MASK
    return d - (1 << 32) if d >= (1 << 31) else d


@njit(cache=True, inline="always")
def seq_lt(a: int, b: int) -> bool:
    return seq_diff(a, b) < 0


@njit(cache=True, inline="always")
def seq_le(a: int, b: int) -> bool:
    return seq_diff(a, b) <= 0


@njit(cache=True, inline="always")
def seq_add(a: int, n: int) -> int:
    return (a + n) & SEQ_MASK


# --- segment output --------------------------------------------------------------------------------------------

@njit(cache=True)
def _window_field(st, c: int, syn: bool) -> int:
    free = st.rcv.shape[1] - st.tcb[c, T_RBUF_LEN]
    if syn:
        return min(free, 0xFFFF)
    return min(free >> st.tcb[c, T_RCV_WS], 0xFFFF)


@njit(cache=True)
def _build(st, dst_mac: int, dst_ip: int, lport: int, rport: int, seq: int, ack: int, flags: int, window: int,
           c: int, data_off: int, n: int, ws: int) -> bool:
    """One TCP segment in a transmit slot; ``n`` payload bytes from connection c's send ring at ``data_off`` bytes
    after SBUF_SEQ; SYN segments carry MSS and window-scale ``ws``. False when the batch is full."""
    at = tx_slot(st)
    if at < 0:
        return False
    b = st.txbuf
    opt = SYN_OPT_LEN if flags & SYN else 0
    tcp_len = TCP_HLEN + opt + n
    write_eth(b, at, dst_mac, st.cfg[CFG_MAC], ETHERTYPE_IPV4)
    write_ipv4(st, b, at + ETH_HLEN, st.cfg[CFG_IP], dst_ip, PROTO_TCP, tcp_len)
    t = at + ETH_HLEN + IP_HLEN
    wr16(b, t, lport)
    wr16(b, t + 2, rport)
    wr32(b, t + 4, seq)
    wr32(b, t + 8, ack if flags & ACK else 0)
    b[t + 12] = ((TCP_HLEN + opt) // 4) << 4
    b[t + 13] = flags
    wr16(b, t + 14, window)
    wr32(b, t + 16, 0)  # checksum and urgent pointer
    if opt:
        b[t + 20] = 2
        b[t + 21] = 4
        wr16(b, t + 22, st.cfg[CFG_MSS])
        b[t + 24] = 1
        b[t + 25] = 3
        b[t + 26] = 3
        b[t + 27] = ws
    if n > 0:
        ring = st.snd[c]
        cap = ring.size
        start = (st.tcb[c, T_SBUF_HEAD] + data_off) % cap
        first = min(n, cap - start)
        p = t + TCP_HLEN + opt
        b[p:p + first] = ring[start:start + first]
        if first < n:
            b[p + first:p + n] = ring[0:n - first]
    acc = pseudo_header_sum(st.cfg[CFG_IP], dst_ip, PROTO_TCP, tcp_len)
    wr16(b, t + 16, csum_fold(csum_add(b, t, tcp_len, acc)))
    length = ETH_HLEN + IP_HLEN + tcp_len
    if length < MIN_FRAME:
        b[at + length:at + MIN_FRAME] = 0
        length = MIN_FRAME
    tx_commit(st, length)
    st.ctr[CTR_TX_SEGS] += 1
    return True


@njit(cache=True)
def _emit(st, c: int, seq: int, flags: int, data_off: int, n: int, now: int) -> bool:
    """A segment of connection c (its next hop resolved through ARP). False when it could not be built yet."""
    mac = arp_resolve(st, st.tcb[c, T_NEXTHOP], now)
    if mac < 0:
        return False
    syn = (flags & SYN) != 0
    ok = _build(st, mac, st.tcb[c, T_RIP], st.tcb[c, T_LPORT], st.tcb[c, T_RPORT], seq, st.tcb[c, T_RCV_NXT],
                flags, _window_field(st, c, syn), c, data_off, n, st.tcb[c, T_RCV_WS])
    if ok and flags & ACK:
        st.tcb[c, T_ACK_NOW] = 0
    return ok


@njit(cache=True)
def _reply_rst(st, dst_mac: int, src_ip: int, sport: int, dport: int, seq: int, ack: int, flags: int,
               seg_len: int) -> None:
    """RST for a segment that matches no connection (RFC 9293 3.10.7.1)."""
    if flags & ACK:
        _build(st, dst_mac, src_ip, dport, sport, ack, 0, RST, 0, -1, 0, 0, 0)
    else:
        _build(st, dst_mac, src_ip, dport, sport, 0, seq_add(seq, seg_len), RST | ACK, 0, -1, 0, 0, 0)
    st.ctr[CTR_RST_TX] += 1


@njit(cache=True)
def _arm(st, c: int, now: int) -> None:
    if st.tcb[c, T_RTX_AT] == 0:
        st.tcb[c, T_RTX_AT] = now + st.tcb[c, T_RTO]


@njit(cache=True)
def tcp_output(st, c: int, now: int) -> None:
    """Send what connection c may send now: the SYN, new or go-back-N data within the peer's window, the FIN,
    and a pending ACK."""
    s = st.tcb[c, T_STATE]
    if s == CLOSED:
        return
    if s == SYN_SENT:
        if st.tcb[c, T_SND_NXT] == st.tcb[c, T_ISS]:
            if _emit(st, c, st.tcb[c, T_ISS], SYN, 0, 0, now):
                if st.tcb[c, T_RTX_COUNT] > 0:
                    st.ctr[CTR_RETRANSMITS] += 1
                st.tcb[c, T_SND_NXT] = st.tcb[c, T_SND_MAX] = seq_add(st.tcb[c, T_ISS], 1)
                _arm(st, c, now)
        return
    if s != TIME_WAIT:
        _output_data(st, c, now)
    if st.tcb[c, T_ACK_NOW] and not st.tcb[c, T_ACK_HOLD]:
        _emit(st, c, st.tcb[c, T_SND_NXT], ACK, 0, 0, now)


@njit(cache=True)
def _output_data(st, c: int, now: int) -> None:
    tcb = st.tcb
    data_end = seq_add(tcb[c, T_SBUF_SEQ], tcb[c, T_SBUF_LEN])
    wnd_end = seq_add(tcb[c, T_SND_UNA], tcb[c, T_SND_WND])
    if tcb[c, T_PROBE] and tcb[c, T_SND_WND] == 0:
        wnd_end = seq_add(tcb[c, T_SND_UNA], 1)  # a one-byte zero-window probe
    tcb[c, T_PROBE] = 0
    mss = tcb[c, T_MSS]
    while seq_lt(tcb[c, T_SND_NXT], data_end) and seq_lt(tcb[c, T_SND_NXT], wnd_end):
        nxt = tcb[c, T_SND_NXT]
        n = min(mss, seq_diff(data_end, nxt), seq_diff(wnd_end, nxt))
        flags = ACK | (PSH if seq_add(nxt, n) == data_end else 0)
        if not _emit(st, c, nxt, flags, seq_diff(nxt, tcb[c, T_SBUF_SEQ]), n, now):
            return
        if seq_lt(nxt, tcb[c, T_SND_MAX]):
            st.ctr[CTR_RETRANSMITS] += 1
        elif tcb[c, T_RTT_TS] == 0:
            tcb[c, T_RTT_SEQ] = seq_add(nxt, n)
            tcb[c, T_RTT_TS] = now
        tcb[c, T_SND_NXT] = seq_add(nxt, n)
        if seq_lt(tcb[c, T_SND_MAX], tcb[c, T_SND_NXT]):
            tcb[c, T_SND_MAX] = tcb[c, T_SND_NXT]
        _arm(st, c, now)
    fin = tcb[c, T_FIN_SEQ]
    if fin >= 0 and tcb[c, T_SND_NXT] == fin and (tcb[c, T_STATE] == FIN_WAIT_1 or tcb[c, T_STATE] == CLOSING
                                                 or tcb[c, T_STATE] == LAST_ACK):
        if _emit(st, c, fin, FIN | ACK, 0, 0, now):
            if seq_lt(fin, tcb[c, T_SND_MAX]):
                st.ctr[CTR_RETRANSMITS] += 1
            tcb[c, T_SND_NXT] = seq_add(fin, 1)
            if seq_lt(tcb[c, T_SND_MAX], tcb[c, T_SND_NXT]):
                tcb[c, T_SND_MAX] = tcb[c, T_SND_NXT]
            _arm(st, c, now)
    if tcb[c, T_SND_MAX] != tcb[c, T_SND_UNA] or seq_lt(tcb[c, T_SND_NXT], data_end):
        _arm(st, c, now)  # outstanding data, or a shut window with data waiting (persist)


@njit(cache=True)
def _retransmit_first(st, c: int, now: int) -> None:
    """Resend the segment at SND.UNA (fast retransmit, NewReno partial ACK)."""
    tcb = st.tcb
    una = tcb[c, T_SND_UNA]
    data_end = seq_add(tcb[c, T_SBUF_SEQ], tcb[c, T_SBUF_LEN])
    tcb[c, T_RTT_TS] = 0  # Karn: no RTT sample from a retransmitted segment
    if seq_lt(una, data_end):
        n = min(tcb[c, T_MSS], seq_diff(data_end, una))
        if _emit(st, c, una, ACK | PSH, seq_diff(una, tcb[c, T_SBUF_SEQ]), n, now):
            st.ctr[CTR_RETRANSMITS] += 1
    elif tcb[c, T_FIN_SEQ] == una:
        if _emit(st, c, una, FIN | ACK, 0, 0, now):
            st.ctr[CTR_RETRANSMITS] += 1


# --- connection set-up and the byte-stream API --------------------------------------------------------------

@njit(cache=True)
def _mix(x: int) -> int:
    """splitmix64 finaliser (ISN and port choice: not predictable from the 4-tuple alone)."""
    x = (x ^ (x >> 30)) * -4658895280553007687
    x = (x ^ (x >> 27)) * -7723592293110705685
    return x ^ (x >> 31)


@njit(cache=True)
def _port_in_use(st, lport: int) -> bool:
    for i in range(st.tcb.shape[0]):
        if st.tcb[i, T_STATE] != CLOSED and st.tcb[i, T_LPORT] == lport:
            return True
    for i in range(st.tw.shape[0]):
        if st.tw[i, W_LPORT] == lport:
            return True
    return False


@njit(cache=True)
def _pick_port(st) -> int:
    span = EPHEMERAL_HI - EPHEMERAL_LO + 1
    for _ in range(span):
        p = st.cfg[CFG_NEXT_PORT]
        st.cfg[CFG_NEXT_PORT] = EPHEMERAL_LO + (p + 1 - EPHEMERAL_LO) % span
        if not _port_in_use(st, p):
            return p
    return -1


@njit(cache=True)
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


@njit(cache=True)
def _our_window_shift(st) -> int:
    ws = 0
    while (st.rcv.shape[1] >> ws) > 0xFFFF and ws < MAX_WS:
        ws += 1
    return ws


@njit(cache=True)
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


@njit(cache=True)
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
    ring[start:start + first] = data[off:off + first]
    if first < k:
        ring[0:k - first] = data[off + first:off + k]
    tcb[c, T_SBUF_LEN] += k
    tcp_output(st, c, now)
    return k


@njit(cache=True)
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
    out[off:off + first] = ring[start:start + first]
    if first < k:
        out[off + first:off + k] = ring[0:k - first]
    tcb[c, T_RBUF_HEAD] = (start + k) % size
    tcb[c, T_RBUF_LEN] -= k
    free_after = size - tcb[c, T_RBUF_LEN]
    # window update when the window re-opens past one MSS or half the ring (receiver-side SWS avoidance)
    mss = st.cfg[CFG_MSS]
    if (free_before < mss <= free_after or free_before < size // 2 <= free_after) and tcb[c, T_STATE] != CLOSED:
        tcb[c, T_ACK_NOW] = 1
        tcp_output(st, c, now)
    return k


@njit(cache=True)
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


@njit(cache=True)
def _drop(st, c: int, err: int) -> None:
    st.tcb[c, T_STATE] = CLOSED
    st.tcb[c, T_ERROR] = err
    st.tcb[c, T_RTX_AT] = 0


@njit(cache=True)
def tcp_abort(st, c: int, now: int) -> int:
    """Reset connection c: a RST to the peer when synchronized, the slot CLOSED at once."""
    if c < 0 or c >= st.tcb.shape[0]:
        return -EINVAL
    s = st.tcb[c, T_STATE]
    if s != CLOSED and s != SYN_SENT and s != TIME_WAIT:
        mac = arp_resolve(st, st.tcb[c, T_NEXTHOP], now)
        if mac >= 0:
            _build(st, mac, st.tcb[c, T_RIP], st.tcb[c, T_LPORT], st.tcb[c, T_RPORT], st.tcb[c, T_SND_NXT], 0, RST,
                   0, -1, 0, 0, 0)
            st.ctr[CTR_RST_TX] += 1
    _drop(st, c, ENOTCONN)
    return 0


# --- timers --------------------------------------------------------------------------------------------------

@njit(cache=True)
def _rtt_sample(st, c: int, r: int) -> None:
    """RFC 6298 (2.2)-(2.3): update SRTT/RTTVAR with sample r (ns), recompute RTO."""
    tcb = st.tcb
    if tcb[c, T_SRTT] == 0:
        tcb[c, T_SRTT] = r
        tcb[c, T_RTTVAR] = r // 2
    else:
        tcb[c, T_RTTVAR] = (3 * tcb[c, T_RTTVAR] + abs(tcb[c, T_SRTT] - r)) // 4
        tcb[c, T_SRTT] = (7 * tcb[c, T_SRTT] + r) // 8
    _rto_from_srtt(st, c)


@njit(cache=True)
def _rto_from_srtt(st, c: int) -> None:
    tcb = st.tcb
    if tcb[c, T_SRTT] == 0:
        return
    rto = tcb[c, T_SRTT] + max(CLOCK_G_NS, 4 * tcb[c, T_RTTVAR])
    tcb[c, T_RTO] = min(max(rto, st.cfg[CFG_RTO_MIN]), st.cfg[CFG_RTO_MAX])


@njit(cache=True)
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
            _drop(st, c, EHOSTUNREACH)
            return
    if tcb[c, T_RTX_AT] != 0 and now >= tcb[c, T_RTX_AT]:
        _on_rtx_timeout(st, c, now)
        if tcb[c, T_STATE] == CLOSED:
            return
    _keepalive(st, c, now)


@njit(cache=True)
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


@njit(cache=True)
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
    if _emit(st, c, seq_add(tcb[c, T_SND_UNA], -1), ACK, 0, 0, now):
        st.ctr[CTR_KEEPALIVE_TX] += 1
    tcb[c, T_KA_SENT] += 1
    tcb[c, T_KA_AT] = now + st.cfg[CFG_KA_INTVL]


# --- segment input ---------------------------------------------------------------------------------------------

@njit(cache=True)
def tcp_find(st, rip: int, rport: int, lport: int) -> int:
    for i in range(st.tcb.shape[0]):
        if (st.tcb[i, T_STATE] != CLOSED and st.tcb[i, T_LPORT] == lport and st.tcb[i, T_RPORT] == rport
                and st.tcb[i, T_RIP] == rip):
            return i
    return -1


@njit(cache=True)
def _time_wait_input(st, src_mac: int, src_ip: int, sport: int, dport: int, flags: int, now: int) -> bool:
    """A segment for a parked TIME_WAIT tuple: RST forgets it, anything else is re-ACKed. False: no such tuple."""
    tw = st.tw
    for i in range(tw.shape[0]):
        if tw[i, W_LPORT] != dport or tw[i, W_RPORT] != sport or tw[i, W_RIP] != src_ip:
            continue
        if tw[i, W_EXPIRES] <= now or flags & RST:
            tw[i, W_LPORT] = 0
            return flags & RST != 0
        _build(st, src_mac, src_ip, dport, sport, tw[i, W_SND_NXT], tw[i, W_RCV_NXT], ACK, 0, -1, 0, 0, 0)
        return True
    return False


@njit(cache=True)
def _parse_syn_options(st, c: int, b: np.ndarray, start: int, end: int) -> None:
    """MSS and window scale from a SYN-ACK's options (malformed options end the walk)."""
    tcb = st.tcb
    peer_ws = -1
    i = start
    while i < end:
        kind = b[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= end or b[i + 1] < 2 or i + b[i + 1] > end:
            st.ctr[CTR_MALFORMED] += 1
            break
        olen = b[i + 1]
        if kind == 2 and olen == 4:
            peer_mss = rd16(b, i + 2)
            if peer_mss >= 64:
                tcb[c, T_MSS] = min(peer_mss, st.cfg[CFG_MSS])
        elif kind == 3 and olen == 3:
            peer_ws = min(np.int64(b[i + 2]), MAX_WS)
        i += olen
    if peer_ws >= 0:
        tcb[c, T_SND_WS] = peer_ws
    else:
        tcb[c, T_SND_WS] = 0
        tcb[c, T_RCV_WS] = 0  # RFC 7323: scaling only when both sides offered it


@njit(cache=True)
def _input_syn_sent(st, c: int, b: np.ndarray, t: int, doff: int, seq: int, ack: int, flags: int, win: int,
                    now: int, src_mac: int) -> None:
    tcb = st.tcb
    if flags & ACK:
        if seq_le(ack, tcb[c, T_ISS]) or seq_lt(tcb[c, T_SND_MAX], ack):
            if not flags & RST:
                _build(st, src_mac, tcb[c, T_RIP], tcb[c, T_LPORT], tcb[c, T_RPORT], ack, 0, RST, 0, -1, 0, 0, 0)
                st.ctr[CTR_RST_TX] += 1
            return
    if flags & RST:
        if flags & ACK:
            st.ctr[CTR_RST_RX] += 1
            _drop(st, c, ECONNREFUSED)
        return
    if not flags & SYN or not flags & ACK:
        return  # a bare SYN would be a simultaneous open: not supported
    tcb[c, T_IRS] = seq
    tcb[c, T_RCV_NXT] = seq_add(seq, 1)
    _parse_syn_options(st, c, b, t + TCP_HLEN, t + doff)
    tcb[c, T_SND_UNA] = ack
    if seq_lt(tcb[c, T_SND_NXT], ack):
        tcb[c, T_SND_NXT] = ack
    tcb[c, T_SND_WND] = win  # a SYN's window is never scaled
    tcb[c, T_SND_WL1], tcb[c, T_SND_WL2] = seq, ack
    if tcb[c, T_RTX_COUNT] == 0 and tcb[c, T_RTT_TS] != 0:
        _rtt_sample(st, c, now - tcb[c, T_RTT_TS])
    else:
        tcb[c, T_RTO] = max(st.cfg[CFG_RTO_INIT], tcb[c, T_RTO])  # RFC 6298 5.7 after a lost SYN
    tcb[c, T_RTT_TS] = 0
    tcb[c, T_RTX_COUNT] = 0
    tcb[c, T_RTX_AT] = 0
    tcb[c, T_STATE] = ESTABLISHED
    tcb[c, T_ACK_NOW] = 1


@njit(cache=True)
def _ooo_insert(st, c: int, start: int, end: int) -> bool:
    """Record [start, end) as received out of order, merged with touching intervals. False when the list is full
    (the bytes are then forgotten: the peer sends them again)."""
    ooo = st.ooo[c]
    n = st.tcb[c, T_OOO_N]
    i = 0
    while i < n:
        s, e = ooo[i, 0], ooo[i, 1]
        if seq_le(s, end) and seq_le(start, e):
            if seq_lt(s, start):
                start = s
            if seq_lt(end, e):
                end = e
            n -= 1
            ooo[i, 0], ooo[i, 1] = ooo[n, 0], ooo[n, 1]
            i = 0
            continue
        i += 1
    if n >= ooo.shape[0]:
        st.tcb[c, T_OOO_N] = n
        return False
    ooo[n, 0], ooo[n, 1] = start, end
    st.tcb[c, T_OOO_N] = n + 1
    return True


@njit(cache=True)
def _ooo_covered(st, c: int, start: int, end: int) -> bool:
    ooo = st.ooo[c]
    for i in range(st.tcb[c, T_OOO_N]):
        if seq_le(ooo[i, 0], start) and seq_le(end, ooo[i, 1]):
            return True
    return False


@njit(cache=True)
def _ooo_pull(st, c: int) -> int:
    """Extend RCV.NXT over the out-of-order intervals it now reaches; returns the bytes that became in-order."""
    tcb = st.tcb
    ooo = st.ooo[c]
    gained = 0
    moved = True
    while moved:
        moved = False
        n = tcb[c, T_OOO_N]
        for i in range(n):
            if seq_le(ooo[i, 0], tcb[c, T_RCV_NXT]):
                if seq_lt(tcb[c, T_RCV_NXT], ooo[i, 1]):
                    k = seq_diff(ooo[i, 1], tcb[c, T_RCV_NXT])
                    gained += k
                    tcb[c, T_RCV_NXT] = ooo[i, 1]
                ooo[i, 0], ooo[i, 1] = ooo[n - 1, 0], ooo[n - 1, 1]
                tcb[c, T_OOO_N] = n - 1
                moved = True
                break
    return gained


@njit(cache=True)
def _receive_data(st, c: int, b: np.ndarray, at: int, seq: int, n: int) -> None:
    """Place payload b[at:at+n] (sequence seq) in the receive ring: in order, or out of order in its place."""
    tcb = st.tcb
    ring = st.rcv[c]
    size = ring.size
    rel = seq_diff(seq, tcb[c, T_RCV_NXT])
    if rel < 0:  # the start was received already
        at -= rel
        n += rel
        rel = 0
    if n <= 0:
        st.ctr[CTR_DUP_SEGS] += 1
        return
    room = size - tcb[c, T_RBUF_LEN]
    if rel + n > room:
        n = room - rel
    if n <= 0:
        return
    if rel > 0 and _ooo_covered(st, c, seq_add(tcb[c, T_RCV_NXT], rel), seq_add(tcb[c, T_RCV_NXT], rel + n)):
        st.ctr[CTR_DUP_SEGS] += 1
        return
    pos = (tcb[c, T_RBUF_HEAD] + tcb[c, T_RBUF_LEN] + rel) % size
    first = min(n, size - pos)
    ring[pos:pos + first] = b[at:at + first]
    if first < n:
        ring[0:n - first] = b[at + first:at + n]
    if rel == 0:
        tcb[c, T_RCV_NXT] = seq_add(tcb[c, T_RCV_NXT], n)
        tcb[c, T_RBUF_LEN] += n + _ooo_pull(st, c)
        tcb[c, T_ACK_HOLD] = 1  # the ACK rides on the application's answer, or leaves at the next poll
    else:
        tcb[c, T_ACK_HOLD] = 0  # a duplicate ACK for the peer's fast retransmit: at once
        st.ctr[CTR_OOO_SEGS] += 1
        start = seq_add(tcb[c, T_RCV_NXT], rel)
        if not _ooo_insert(st, c, start, seq_add(start, n)):
            st.ctr[CTR_OOO_FULL] += 1


@njit(cache=True)
def _ack_advance(st, c: int, ack: int, now: int) -> None:
    """A new cumulative ACK: release acked bytes from the send ring, RTT sample, timers, NewReno recovery."""
    tcb = st.tcb
    data_acked = min(max(seq_diff(ack, tcb[c, T_SBUF_SEQ]), 0), tcb[c, T_SBUF_LEN])
    tcb[c, T_SBUF_HEAD] = (tcb[c, T_SBUF_HEAD] + data_acked) % st.snd.shape[1]
    tcb[c, T_SBUF_LEN] -= data_acked
    tcb[c, T_SBUF_SEQ] = seq_add(tcb[c, T_SBUF_SEQ], data_acked)
    tcb[c, T_SND_UNA] = ack
    if seq_lt(tcb[c, T_SND_NXT], ack):
        tcb[c, T_SND_NXT] = ack
    if tcb[c, T_RTT_TS] != 0 and seq_le(tcb[c, T_RTT_SEQ], ack):
        _rtt_sample(st, c, now - tcb[c, T_RTT_TS])
        tcb[c, T_RTT_TS] = 0
    else:
        _rto_from_srtt(st, c)  # a new ACK ends the back-off (RFC 6298 5.7 keeps it only until the next sample)
    tcb[c, T_RTX_COUNT] = 0
    tcb[c, T_DUPACKS] = 0
    if tcb[c, T_RECOVER] >= 0:
        if seq_lt(ack, tcb[c, T_RECOVER]):
            _retransmit_first(st, c, now)  # NewReno partial ACK: the next hole
        else:
            tcb[c, T_RECOVER] = -1
    tcb[c, T_RTX_AT] = 0 if ack == tcb[c, T_SND_MAX] else now + tcb[c, T_RTO]


@njit(cache=True)
def _acceptable(st, c: int, seq: int, seg_len: int) -> bool:
    """RFC 9293 3.10.7.4's four cases of segment acceptability."""
    rcv_nxt = st.tcb[c, T_RCV_NXT]
    wnd = st.rcv.shape[1] - st.tcb[c, T_RBUF_LEN]
    rel = seq_diff(seq, rcv_nxt)
    if seg_len == 0:
        return rel == 0 if wnd == 0 else 0 <= rel < wnd
    if wnd == 0:
        return False
    last = rel + seg_len - 1
    return (0 <= rel < wnd) or (0 <= last < wnd)


@njit(cache=True)
def _input_synchronized(st, c: int, b: np.ndarray, data_at: int, dlen: int, seq: int, ack: int, flags: int,
                        win: int, now: int) -> None:
    tcb = st.tcb
    seg_len = dlen + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
    if not _acceptable(st, c, seq, seg_len):
        if dlen > 0 and seq_le(seq_add(seq, dlen), tcb[c, T_RCV_NXT]):
            st.ctr[CTR_DUP_SEGS] += 1
        if not flags & RST:
            tcb[c, T_ACK_NOW] = 1
        return
    if flags & RST:
        if seq == tcb[c, T_RCV_NXT]:
            st.ctr[CTR_RST_RX] += 1
            if tcb[c, T_STATE] == TIME_WAIT:
                tcb[c, T_STATE] = CLOSED
            else:
                _drop(st, c, ECONNRESET)
        else:
            st.ctr[CTR_CHALLENGE_ACKS] += 1
            tcb[c, T_ACK_NOW] = 1
        return
    if flags & SYN:
        st.ctr[CTR_CHALLENGE_ACKS] += 1
        tcb[c, T_ACK_NOW] = 1
        return
    if not flags & ACK:
        return
    if seq_lt(tcb[c, T_SND_MAX], ack):
        tcb[c, T_ACK_NOW] = 1  # acks something never sent
        return
    una = tcb[c, T_SND_UNA]
    wnd = win << tcb[c, T_SND_WS]
    if seq_lt(una, ack):
        _ack_advance(st, c, ack, now)
    elif (ack == una and dlen == 0 and not flags & FIN and wnd == tcb[c, T_SND_WND]
          and tcb[c, T_SND_MAX] != una):
        st.ctr[CTR_DUP_ACKS] += 1
        tcb[c, T_DUPACKS] += 1
        if tcb[c, T_DUPACKS] == 3 and tcb[c, T_RECOVER] < 0:
            st.ctr[CTR_FAST_RETRANSMITS] += 1
            tcb[c, T_RECOVER] = tcb[c, T_SND_MAX]
            _retransmit_first(st, c, now)
    if seq_le(una, ack) and (seq_lt(tcb[c, T_SND_WL1], seq)
                             or (tcb[c, T_SND_WL1] == seq and seq_le(tcb[c, T_SND_WL2], ack))):
        tcb[c, T_SND_WND] = wnd
        tcb[c, T_SND_WL1], tcb[c, T_SND_WL2] = seq, ack
    fin_acked = tcb[c, T_FIN_SEQ] >= 0 and tcb[c, T_SND_UNA] == seq_add(tcb[c, T_FIN_SEQ], 1)
    s = tcb[c, T_STATE]
    if fin_acked:
        if s == FIN_WAIT_1:
            s = tcb[c, T_STATE] = FIN_WAIT_2
        elif s == CLOSING:
            _enter_time_wait(st, c, now)
            return
        elif s == LAST_ACK:
            tcb[c, T_STATE] = CLOSED
            return
    if dlen > 0:
        if s == ESTABLISHED or s == FIN_WAIT_1 or s == FIN_WAIT_2:
            _receive_data(st, c, b, data_at, seq, dlen)
        tcb[c, T_ACK_NOW] = 1
    if flags & FIN:
        _input_fin(st, c, seq_add(seq, dlen), now)


@njit(cache=True)
def _enter_time_wait(st, c: int, now: int) -> None:
    st.tcb[c, T_STATE] = TIME_WAIT
    st.tcb[c, T_TW_AT] = now + st.cfg[CFG_TIMEWAIT]
    st.tcb[c, T_RTX_AT] = 0


@njit(cache=True)
def _input_fin(st, c: int, fin_seq: int, now: int) -> None:
    """The peer's FIN at fin_seq: taken when in order (an out-of-order FIN is left for the peer to resend)."""
    tcb = st.tcb
    if fin_seq != tcb[c, T_RCV_NXT]:
        if tcb[c, T_PEER_FIN] and seq_lt(fin_seq, tcb[c, T_RCV_NXT]):
            tcb[c, T_ACK_NOW] = 1  # our ACK of it was lost
            if tcb[c, T_STATE] == TIME_WAIT:
                tcb[c, T_TW_AT] = now + st.cfg[CFG_TIMEWAIT]
        return
    tcb[c, T_RCV_NXT] = seq_add(fin_seq, 1)
    tcb[c, T_PEER_FIN] = 1
    tcb[c, T_ACK_NOW] = 1
    s = tcb[c, T_STATE]
    if s == ESTABLISHED:
        tcb[c, T_STATE] = CLOSE_WAIT
    elif s == FIN_WAIT_1:
        tcb[c, T_STATE] = CLOSING
    elif s == FIN_WAIT_2:
        _enter_time_wait(st, c, now)


@njit(cache=True)
def tcp_input(st, b: np.ndarray, t: int, tcp_len: int, src_ip: int, src_mac: int, now: int) -> int:
    """One TCP segment (header at b[t], tcp_len bytes, checksum not yet verified) from src_ip. Returns the
    connection slot it was for, or -1."""
    if tcp_len < TCP_HLEN:
        st.ctr[CTR_MALFORMED] += 1
        return -1
    doff = (b[t + 12] >> 4) * 4
    if doff < TCP_HLEN or doff > tcp_len:
        st.ctr[CTR_MALFORMED] += 1
        return -1
    acc = pseudo_header_sum(src_ip, st.cfg[CFG_IP], PROTO_TCP, tcp_len)
    if csum_fold(csum_add(b, t, tcp_len, acc)) != 0:
        st.ctr[CTR_BAD_CSUM] += 1
        return -1
    st.ctr[CTR_RX_SEGS] += 1
    sport, dport = rd16(b, t), rd16(b, t + 2)
    seq, ack = rd32(b, t + 4), rd32(b, t + 8)
    flags = np.int64(b[t + 13]) & 0x3F
    win = rd16(b, t + 14)
    dlen = tcp_len - doff
    c = tcp_find(st, src_ip, sport, dport)
    if c < 0:
        if not _time_wait_input(st, src_mac, src_ip, sport, dport, flags, now):
            st.ctr[CTR_NO_CONN] += 1
            if not flags & RST:
                seg_len = dlen + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
                _reply_rst(st, src_mac, src_ip, sport, dport, seq, ack, flags, seg_len)
        return -1
    st.tcb[c, T_LAST_RX] = now
    st.tcb[c, T_KA_SENT] = 0
    if st.tcb[c, T_STATE] == SYN_SENT:
        _input_syn_sent(st, c, b, t, doff, seq, ack, flags, win, now, src_mac)
    else:
        _input_synchronized(st, c, b, t + doff, dlen, seq, ack, flags, win, now)
    return c


@njit(cache=True)
def tcp_state(st, c: int) -> int:
    """Connection c's state (utcp_state.ESTABLISHED, ...), for compiled callers."""
    return st.tcb[c, T_STATE]
