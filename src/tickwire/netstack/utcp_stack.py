"""The userspace stack's compiled pass over one batch: Ethernet -> ARP / IPv4 -> TCP in, then timers and output.

``stack_input`` takes the receive batch (``rxbuf``/``rxoff``/``rxlen``, n frames); every frame is checked before
use (lengths, IPv4 version/IHL/total length/header checksum, our MAC/IP, fragments) and a bad one is counted and
skipped. ``stack_step`` = input + timers + output, the whole per-poll work; the port loop (``utcp``) adds the
DPDK receive before it and the transmit after it.
"""
from __future__ import annotations

from numba import njit

from tickwire.netstack.utcp_arp import arp_input, arp_timers
from tickwire.netstack.utcp_ip import (BROADCAST_MAC, ETH_HLEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, IP_HLEN, PROTO_TCP,
                                       csum_add, csum_fold, rd16, rd32, rd48)
from tickwire.netstack.utcp_state import (CFG_IP, CFG_MAC, CTR_BAD_CSUM, CTR_FRAGMENTS, CTR_MALFORMED,
                                          CTR_NOT_FOR_US, CTR_RX_FRAMES, T_ACK_HOLD, T_ACK_NOW)
from tickwire.netstack.utcp_tcp import tcp_input, tcp_output, tcp_timers


@njit(cache=True, _nrt=False)
def _ipv4_input(st, b, at: int, n: int, src_mac: int, now: int) -> None:
    if n < IP_HLEN or b[at] >> 4 != 4:
        st.ctr[CTR_MALFORMED] += 1
        return
    ihl = (b[at] & 0x0F) * 4
    total = rd16(b, at + 2)
    if ihl < IP_HLEN or total < ihl or total > n:  # frames may carry Ethernet padding after `total`
        st.ctr[CTR_MALFORMED] += 1
        return
    if csum_fold(csum_add(b, at, ihl, 0)) != 0:
        st.ctr[CTR_BAD_CSUM] += 1
        return
    if rd32(b, at + 16) != st.cfg[CFG_IP]:
        st.ctr[CTR_NOT_FOR_US] += 1
        return
    if rd16(b, at + 6) & 0x3FFF:  # MF or a fragment offset: not reassembled (we send DF, MSS fits the MTU)
        st.ctr[CTR_FRAGMENTS] += 1
        return
    if b[at + 9] != PROTO_TCP:
        st.ctr[CTR_NOT_FOR_US] += 1
        return
    c = tcp_input(st, b, at + ihl, total - ihl, rd32(b, at + 12), src_mac, now)
    if c >= 0 and st.tcb[c, T_ACK_NOW]:
        tcp_output(st, c, now)  # immediate ACK (also a duplicate ACK per out-of-order segment)


@njit(cache=True, _nrt=False)
def stack_input(st, nframes: int, now: int) -> None:
    """Process frames 0..nframes-1 of the receive batch."""
    b = st.rxbuf
    mac = st.cfg[CFG_MAC]
    resolved = False
    for i in range(nframes):
        at = st.rxoff[i]
        n = st.rxlen[i]
        st.ctr[CTR_RX_FRAMES] += 1
        if n < ETH_HLEN or at < 0 or at + n > b.size:
            st.ctr[CTR_MALFORMED] += 1
            continue
        dst = rd48(b, at)
        if dst != mac and dst != BROADCAST_MAC:
            st.ctr[CTR_NOT_FOR_US] += 1
            continue
        ethertype = rd16(b, at + 12)
        if ethertype == ETHERTYPE_ARP:
            resolved |= arp_input(st, b, at + ETH_HLEN, n - ETH_HLEN, now)
        elif ethertype == ETHERTYPE_IPV4:
            _ipv4_input(st, b, at + ETH_HLEN, n - ETH_HLEN, rd48(b, at + 6), now)
        else:
            st.ctr[CTR_NOT_FOR_US] += 1
    if resolved:
        stack_output(st, now)  # segments that waited for a next hop's MAC


@njit(cache=True, _nrt=False)
def stack_timers(st, now: int) -> None:
    arp_timers(st, now)
    for c in range(st.tcb.shape[0]):
        tcp_timers(st, c, now)


@njit(cache=True, _nrt=False)
def stack_output(st, now: int) -> None:
    for c in range(st.tcb.shape[0]):
        tcp_output(st, c, now)


@njit(cache=True, _nrt=False)
def stack_step(st, nframes: int, now: int) -> None:
    """One poll's protocol work: the received frames, then timers, then whatever may be sent. ACKs of in-order
    data held during the previous poll (for the application's answer to carry) go out now."""
    for c in range(st.tcb.shape[0]):
        st.tcb[c, T_ACK_HOLD] = 0
    stack_input(st, nframes, now)
    stack_timers(st, now)
    stack_output(st, now)
