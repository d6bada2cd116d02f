"""ARP (RFC 826) for the userspace stack: resolve next hops, answer requests for our address, static entries.

A lookup that misses creates a PENDING entry and sends a request; ``arp_timers`` repeats it every CFG_ARP_RETRY
until CFG_ARP_TRIES requests went unanswered (FAILED: connections to that next hop fail with EHOSTUNREACH).
Replies and requests addressed to us update the table (RFC 826's merge); static entries are never overwritten.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tickwire.netstack.utcp_ip import (BROADCAST_MAC, ETH_HLEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, rd16, rd32, rd48,
                                       tx_commit, tx_slot, wr16, wr32, wr48, write_eth)
from tickwire.netstack.utcp_state import (A_IP, A_MAC, A_SENT_AT, A_STATE, A_TRIES, ARP_FAILED, ARP_FREE,
                                          ARP_PENDING, ARP_RESOLVED, ARP_STATIC, CFG_ARP_RETRY, CFG_ARP_TRIES, CFG_IP,
                                          CFG_MAC, CTR_ARP_REPLY_TX, CTR_ARP_REQ_TX, CTR_ARP_RX, CTR_MALFORMED)

ARP_LEN = 28
ARP_REQUEST, ARP_REPLY = 1, 2
MIN_FRAME = 60


@njit(cache=True, _nrt=False)
def arp_find(st, ip: int) -> int:
    """Row of ip in the ARP table, or -1."""
    for i in range(st.arp.shape[0]):
        if st.arp[i, A_STATE] != ARP_FREE and st.arp[i, A_IP] == ip:
            return i
    return -1


@njit(cache=True, _nrt=False)
def _arp_row_for(st, ip: int) -> int:
    """The row of ip, else a free row, else the oldest non-static row (recycled)."""
    row = arp_find(st, ip)
    if row >= 0:
        return row
    oldest, oldest_at = -1, np.int64(2**62)
    for i in range(st.arp.shape[0]):
        state = st.arp[i, A_STATE]
        if state == ARP_FREE:
            return i
        if state != ARP_STATIC and st.arp[i, A_SENT_AT] < oldest_at:
            oldest, oldest_at = i, st.arp[i, A_SENT_AT]
    return oldest


@njit(cache=True, _nrt=False)
def arp_set(st, ip: int, mac: int, static: bool, now: int) -> bool:
    """Insert or update an entry; False when the table is full of static entries."""
    row = _arp_row_for(st, ip)
    if row < 0:
        return False
    if st.arp[row, A_STATE] == ARP_STATIC and not static:
        return True
    st.arp[row, A_IP] = ip
    st.arp[row, A_MAC] = mac
    st.arp[row, A_STATE] = ARP_STATIC if static else ARP_RESOLVED
    st.arp[row, A_SENT_AT] = now
    st.arp[row, A_TRIES] = 0
    return True


@njit(cache=True, _nrt=False)
def _send_arp(st, op: int, dst_mac: int, target_mac: int, target_ip: int) -> bool:
    at = tx_slot(st)
    if at < 0:
        return False
    b = st.txbuf
    mac = st.cfg[CFG_MAC]
    write_eth(b, at, dst_mac, mac, ETHERTYPE_ARP)
    p = at + ETH_HLEN
    wr16(b, p, 1)
    wr16(b, p + 2, ETHERTYPE_IPV4)
    b[p + 4] = 6
    b[p + 5] = 4
    wr16(b, p + 6, op)
    wr48(b, p + 8, mac)
    wr32(b, p + 14, st.cfg[CFG_IP])
    wr48(b, p + 18, target_mac)
    wr32(b, p + 24, target_ip)
    b[p + ARP_LEN:at + MIN_FRAME] = 0
    tx_commit(st, MIN_FRAME)
    return True


@njit(cache=True, _nrt=False)
def arp_resolve(st, ip: int, now: int) -> int:
    """The MAC of ip; -1 while resolving (a request goes out on the first miss), -2 when resolution failed."""
    row = arp_find(st, ip)
    if row >= 0:
        state = st.arp[row, A_STATE]
        if state == ARP_RESOLVED or state == ARP_STATIC:
            return st.arp[row, A_MAC]
        return -2 if state == ARP_FAILED else -1
    row = _arp_row_for(st, ip)
    if row < 0:
        return -2
    st.arp[row, A_IP] = ip
    st.arp[row, A_MAC] = 0
    st.arp[row, A_STATE] = ARP_PENDING
    st.arp[row, A_SENT_AT] = now
    st.arp[row, A_TRIES] = 1
    if _send_arp(st, ARP_REQUEST, BROADCAST_MAC, 0, ip):
        st.ctr[CTR_ARP_REQ_TX] += 1
    return -1


@njit(cache=True, _nrt=False)
def arp_retry_failed(st, ip: int) -> None:
    """Give a FAILED next hop a new round of requests (a new connect to it)."""
    row = arp_find(st, ip)
    if row >= 0 and st.arp[row, A_STATE] == ARP_FAILED:
        st.arp[row, A_STATE] = ARP_FREE


@njit(cache=True, _nrt=False)
def arp_timers(st, now: int) -> None:
    """Repeat requests of PENDING entries; mark them FAILED after CFG_ARP_TRIES."""
    for i in range(st.arp.shape[0]):
        if st.arp[i, A_STATE] != ARP_PENDING or now - st.arp[i, A_SENT_AT] < st.cfg[CFG_ARP_RETRY]:
            continue
        if st.arp[i, A_TRIES] >= st.cfg[CFG_ARP_TRIES]:
            st.arp[i, A_STATE] = ARP_FAILED
            continue
        st.arp[i, A_SENT_AT] = now
        st.arp[i, A_TRIES] += 1
        if _send_arp(st, ARP_REQUEST, BROADCAST_MAC, 0, st.arp[i, A_IP]):
            st.ctr[CTR_ARP_REQ_TX] += 1


@njit(cache=True, _nrt=False)
def arp_input(st, b: np.ndarray, at: int, n: int, now: int) -> bool:
    """Handle one ARP packet (``at`` = its first byte after the Ethernet header, ``n`` bytes).

    Returns True when it resolved an entry (callers then retry output that waited for it)."""
    st.ctr[CTR_ARP_RX] += 1
    if n < ARP_LEN or rd16(b, at) != 1 or rd16(b, at + 2) != ETHERTYPE_IPV4 or b[at + 4] != 6 or b[at + 5] != 4:
        st.ctr[CTR_MALFORMED] += 1
        return False
    op = rd16(b, at + 6)
    sender_mac, sender_ip = rd48(b, at + 8), rd32(b, at + 14)
    target_ip = rd32(b, at + 24)
    if sender_mac == BROADCAST_MAC or (sender_mac >> 40) & 1 or sender_ip == 0:
        return False  # a multicast/broadcast sender address is never learnt
    ours = target_ip == st.cfg[CFG_IP]
    row = arp_find(st, sender_ip)
    learnt = False
    if row >= 0 or ours:
        was_pending = row >= 0 and st.arp[row, A_STATE] != ARP_RESOLVED and st.arp[row, A_STATE] != ARP_STATIC
        arp_set(st, sender_ip, sender_mac, False, now)
        learnt = was_pending or row < 0
    if ours and op == ARP_REQUEST:
        if _send_arp(st, ARP_REPLY, sender_mac, sender_mac, sender_ip):
            st.ctr[CTR_ARP_REPLY_TX] += 1
    return learnt
