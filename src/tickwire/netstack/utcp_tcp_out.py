"""TCP segment output of the userspace stack: sequence arithmetic (mod 2**32), building segments into transmit
slots, what a connection may send now (SYN, data within the peer's window, FIN, ACK), retransmitting the first
segment, resets, and the RFC 6298 RTO arithmetic. Compiled (``cache=True``) over the ``UtcpState`` arrays."""
from __future__ import annotations

from numba import njit

from tickwire.netstack.utcp_arp import arp_resolve
from tickwire.netstack.utcp_ip import (
    ETH_HLEN, ETHERTYPE_IPV4, IP_HLEN, PROTO_TCP, copy_bytes, csum_add, csum_fold, pseudo_header_sum, tx_commit,
    tx_slot, wr16, wr32, write_eth, write_ipv4)
from tickwire.netstack.utcp_state import (
    CFG_IP, CFG_MAC, CFG_MSS, CFG_RTO_MAX, CFG_RTO_MIN, CFG_TIMEWAIT, CLOSED, CLOSING, CTR_RETRANSMITS, CTR_RST_TX,
    CTR_TX_SEGS, EINVAL, ENOTCONN, FIN_WAIT_1, LAST_ACK, SYN_SENT, TIME_WAIT, T_ACK_HOLD, T_ACK_NOW, T_ERROR,
    T_FIN_SEQ, T_ISS, T_LPORT, T_MSS, T_NEXTHOP, T_PROBE, T_RBUF_LEN, T_RCV_NXT, T_RCV_WS, T_RIP, T_RPORT, T_RTO,
    T_RTTVAR, T_RTT_SEQ, T_RTT_TS, T_RTX_AT, T_RTX_COUNT, T_SBUF_HEAD, T_SBUF_LEN, T_SBUF_SEQ, T_SND_MAX, T_SND_NXT,
    T_SND_UNA, T_SND_WND, T_SRTT, T_STATE, T_TW_AT)

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
TCP_HLEN = 20
SYN_OPT_LEN = 8  # MSS (4) + NOP + window scale (3)
MIN_FRAME = 60
DEFAULT_PEER_MSS = 536
MAX_WS = 14
SEQ_MASK = 0xFFFFFFFF
CLOCK_G_NS = 1_000_000  # RFC 6298's clock granularity G, as a floor under 4*RTTVAR


@njit(cache=True, inline="always", _nrt=False)
def seq_diff(a: int, b: int) -> int:
    """a - b as a signed 32-bit distance."""
    d = (a - b) & SEQ_MASK
    return d - (1 << 32) if d >= (1 << 31) else d


@njit(cache=True, inline="always", _nrt=False)
def seq_lt(a: int, b: int) -> bool:
    return seq_diff(a, b) < 0


@njit(cache=True, inline="always", _nrt=False)
def seq_le(a: int, b: int) -> bool:
    return seq_diff(a, b) <= 0


@njit(cache=True, inline="always", _nrt=False)
def seq_add(a: int, n: int) -> int:
    return (a + n) & SEQ_MASK


@njit(cache=True, _nrt=False)
def _window_field(st, c: int, syn: bool) -> int:
    free = st.rcv.shape[1] - st.tcb[c, T_RBUF_LEN]
    if syn:
        return min(free, 0xFFFF)
    return min(free >> st.tcb[c, T_RCV_WS], 0xFFFF)


@njit(cache=True, _nrt=False)
def build_segment(st, dst_mac: int, dst_ip: int, lport: int, rport: int, seq: int, ack: int, flags: int,
                  window: int, c: int, data_off: int, n: int, ws: int) -> bool:
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
        copy_bytes(b, p, ring, start, first)
        copy_bytes(b, p + first, ring, 0, n - first)
    acc = pseudo_header_sum(st.cfg[CFG_IP], dst_ip, PROTO_TCP, tcp_len)
    wr16(b, t + 16, csum_fold(csum_add(b, t, tcp_len, acc)))
    length = ETH_HLEN + IP_HLEN + tcp_len
    if length < MIN_FRAME:
        b[at + length:at + MIN_FRAME] = 0
        length = MIN_FRAME
    tx_commit(st, length)
    st.ctr[CTR_TX_SEGS] += 1
    return True


@njit(cache=True, _nrt=False)
def emit(st, c: int, seq: int, flags: int, data_off: int, n: int, now: int) -> bool:
    """A segment of connection c (its next hop resolved through ARP). False when it could not be built yet."""
    mac = arp_resolve(st, st.tcb[c, T_NEXTHOP], now)
    if mac < 0:
        return False
    syn = (flags & SYN) != 0
    ok = build_segment(st, mac, st.tcb[c, T_RIP], st.tcb[c, T_LPORT], st.tcb[c, T_RPORT], seq, st.tcb[c, T_RCV_NXT],
                flags, _window_field(st, c, syn), c, data_off, n, st.tcb[c, T_RCV_WS])
    if ok and flags & ACK:
        st.tcb[c, T_ACK_NOW] = 0
    return ok


@njit(cache=True, _nrt=False)
def reply_rst(st, dst_mac: int, src_ip: int, sport: int, dport: int, seq: int, ack: int, flags: int,
               seg_len: int) -> None:
    """RST for a segment that matches no connection (RFC 9293 3.10.7.1)."""
    if flags & ACK:
        build_segment(st, dst_mac, src_ip, dport, sport, ack, 0, RST, 0, -1, 0, 0, 0)
    else:
        build_segment(st, dst_mac, src_ip, dport, sport, 0, seq_add(seq, seg_len), RST | ACK, 0, -1, 0, 0, 0)
    st.ctr[CTR_RST_TX] += 1


