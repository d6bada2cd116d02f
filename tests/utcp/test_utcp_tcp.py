"""The TCP state machine of the userspace stack on crafted segments with a controlled clock (no DPDK): reassembly
of out-of-order data, duplicate data, fast retransmit, RTO back-off to ETIMEDOUT, the peer's window and zero-window
probes, keepalive, FIN handling."""
from __future__ import annotations

import numpy as np
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from test_utcp_frames import NOW, OUR_MAC, OURS, PEER, PEER_MAC, counters, feed, sent, stack
from tickwire.netstack.utcp_stack import stack_step, stack_timers
from tickwire.netstack.utcp_state import (CLOSE_WAIT, CLOSED, ESTABLISHED, ETIMEDOUT, T_ERROR, T_ISS, T_LPORT,
                                          T_RTO, T_STATE, UTCP_EOF, ip_to_int)
from tickwire.netstack.utcp_tcp import tcp_connect, tcp_output, tcp_recv, tcp_send

PEER_ISS = 7_000_000
MS = 1_000_000


def segment(st, seq: int, ack: int, flags: str = "A", data: bytes = b"", window: int = 65535) -> bytes:
    return bytes(Ether(src=PEER_MAC, dst=OUR_MAC) / IP(src=PEER, dst=OURS) /
                 TCP(sport=443, dport=int(st.tcb[0, T_LPORT]), flags=flags, seq=seq, ack=ack, window=window) / data)


def established(window: int = 65535, ws: int = 0, **limits: int):
    st = stack(static_peer=True, **limits)
    assert tcp_connect(st, 0, ip_to_int(PEER), 443, NOW) == 0
    sent(st)
    iss = int(st.tcb[0, T_ISS])
    synack = Ether(src=PEER_MAC, dst=OUR_MAC) / IP(src=PEER, dst=OURS) / TCP(
        sport=443, dport=int(st.tcb[0, T_LPORT]), flags="SA", seq=PEER_ISS, ack=iss + 1, window=window,
        options=[("MSS", 1000), ("WScale", ws)])
    feed(st, bytes(synack))
    assert st.tcb[0, T_STATE] == ESTABLISHED
    (ack,) = sent(st)
    assert Ether(ack)[TCP].flags == "A" and Ether(ack)[TCP].ack == PEER_ISS + 1
    return st, iss


def data_len(seg: TCP) -> int:
    """Payload bytes by the IP header's total length (frames padded to 60 bytes carry Ethernet padding)."""
    return seg.underlayer.len - 4 * seg.underlayer.ihl - 4 * seg.dataofs


def tcp_of(frames: list[bytes]) -> list[TCP]:
    return [Ether(f)[TCP] for f in frames]


def poll(st) -> None:
    """A poll with no frame received (timers and output)."""
    stack_step(st, 0, NOW)


def recv_all(st) -> bytes:
    out = np.zeros(1 << 16, np.uint8)
    k = tcp_recv(st, 0, out, 0, out.size, NOW)
    return out[:max(k, 0)].tobytes()


def test_out_of_order_segments_are_reassembled_and_duplicates_dropped() -> None:
    st, iss = established()
    data = bytes(range(256)) * 12
    base = PEER_ISS + 1
    feed(st, segment(st, base + 1000, iss + 1, data=data[1000:2000]))
    feed(st, segment(st, base + 2000, iss + 1, data=data[2000:3072]))
    acks = tcp_of(sent(st))
    assert [a.ack for a in acks] == [base, base]  # a duplicate ACK per out-of-order segment
    assert recv_all(st) == b""
    feed(st, segment(st, base + 1500, iss + 1, data=data[1500:1800]))  # already held: a duplicate
    feed(st, segment(st, base, iss + 1, data=data[:1000]))
    poll(st)  # the ACK of in-order data leaves at the next poll when the application did not answer
    assert tcp_of(sent(st))[-1].ack == base + len(data)
    assert recv_all(st) == data
    feed(st, segment(st, base, iss + 1, data=data[:1000]))  # old data again: re-ACKed, not delivered
    assert tcp_of(sent(st))[-1].ack == base + len(data) and recv_all(st) == b""
    c = counters(st)
    assert c["out_of_order"] == 2 and c["duplicates"] == 2


