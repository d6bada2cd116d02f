"""The userspace TCP/IPv4 stack's state: one namedtuple of preallocated numpy arrays, and the index constants.

Every compiled function of ``utcp_*`` takes this ``UtcpState`` as its first argument and touches nothing else:
no allocation and no Python object after ``new_state``. They compile with ``_nrt=False`` (no numba runtime): with
it, every call between two of them increfs and decrefs each of the 18 arrays (an idle poll cost 6 us instead of
0.5 us), and without it nothing can allocate by mistake (compiling such code fails). Integers are int64 (sequence numbers hold uint32 values,
compared modulo 2**32 by ``utcp_tcp.seq_lt`` and friends); MACs are 48-bit integers, IPv4 addresses 32-bit.

Layout: ``cfg`` (configuration and a few stack-wide variables, CFG_*), ``ctr`` (counters, CTR_*), ``tcb``
(one row per connection, T_*), ``snd``/``rcv`` (per-connection byte rings), ``ooo`` (per-connection out-of-order
intervals ``[start_seq, end_seq)``), ``arp`` (A_*), ``tw`` (TIME_WAIT tuples, W_*), the transmit batch (``txbuf``
slots of FRAME_SLOT bytes, ``txlen``) and the receive batch (``rx*``, filled by ``_dpdk_loops.rx_into_batch``).
"""
from __future__ import annotations

import ipaddress
from collections import namedtuple

import numpy as np

UtcpState = namedtuple("UtcpState", [
    "cfg", "ctr", "tcb", "snd", "rcv", "ooo", "arp", "tw",
    "txbuf", "txoff", "txlen", "rxbuf", "rxoff", "rxlen", "rxstamp", "rxstate", "mbufs", "scratch",
])

# --- cfg ---------------------------------------------------------------------------------------------------
(CFG_IP, CFG_MASK, CFG_GW, CFG_MAC, CFG_MSS, CFG_RTO_MIN, CFG_RTO_MAX, CFG_RTO_INIT, CFG_KA_IDLE, CFG_KA_INTVL,
 CFG_KA_PROBES, CFG_TIMEWAIT, CFG_NEXT_PORT, CFG_ISN_KEY, CFG_ARP_RETRY, CFG_ARP_TRIES, CFG_TX_COUNT, CFG_IP_ID,
 CFG_SYN_RETRIES, CFG_DATA_RETRIES, CFG_PORT, CFG_QUEUE, CFG_POOL, CFG_TX_FULL, CFG_N) = range(25)

# --- counters ------------------------------------------------------------------------------------------------
(CTR_RX_FRAMES, CTR_TX_FRAMES, CTR_RX_SEGS, CTR_TX_SEGS, CTR_RETRANSMITS, CTR_FAST_RETRANSMITS, CTR_RTO_EVENTS,
 CTR_OOO_SEGS, CTR_DUP_SEGS, CTR_DUP_ACKS, CTR_BAD_CSUM, CTR_MALFORMED, CTR_NOT_FOR_US, CTR_NO_CONN, CTR_RST_RX,
 CTR_RST_TX, CTR_ARP_REQ_TX, CTR_ARP_REPLY_TX, CTR_ARP_RX, CTR_KEEPALIVE_TX, CTR_WINDOW_PROBES, CTR_TX_DROPPED,
 CTR_FRAGMENTS, CTR_OOO_FULL, CTR_CHALLENGE_ACKS, CTR_TW_REUSED, CTR_N) = range(27)

COUNTER_NAMES = ("rx_frames", "tx_frames", "rx_segments", "tx_segments", "retransmits", "fast_retransmits",
                 "rto_events", "out_of_order", "duplicates", "dup_acks", "bad_checksum", "malformed", "not_for_us",
                 "no_connection", "rst_received", "rst_sent", "arp_requests_sent", "arp_replies_sent",
                 "arp_received", "keepalives_sent", "window_probes", "tx_dropped", "ip_fragments",
                 "out_of_order_full", "challenge_acks", "time_wait_reused")

# --- TCB -----------------------------------------------------------------------------------------------------
(T_STATE, T_LPORT, T_RIP, T_RPORT, T_NEXTHOP, T_ISS, T_SND_UNA, T_SND_NXT, T_SND_MAX, T_SND_WND, T_SND_WL1,
 T_SND_WL2, T_SND_WS, T_RCV_WS, T_MSS, T_IRS, T_RCV_NXT, T_SBUF_SEQ, T_SBUF_HEAD, T_SBUF_LEN, T_RBUF_HEAD,
 T_RBUF_LEN, T_OOO_N, T_SRTT, T_RTTVAR, T_RTO, T_RTX_AT, T_RTX_COUNT, T_RTT_SEQ, T_RTT_TS, T_DUPACKS, T_RECOVER,
 T_FIN_SEQ, T_PEER_FIN, T_ERROR, T_LAST_RX, T_KA_SENT, T_KA_AT, T_TW_AT, T_ACK_NOW, T_PROBE, T_CLOSE_REQ,
 T_ACK_HOLD, T_N) = range(44)

# TCP states (RFC 9293 names; a client never LISTENs)
(CLOSED, SYN_SENT, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSING, TIME_WAIT, CLOSE_WAIT, LAST_ACK) = range(9)
STATE_NAMES = ("CLOSED", "SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSING", "TIME_WAIT",
               "CLOSE_WAIT", "LAST_ACK")

# --- ARP table -----------------------------------------------------------------------------------------------
A_IP, A_MAC, A_STATE, A_SENT_AT, A_TRIES, A_N = range(6)
ARP_FREE, ARP_PENDING, ARP_RESOLVED, ARP_STATIC, ARP_FAILED = range(5)

