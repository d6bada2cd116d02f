"""The stack's compiled kernels on crafted frames (no DPDK): ARP answers and resolution, checks on hostile input
(truncated, bad checksums, wrong lengths, garbage), the RST for a segment to no connection, TCP options."""
from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import ARP, Ether

from tickwire.netstack.utcp_arp import arp_set
from tickwire.netstack.utcp_stack import stack_step
from tickwire.netstack.utcp_state import (CFG_TX_COUNT, COUNTER_NAMES, ESTABLISHED, FRAME_SLOT, SYN_SENT, T_ISS,
                                          T_LPORT, ip_to_int, mac_to_int, new_state)
from tickwire.netstack.utcp_tcp import tcp_connect

OURS, PEER, GW = "198.18.7.1", "198.18.7.2", "198.18.7.2"
OUR_MAC, PEER_MAC = "02:74:75:00:00:01", "02:74:75:00:00:02"
NOW = 10**12


def stack(static_peer: bool = False, **limits: int):
    """A stack at OURS; static_peer adds the peer's MAC (no ARP round); limits go to new_state."""
    st = new_state(ip=ip_to_int(OURS), prefix_len=30, gateway=ip_to_int(GW), mac=mac_to_int(OUR_MAC), **limits)
    if static_peer:
        arp_set(st, ip_to_int(PEER), mac_to_int(PEER_MAC), True, 0)
    return st


def feed(st, *frames: bytes, now: int = NOW) -> None:
    pos = 0
    for i, f in enumerate(frames):
        st.rxbuf[pos:pos + len(f)] = np.frombuffer(f, np.uint8)
        st.rxoff[i], st.rxlen[i] = pos, len(f)
        pos += len(f)
    stack_step(st, len(frames), now)  # what the port loop runs per poll: input, timers, output


def sent(st) -> list[bytes]:
    out = [bytes(st.txbuf[i * FRAME_SLOT:i * FRAME_SLOT + st.txlen[i]]) for i in range(st.cfg[CFG_TX_COUNT])]
    st.cfg[CFG_TX_COUNT] = 0
    return out


def counters(st) -> dict[str, int]:
    return dict(zip(COUNTER_NAMES, st.ctr.tolist()))


def test_arp_request_for_us_is_answered_and_learnt() -> None:
    st = stack()
    feed(st, bytes(Ether(src=PEER_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=PEER_MAC, psrc=PEER, pdst=OURS)))
    (reply,) = sent(st)
    arp = Ether(reply)[ARP]
    assert (arp.op, arp.hwsrc, arp.psrc, arp.hwdst, arp.pdst) == (2, OUR_MAC, OURS, PEER_MAC, PEER)
    feed(st, bytes(Ether(src=PEER_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=PEER_MAC, psrc=PEER,
                                                                       pdst="198.18.7.3")))
    assert sent(st) == []  # not for us: no answer


def test_connect_resolves_then_sends_syn_with_options() -> None:
    st = stack()
    assert tcp_connect(st, 0, ip_to_int(PEER), 443, NOW) == 0
    (request,) = sent(st)
    assert Ether(request)[ARP].pdst == PEER and Ether(request).dst == "ff:ff:ff:ff:ff:ff"
    feed(st, bytes(Ether(src=PEER_MAC, dst=OUR_MAC) / ARP(op=2, hwsrc=PEER_MAC, psrc=PEER, hwdst=OUR_MAC,
                                                          pdst=OURS)))
    (syn,) = sent(st)
    pkt = Ether(syn)
    assert pkt.dst == PEER_MAC and pkt[TCP].flags == "S" and pkt[TCP].seq == st.tcb[0, T_ISS]
    opts = dict(pkt[TCP].options)
    assert opts["MSS"] == 1460 and opts["WScale"] == 3  # 256 KiB ring: 2**18 >> 3 is the first to fit 16 bits
    redo = Ether(syn)  # scapy recomputes both checksums when they are deleted: equal bytes mean ours were right
    del redo[IP].chksum, redo[TCP].chksum
    assert bytes(redo) == syn


