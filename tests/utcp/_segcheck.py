"""An independent reader (dpkt) of a capture taken in the peer's namespace: is every segment the userspace stack
sent well formed, are its checksums right, do its sequence and acknowledgement numbers agree with the byte
streams? Nothing here shares code with tickwire.netstack."""
from __future__ import annotations

import socket
import struct
from pathlib import Path

import dpkt


def _fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _sum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def check(pcap: Path, stack_ip: str, peer_ip: str, lport: int, iss: int, up: bytes) -> dict:
    """Problems found in the stack's segments of the connection from lport (empty lists when all is right)."""
    ours, theirs = socket.inet_aton(stack_ip), socket.inet_aton(peer_ip)
    problems: list[str] = []
    data_segments = syn_options = 0
    peer_highest = None  # highest sequence number the peer has sent so far (end of its data, FIN included)
    peer_irs = None
    with pcap.open("rb") as f:
        for n, (_, frame) in enumerate(dpkt.pcap.Reader(f)):
            eth = dpkt.ethernet.Ethernet(frame)
            ip = eth.data
            if not isinstance(ip, dpkt.ip.IP) or not isinstance(ip.data, dpkt.tcp.TCP):
                continue
            raw_ip = bytes(frame[14:14 + ip.len])
            tcp = ip.data
            if ip.src == theirs and tcp.dport == lport:
                end = tcp.seq + len(tcp.data) + (1 if tcp.flags & (dpkt.tcp.TH_SYN | dpkt.tcp.TH_FIN) else 0)
                if tcp.flags & dpkt.tcp.TH_SYN:
                    peer_irs = tcp.seq
                rel = (end - peer_irs) & 0xFFFFFFFF if peer_irs is not None else 0
                peer_highest = rel if peer_highest is None else max(peer_highest, rel)
                continue
            if ip.src != ours or tcp.sport != lport:
                continue
            if ip.hl != 5 or len(raw_ip) != ip.len or _fold(_sum16(raw_ip[:20])) != 0xFFFF:
                problems.append(f"frame {n}: bad IPv4 header")
            seg = raw_ip[20:]
            pseudo = ours + theirs + struct.pack("!BBH", 0, 6, len(seg))
            if _fold(_sum16(pseudo + seg)) != 0xFFFF:
                problems.append(f"frame {n}: bad TCP checksum")
            if tcp.off < 5 or tcp.off * 4 > len(seg):
                problems.append(f"frame {n}: bad data offset {tcp.off}")
            if tcp.flags & dpkt.tcp.TH_SYN:
                opts = dict(dpkt.tcp.parse_opts(tcp.opts))
                if dpkt.tcp.TCP_OPT_MSS in opts and dpkt.tcp.TCP_OPT_WSCALE in opts and tcp.seq == iss:
                    syn_options += 1
                else:
                    problems.append(f"frame {n}: SYN without MSS/window scale or with another ISS")
            if tcp.flags & dpkt.tcp.TH_ACK and peer_irs is not None:
                acked = (tcp.ack - peer_irs) & 0xFFFFFFFF
                if peer_highest is None or acked > peer_highest:
                    problems.append(f"frame {n}: acknowledges {acked} but the peer sent up to {peer_highest}")
            if tcp.data and not tcp.flags & dpkt.tcp.TH_RST:
                offset = (tcp.seq - iss - 1) & 0xFFFFFFFF
                if offset >= (1 << 31) and len(tcp.data) == 1:
                    continue  # a keepalive byte below SND.UNA would show up here; none carry data from us
                data_segments += 1
                if bytes(tcp.data) != up[offset:offset + len(tcp.data)]:
                    problems.append(f"frame {n}: payload at stream offset {offset} differs from what was sent")
    return {"problems": problems, "data_segments": data_segments, "syn_options": syn_options}
