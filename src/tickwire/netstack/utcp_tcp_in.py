"""TCP segment input of the userspace stack (RFC 9293 3.10.7): the SYN-ACK, acceptability, RST/SYN checks
(RFC 5961), cumulative and duplicate ACKs (fast retransmit, NewReno), the peer's window, in-order and
out-of-order data, FIN, TIME_WAIT tuples. Compiled (``cache=True``) over the ``UtcpState`` arrays."""
from __future__ import annotations

import numpy as np
from numba import njit

from tickwire.netstack.utcp_ip import PROTO_TCP, copy_bytes, csum_add, csum_fold, pseudo_header_sum, rd16, rd32
from tickwire.netstack.utcp_state import (
    CFG_IP, CFG_MSS, CFG_RTO_INIT, CFG_TIMEWAIT, CLOSED, CLOSE_WAIT, CLOSING, CTR_BAD_CSUM, CTR_CHALLENGE_ACKS,
    CTR_DUP_ACKS, CTR_DUP_SEGS, CTR_FAST_RETRANSMITS, CTR_MALFORMED, CTR_NO_CONN, CTR_OOO_FULL, CTR_OOO_SEGS,
    CTR_RST_RX, CTR_RST_TX, CTR_RX_SEGS, ECONNREFUSED, ECONNRESET, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, LAST_ACK,
    SYN_SENT, TIME_WAIT, T_ACK_HOLD, T_ACK_NOW, T_DUPACKS, T_FIN_SEQ, T_IRS, T_ISS, T_KA_SENT, T_LAST_RX, T_LPORT,
    T_MSS, T_OOO_N, T_PEER_FIN, T_RBUF_HEAD, T_RBUF_LEN, T_RCV_NXT, T_RCV_WS, T_RECOVER, T_RIP, T_RPORT, T_RTO,
    T_RTT_SEQ, T_RTT_TS, T_RTX_AT, T_RTX_COUNT, T_SBUF_HEAD, T_SBUF_LEN, T_SBUF_SEQ, T_SND_MAX, T_SND_NXT,
    T_SND_UNA, T_SND_WL1, T_SND_WL2, T_SND_WND, T_SND_WS, T_STATE, T_TW_AT, W_EXPIRES, W_LPORT, W_RCV_NXT, W_RIP,
    W_RPORT, W_SND_NXT)
from tickwire.netstack.utcp_tcp_out import (
    FIN, SYN, RST, ACK, TCP_HLEN, MAX_WS, seq_diff, seq_lt, seq_le, seq_add, build_segment, reply_rst, retransmit_first,
    drop, rtt_sample, rto_from_srtt, enter_time_wait)


@njit(cache=True, _nrt=False)
def tcp_find(st, rip: int, rport: int, lport: int) -> int:
    for i in range(st.tcb.shape[0]):
        if (st.tcb[i, T_STATE] != CLOSED and st.tcb[i, T_LPORT] == lport and st.tcb[i, T_RPORT] == rport
                and st.tcb[i, T_RIP] == rip):
            return i
    return -1


@njit(cache=True, _nrt=False)
def _time_wait_input(st, src_mac: int, src_ip: int, sport: int, dport: int, flags: int, now: int) -> bool:
    """A segment for a parked TIME_WAIT tuple: RST forgets it, anything else is re-ACKed. False: no such tuple."""
    tw = st.tw
    for i in range(tw.shape[0]):
        if tw[i, W_LPORT] != dport or tw[i, W_RPORT] != sport or tw[i, W_RIP] != src_ip:
            continue
        if tw[i, W_EXPIRES] <= now or flags & RST:
            tw[i, W_LPORT] = 0
            return flags & RST != 0
        build_segment(st, src_mac, src_ip, dport, sport, tw[i, W_SND_NXT], tw[i, W_RCV_NXT], ACK, 0, -1, 0, 0, 0)
        return True
    return False


@njit(cache=True, _nrt=False)
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


@njit(cache=True, _nrt=False)
def _input_syn_sent(st, c: int, b: np.ndarray, t: int, doff: int, seq: int, ack: int, flags: int, win: int,
                    now: int, src_mac: int) -> None:
    tcb = st.tcb
    if flags & ACK:
        if seq_le(ack, tcb[c, T_ISS]) or seq_lt(tcb[c, T_SND_MAX], ack):
            if not flags & RST:
                build_segment(st, src_mac, tcb[c, T_RIP], tcb[c, T_LPORT], tcb[c, T_RPORT], ack, 0, RST, 0, -1, 0, 0, 0)
                st.ctr[CTR_RST_TX] += 1
            return
    if flags & RST:
        if flags & ACK:
            st.ctr[CTR_RST_RX] += 1
            drop(st, c, ECONNREFUSED)
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
        rtt_sample(st, c, now - tcb[c, T_RTT_TS])
    else:
        tcb[c, T_RTO] = max(st.cfg[CFG_RTO_INIT], tcb[c, T_RTO])  # RFC 6298 5.7 after a lost SYN
    tcb[c, T_RTT_TS] = 0
    tcb[c, T_RTX_COUNT] = 0
    tcb[c, T_RTX_AT] = 0
    tcb[c, T_STATE] = ESTABLISHED
    tcb[c, T_ACK_NOW] = 1


@njit(cache=True, _nrt=False)
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


@njit(cache=True, _nrt=False)
def _ooo_covered(st, c: int, start: int, end: int) -> bool:
    ooo = st.ooo[c]
    for i in range(st.tcb[c, T_OOO_N]):
        if seq_le(ooo[i, 0], start) and seq_le(end, ooo[i, 1]):
            return True
    return False


@njit(cache=True, _nrt=False)
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


@njit(cache=True, _nrt=False)
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
    copy_bytes(ring, pos, b, at, first)
    copy_bytes(ring, 0, b, at + first, n - first)
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


@njit(cache=True, _nrt=False)
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
        rtt_sample(st, c, now - tcb[c, T_RTT_TS])
        tcb[c, T_RTT_TS] = 0
    else:
        rto_from_srtt(st, c)  # a new ACK ends the back-off (RFC 6298 5.7 keeps it only until the next sample)
    tcb[c, T_RTX_COUNT] = 0
    tcb[c, T_DUPACKS] = 0
    if tcb[c, T_RECOVER] >= 0:
        if seq_lt(ack, tcb[c, T_RECOVER]):
            retransmit_first(st, c, now)  # NewReno partial ACK: the next hole
        else:
            tcb[c, T_RECOVER] = -1
    tcb[c, T_RTX_AT] = 0 if ack == tcb[c, T_SND_MAX] else now + tcb[c, T_RTO]


@njit(cache=True, _nrt=False)
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


@njit(cache=True, _nrt=False)
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
                drop(st, c, ECONNRESET)
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
            retransmit_first(st, c, now)
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
            enter_time_wait(st, c, now)
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


@njit(cache=True, _nrt=False)
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
        enter_time_wait(st, c, now)


@njit(cache=True, _nrt=False)
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
                reply_rst(st, src_mac, src_ip, sport, dport, seq, ack, flags, seg_len)
        return -1
    st.tcb[c, T_LAST_RX] = now
    st.tcb[c, T_KA_SENT] = 0
    if st.tcb[c, T_STATE] == SYN_SENT:
        _input_syn_sent(st, c, b, t, doff, seq, ack, flags, win, now, src_mac)
    else:
        _input_synchronized(st, c, b, t + doff, dlen, seq, ack, flags, win, now)
    return c