@njit(cache=True, _nrt=False)
def _arm(st, c: int, now: int) -> None:
    if st.tcb[c, T_RTX_AT] == 0:
        st.tcb[c, T_RTX_AT] = now + st.tcb[c, T_RTO]


@njit(cache=True, _nrt=False)
def tcp_output(st, c: int, now: int) -> None:
    """Send what connection c may send now: the SYN, new or go-back-N data within the peer's window, the FIN,
    and a pending ACK."""
    s = st.tcb[c, T_STATE]
    if s == CLOSED:
        return
    if s == SYN_SENT:
        if st.tcb[c, T_SND_NXT] == st.tcb[c, T_ISS]:
            if emit(st, c, st.tcb[c, T_ISS], SYN, 0, 0, now):
                if st.tcb[c, T_RTX_COUNT] > 0:
                    st.ctr[CTR_RETRANSMITS] += 1
                st.tcb[c, T_SND_NXT] = st.tcb[c, T_SND_MAX] = seq_add(st.tcb[c, T_ISS], 1)
                _arm(st, c, now)
        return
    if s != TIME_WAIT:
        _output_data(st, c, now)
    if st.tcb[c, T_ACK_NOW] and not st.tcb[c, T_ACK_HOLD]:
        emit(st, c, st.tcb[c, T_SND_NXT], ACK, 0, 0, now)


@njit(cache=True, _nrt=False)
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
        if not emit(st, c, nxt, flags, seq_diff(nxt, tcb[c, T_SBUF_SEQ]), n, now):
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
        if emit(st, c, fin, FIN | ACK, 0, 0, now):
            if seq_lt(fin, tcb[c, T_SND_MAX]):
                st.ctr[CTR_RETRANSMITS] += 1
            tcb[c, T_SND_NXT] = seq_add(fin, 1)
            if seq_lt(tcb[c, T_SND_MAX], tcb[c, T_SND_NXT]):
                tcb[c, T_SND_MAX] = tcb[c, T_SND_NXT]
            _arm(st, c, now)
    if tcb[c, T_SND_MAX] != tcb[c, T_SND_UNA] or seq_lt(tcb[c, T_SND_NXT], data_end):
        _arm(st, c, now)  # outstanding data, or a shut window with data waiting (persist)


@njit(cache=True, _nrt=False)
def retransmit_first(st, c: int, now: int) -> None:
    """Resend the segment at SND.UNA (fast retransmit, NewReno partial ACK)."""
    tcb = st.tcb
    una = tcb[c, T_SND_UNA]
    data_end = seq_add(tcb[c, T_SBUF_SEQ], tcb[c, T_SBUF_LEN])
    tcb[c, T_RTT_TS] = 0  # Karn: no RTT sample from a retransmitted segment
    if seq_lt(una, data_end):
        n = min(tcb[c, T_MSS], seq_diff(data_end, una))
        if emit(st, c, una, ACK | PSH, seq_diff(una, tcb[c, T_SBUF_SEQ]), n, now):
            st.ctr[CTR_RETRANSMITS] += 1
    elif tcb[c, T_FIN_SEQ] == una:
        if emit(st, c, una, FIN | ACK, 0, 0, now):
            st.ctr[CTR_RETRANSMITS] += 1


@njit(cache=True, _nrt=False)
def drop(st, c: int, err: int) -> None:
    st.tcb[c, T_STATE] = CLOSED
    st.tcb[c, T_ERROR] = err
    st.tcb[c, T_RTX_AT] = 0


@njit(cache=True, _nrt=False)
def tcp_abort(st, c: int, now: int) -> int:
    """Reset connection c: a RST to the peer when synchronized, the slot CLOSED at once."""
    if c < 0 or c >= st.tcb.shape[0]:
        return -EINVAL
    s = st.tcb[c, T_STATE]
    if s != CLOSED and s != SYN_SENT and s != TIME_WAIT:
        mac = arp_resolve(st, st.tcb[c, T_NEXTHOP], now)
        if mac >= 0:
            build_segment(st, mac, st.tcb[c, T_RIP], st.tcb[c, T_LPORT], st.tcb[c, T_RPORT], st.tcb[c, T_SND_NXT], 0,
                          RST, 0, -1, 0, 0, 0)
            st.ctr[CTR_RST_TX] += 1
    drop(st, c, ENOTCONN)
    return 0


@njit(cache=True, _nrt=False)
def rtt_sample(st, c: int, r: int) -> None:
    """RFC 6298 (2.2)-(2.3): update SRTT/RTTVAR with sample r (ns), recompute RTO."""
    tcb = st.tcb
    if tcb[c, T_SRTT] == 0:
        tcb[c, T_SRTT] = r
        tcb[c, T_RTTVAR] = r // 2
    else:
        tcb[c, T_RTTVAR] = (3 * tcb[c, T_RTTVAR] + abs(tcb[c, T_SRTT] - r)) // 4
        tcb[c, T_SRTT] = (7 * tcb[c, T_SRTT] + r) // 8
    rto_from_srtt(st, c)


@njit(cache=True, _nrt=False)
def rto_from_srtt(st, c: int) -> None:
    tcb = st.tcb
    if tcb[c, T_SRTT] == 0:
        return
    rto = tcb[c, T_SRTT] + max(CLOCK_G_NS, 4 * tcb[c, T_RTTVAR])
    tcb[c, T_RTO] = min(max(rto, st.cfg[CFG_RTO_MIN]), st.cfg[CFG_RTO_MAX])


@njit(cache=True, _nrt=False)
def enter_time_wait(st, c: int, now: int) -> None:
    st.tcb[c, T_STATE] = TIME_WAIT
    st.tcb[c, T_TW_AT] = now + st.cfg[CFG_TIMEWAIT]
    st.tcb[c, T_RTX_AT] = 0