def test_segment_for_no_connection_gets_a_reset() -> None:
    st = stack()
    seg = Ether(src=PEER_MAC, dst=OUR_MAC) / IP(src=PEER, dst=OURS) / TCP(sport=80, dport=50000, flags="A",
                                                                          seq=1000, ack=777)
    feed(st, bytes(seg))
    (rst,) = sent(st)
    tcp = Ether(rst)[TCP]
    assert tcp.flags == "R" and tcp.seq == 777 and (tcp.sport, tcp.dport) == (50000, 80)
    assert counters(st)["no_connection"] == 1


def test_bad_checksums_and_lengths_are_counted_not_processed() -> None:
    st = stack(static_peer=True)
    assert tcp_connect(st, 0, ip_to_int(PEER), 443, NOW) == 0
    sent(st)
    good = Ether(src=PEER_MAC, dst=OUR_MAC) / IP(src=PEER, dst=OURS) / TCP(sport=443, dport=int(st.tcb[0, T_LPORT]),
                                                                           flags="SA", seq=5, ack=st.tcb[0, T_ISS] + 1)
    raw = bytearray(bytes(good))
    raw[-3] ^= 0xFF  # TCP checksum field corrupted
    ip_bad = bytearray(bytes(good))
    ip_bad[24] ^= 0xFF  # IPv4 header checksum corrupted
    too_long = bytearray(bytes(good))
    struct.pack_into("!H", too_long, 16, 1500)  # total length beyond the frame
    feed(st, bytes(raw), bytes(ip_bad), bytes(too_long), bytes(good)[:30], b"\x00" * 5)
    c = counters(st)
    assert c["bad_checksum"] == 2 and c["malformed"] == 3
    assert st.tcb[0, 0] == SYN_SENT  # none of them was taken as the SYN-ACK
    feed(st, bytes(good))
    assert st.tcb[0, 0] == ESTABLISHED


@settings(max_examples=300, deadline=None)
@given(hst.lists(hst.binary(min_size=0, max_size=FRAME_SLOT), min_size=1, max_size=8), hst.integers(0, 60))
def test_garbage_never_crashes_the_stack(frames: list[bytes], cut: int) -> None:
    st = stack(static_peer=True)
    tcp_connect(st, 0, ip_to_int(PEER), 443, NOW)
    sent(st)
    base = bytes(Ether(src=PEER_MAC, dst=OUR_MAC) / IP(src=PEER, dst=OURS) /
                 TCP(sport=443, dport=int(st.tcb[0, T_LPORT]), flags="SA", seq=5, ack=st.tcb[0, T_ISS] + 1,
                     options=[("MSS", 1400), ("WScale", 7)]))
    mutated = [base[:14] + f for f in frames] + [base[:max(0, len(base) - cut)]]
    pos = 0
    for i, f in enumerate(mutated):
        st.rxbuf[pos:pos + len(f)] = np.frombuffer(f, np.uint8)
        st.rxoff[i], st.rxlen[i] = pos, len(f)
        pos += len(f)
    stack_step(st, len(mutated), NOW)
    assert st.cfg[CFG_TX_COUNT] <= st.txlen.size


@pytest.mark.dpdk  # tickwire.netstack.utcp loads the DPDK shims
def test_tls_endpoints_are_refused_with_the_reason() -> None:
    from tickwire.netstack.utcp import require_plaintext

    require_plaintext("ws://198.18.0.2:9000/ws/api/v2")
    with pytest.raises(ValueError, match="TLS is not available on the DPDK stack.*plaintext colo or proxy"):
        require_plaintext("wss://www.deribit.com/ws/api/v2")
    with pytest.raises(ValueError, match="needs a ws://"):
        require_plaintext("198.18.0.2:9000")