def test_three_duplicate_acks_trigger_one_fast_retransmit() -> None:
    st, iss = established()
    payload = np.frombuffer(bytes(range(250)) * 16, np.uint8)
    assert tcp_send(st, 0, payload, 0, 4000, NOW) == 4000
    segs = tcp_of(sent(st))
    assert [len(s.payload) for s in segs] == [1000] * 4  # the peer's MSS, no Nagle: all at once
    feed(st, segment(st, PEER_ISS + 1, iss + 1001))  # the first segment arrived, the second was lost
    for _ in range(2):
        feed(st, segment(st, PEER_ISS + 1, iss + 1001))
    assert sent(st) == []  # two duplicates: not yet
    feed(st, segment(st, PEER_ISS + 1, iss + 1001))
    (again,) = tcp_of(sent(st))
    assert again.seq == iss + 1001 and bytes(again.payload) == payload[1000:2000].tobytes()
    assert counters(st)["fast_retransmits"] == 1
    feed(st, segment(st, PEER_ISS + 1, iss + 4001))  # everything acknowledged: nothing more to send
    assert sent(st) == []


def test_rto_backs_off_and_gives_up_with_etimedout() -> None:
    st, iss = established(rto_min_ms=10, rto_init_ms=100, rto_max_ms=1000, data_retries=3)
    payload = np.zeros(100, np.uint8)
    tcp_send(st, 0, payload, 0, 100, NOW)
    sent(st)
    now, rtos = NOW, []
    for _ in range(3):
        rto = int(st.tcb[0, T_RTO])
        rtos.append(rto)
        now += rto + 1
        stack_timers(st, now)
        tcp_output(st, 0, now)
        (again,) = tcp_of(sent(st))
        assert again.seq == iss + 1 and len(again.payload) == 100
    assert rtos == sorted(rtos) and rtos[1] == 2 * rtos[0]
    stack_timers(st, now + int(st.tcb[0, T_RTO]) + 1)
    assert st.tcb[0, T_STATE] == CLOSED and st.tcb[0, T_ERROR] == ETIMEDOUT
    assert tcp_of(sent(st))[-1].flags == "R"


def test_peer_window_limits_sending_and_a_zero_window_is_probed() -> None:
    st, iss = established(window=1500)
    payload = np.zeros(5000, np.uint8)
    tcp_send(st, 0, payload, 0, 5000, NOW)
    assert sum(len(s.payload) for s in tcp_of(sent(st))) == 1500
    feed(st, segment(st, PEER_ISS + 1, iss + 1501, window=0))
    assert sent(st) == []
    stack_timers(st, NOW + 10_000 * MS)
    tcp_output(st, 0, NOW + 10_000 * MS)
    (probe,) = tcp_of(sent(st))
    assert probe.seq == iss + 1501 and data_len(probe) == 1
    assert counters(st)["window_probes"] == 1


def test_keepalive_probes_then_times_out() -> None:
    st, iss = established(keepalive_idle_ms=1000, keepalive_interval_ms=100, keepalive_probes=2)
    stack_timers(st, NOW + 999 * MS)
    assert sent(st) == []
    stack_timers(st, NOW + 1000 * MS)
    (probe,) = tcp_of(sent(st))
    assert probe.seq == iss and probe.flags == "A" and data_len(probe) == 0  # SND.UNA - 1
    feed(st, segment(st, PEER_ISS + 1, iss + 1), now=NOW + 1000 * MS)  # answered: idle again
    stack_timers(st, NOW + 1100 * MS)
    assert sent(st) == []
    for t in (2000, 2100, 2200):
        stack_timers(st, NOW + t * MS)
    assert st.tcb[0, T_STATE] == CLOSED and st.tcb[0, T_ERROR] == ETIMEDOUT
    assert counters(st)["keepalives_sent"] == 3


def test_peer_fin_after_data_gives_eof_after_the_data() -> None:
    st, iss = established()
    feed(st, segment(st, PEER_ISS + 1, iss + 1, flags="FA", data=b"last words"))
    poll(st)
    assert tcp_of(sent(st))[-1].ack == PEER_ISS + 1 + 10 + 1
    assert st.tcb[0, T_STATE] == CLOSE_WAIT
    assert recv_all(st) == b"last words"
    assert tcp_recv(st, 0, np.zeros(10, np.uint8), 0, 10, NOW) == UTCP_EOF


def test_the_ack_of_a_response_rides_on_the_next_request() -> None:
    st, iss = established()
    feed(st, segment(st, PEER_ISS + 1, iss + 1, flags="PA", data=b"response"))
    assert sent(st) == []  # no pure ACK on the request/response path
    assert recv_all(st) == b"response"
    tcp_send(st, 0, np.frombuffer(b"next request", np.uint8), 0, 12, NOW)
    (request,) = tcp_of(sent(st))
    assert request.ack == PEER_ISS + 1 + 8 and bytes(request.payload) == b"next request"
    poll(st)
    assert sent(st) == []  # acknowledged already: nothing left to send