# --- TIME_WAIT tuples kept after their connection slot was reused ---------------------------------------------
W_LPORT, W_RIP, W_RPORT, W_EXPIRES, W_SND_NXT, W_RCV_NXT, W_N = range(7)

# errors a connection reports (negative in API returns); EOF is a clean close by the peer, all data read
UTCP_EOF = -1
EINVAL, ENOBUFS, EISCONN, ENOTCONN, ECONNRESET, ETIMEDOUT, ECONNREFUSED, EHOSTUNREACH, EPIPE = (
    22, 105, 106, 107, 104, 110, 111, 113, 32)

FRAME_SLOT = 1536  # one Ethernet frame (1514 bytes at MTU 1500) per transmit slot
EPHEMERAL_LO, EPHEMERAL_HI = 49152, 65535


def new_state(*, ip: int, prefix_len: int, gateway: int, mac: int, mtu: int = 1500, max_conns: int = 4,
              snd_bytes: int = 1 << 18, rcv_bytes: int = 1 << 18, ooo_slots: int = 32, arp_slots: int = 16,
              tw_slots: int = 16, tx_frames: int = 64, rx_frames: int = 256, burst: int = 32,
              rto_min_ms: int = 200, rto_max_ms: int = 60_000, rto_init_ms: int = 1000, keepalive_idle_ms: int = 10_000,
              keepalive_interval_ms: int = 1000, keepalive_probes: int = 5, time_wait_ms: int = 2000,
              arp_retry_ms: int = 200, arp_tries: int = 10, syn_retries: int = 6, data_retries: int = 15,
              isn_key: int = 0, port: int = 0, queue: int = 0, pool: int = 0) -> UtcpState:
    """Allocate a stack for one port: our address (``ip``/``prefix_len``, ``gateway``, ``mac``) and limits.

    Timers are in milliseconds here and nanoseconds inside. ``port``/``queue``/``pool`` are the DPDK handles the
    port loop sends and receives with (unused by the pure kernels).
    """
    if not 576 <= mtu <= 1500:
        raise ValueError(f"mtu {mtu} outside 576..1500 (one frame per transmit slot)")
    if not 0 <= prefix_len <= 32:
        raise ValueError(f"prefix length {prefix_len} outside 0..32")
    for name, value in (("snd_bytes", snd_bytes), ("rcv_bytes", rcv_bytes)):
        if not 4096 <= value <= 1 << 30:
            raise ValueError(f"{name} {value} outside 4096..2**30")
    if not 0 < rto_min_ms <= rto_init_ms <= rto_max_ms:
        raise ValueError("need 0 < rto_min_ms <= rto_init_ms <= rto_max_ms")
    ms = 1_000_000
    cfg = np.zeros(CFG_N, np.int64)
    cfg[CFG_IP], cfg[CFG_GW], cfg[CFG_MAC] = ip, gateway, mac
    cfg[CFG_MASK] = (0xFFFFFFFF << (32 - prefix_len)) & 0xFFFFFFFF if prefix_len else 0
    cfg[CFG_MSS] = mtu - 40
    cfg[CFG_RTO_MIN], cfg[CFG_RTO_MAX], cfg[CFG_RTO_INIT] = rto_min_ms * ms, rto_max_ms * ms, rto_init_ms * ms
    cfg[CFG_KA_IDLE], cfg[CFG_KA_INTVL] = keepalive_idle_ms * ms, keepalive_interval_ms * ms
    cfg[CFG_KA_PROBES], cfg[CFG_TIMEWAIT] = keepalive_probes, time_wait_ms * ms
    cfg[CFG_NEXT_PORT] = EPHEMERAL_LO + (isn_key % (EPHEMERAL_HI - EPHEMERAL_LO))
    cfg[CFG_ISN_KEY] = isn_key & 0x7FFFFFFFFFFFFFFF
    cfg[CFG_ARP_RETRY], cfg[CFG_ARP_TRIES] = arp_retry_ms * ms, arp_tries
    cfg[CFG_SYN_RETRIES], cfg[CFG_DATA_RETRIES] = syn_retries, data_retries
    cfg[CFG_PORT], cfg[CFG_QUEUE], cfg[CFG_POOL] = port, queue, pool
    frame_cap = rx_frames * FRAME_SLOT
    return UtcpState(
        cfg=cfg, ctr=np.zeros(CTR_N, np.int64), tcb=np.zeros((max_conns, T_N), np.int64),
        snd=np.zeros((max_conns, snd_bytes), np.uint8), rcv=np.zeros((max_conns, rcv_bytes), np.uint8),
        ooo=np.zeros((max_conns, ooo_slots, 2), np.int64), arp=np.zeros((arp_slots, A_N), np.int64),
        tw=np.zeros((tw_slots, W_N), np.int64),
        txbuf=np.zeros(tx_frames * FRAME_SLOT, np.uint8),
        txoff=np.arange(tx_frames, dtype=np.int64) * FRAME_SLOT, txlen=np.zeros(tx_frames, np.int32),
        rxbuf=np.zeros(frame_cap, np.uint8), rxoff=np.zeros(rx_frames, np.int64),
        rxlen=np.zeros(rx_frames, np.int32), rxstamp=np.zeros(rx_frames, np.int64),
        rxstate=np.zeros(4, np.uint64), mbufs=np.zeros(burst, np.uint64), scratch=np.zeros(tx_frames, np.uint64),
    )


def ip_to_int(ip: str) -> int:
    """Dotted IPv4 -> the 32-bit integer the state holds."""
    return int(ipaddress.IPv4Address(ip))


def mac_to_int(mac: str) -> int:
    """aa:bb:cc:dd:ee:ff -> the 48-bit integer the state holds."""
    parts = mac.split(":")
    if len(parts) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return int("".join(f"{int(p, 16):02x}" for p in parts), 16)
