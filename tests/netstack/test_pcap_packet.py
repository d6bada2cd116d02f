"""pcap/pcapng reading (memory-mapped) and writing, and packet header parsing, against scapy-written files and
dpkt's independent parser; the real multicast pcapng; corrupt files give errors with byte offsets."""
from __future__ import annotations

import socket
import struct
from pathlib import Path

import dpkt
import numpy as np
import pytest
from scapy.all import IP, TCP, UDP, Dot1AD, Dot1Q, Ether, PcapNgWriter, Raw, wrpcap
from scapy.layers.l2 import CookedLinux

from tickwire.netstack.packet import N_COUNTS, N_KINDS, new_packets, parse_packets
from tickwire.netstack.pcap import PcapError, PcapWriter, read_capture
from tickwire.types import (
    LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_RAW, PKT_IP_FRAGMENT, PKT_MALFORMED, PKT_OTHER, PKT_TCP, PKT_UDP,
)

MAC = "02:00:00:00:00:01"
MULTICAST = Path(__file__).resolve().parents[1] / "data" / "deribit-multicast" / "sample_capture_v1_6.pcapng"


def _ip(a: str) -> int:
    return struct.unpack("!I", socket.inet_aton(a))[0]


def _frames() -> list:
    base = IP(src="127.0.0.1", dst="127.0.0.2")
    return [
        Ether(src=MAC, dst=MAC) / base / TCP(sport=40000, dport=8080, seq=4294967000, ack=5, flags="PA") / Raw(b"hello"),
        Ether(src=MAC, dst=MAC) / Dot1Q(vlan=42) / base / UDP(sport=5000, dport=6100) / Raw(b"x" * 100),
        Ether(src=MAC, dst=MAC) / Dot1AD(vlan=7) / Dot1Q(vlan=9) / base / TCP(flags="S", seq=1),
        Ether(src=MAC, dst=MAC) / IP(src="10.0.0.1", dst="10.0.0.2", options=[b"\x01\x01\x01\x00"]) / TCP(sport=1, dport=2) / b"opt",
        Ether(src=MAC, dst=MAC) / IP(src="10.0.0.1", dst="10.0.0.2", flags="MF", frag=0) / UDP() / Raw(b"f" * 64),
        Ether(src=MAC, dst=MAC) / IP(src="10.0.0.1", dst="10.0.0.2", frag=100) / Raw(b"tail"),
        Ether(src=MAC, dst=MAC, type=0x86DD) / Raw(b"\x60" + b"\x00" * 50),  # IPv6: not ours
        Ether(src=MAC, dst=MAC) / IP(src="1.2.3.4", dst="5.6.7.8") / UDP(sport=9, dport=10) / b"",  # empty UDP, padded frame
    ]


def _check_against_dpkt(cap, pk, frames_bytes: list[bytes], linktype: int) -> None:
    for i, raw in enumerate(frames_bytes):
        assert cap.packet(i) == raw
        r = pk[i]
        if linktype == LINKTYPE_ETHERNET:
            eth = dpkt.ethernet.Ethernet(raw)
            ip = eth.data
        else:
            ip = dpkt.sll.SLL(raw).data
        if not isinstance(ip, dpkt.ip.IP):
            assert r["kind"] == PKT_OTHER
            continue
        assert (r["src_ip"], r["dst_ip"]) == (_ip(socket.inet_ntoa(ip.src)), _ip(socket.inet_ntoa(ip.dst)))
        if ip.mf or ip.offset:
            assert r["kind"] == PKT_IP_FRAGMENT
            continue
        l4 = ip.data
        payload = cap.data[r["payload_off"]:r["payload_off"] + r["payload_len"]].tobytes()
        if isinstance(l4, dpkt.tcp.TCP):
            assert r["kind"] == PKT_TCP
            assert (r["sport"], r["dport"], r["seq"], r["ack"], r["tcp_flags"]) == (
                l4.sport, l4.dport, l4.seq, l4.ack, l4.flags)
            assert payload == bytes(l4.data)
        elif isinstance(l4, dpkt.udp.UDP):
            assert r["kind"] == PKT_UDP and (r["sport"], r["dport"]) == (l4.sport, l4.dport)
            assert payload == bytes(l4.data)


def _parse(cap) -> np.ndarray:
    pk = new_packets(len(cap))
    counts = np.zeros(N_COUNTS, np.int64)
    parse_packets(cap.data, cap.off, cap.caplen, cap.ts_ns, cap.linktype, pk, counts)
    assert counts[:N_KINDS].sum() == len(cap)  # the last slot counts offloaded checksums, not packets
    return pk


@pytest.mark.parametrize("fmt", ["scapy-pcap", "scapy-pcapng", "ours-us", "ours-ns"])
def test_read_and_parse_ethernet_vlan_options_fragments(tmp_path: Path, fmt: str) -> None:
    frames = _frames()
    for k, f in enumerate(frames):
        f.time = 1700000000 + k / 8
    raw = [bytes(f) for f in frames]
    path = tmp_path / "x.cap"
    if fmt == "scapy-pcap":
        wrpcap(str(path), frames)
    elif fmt == "scapy-pcapng":
        with PcapNgWriter(str(path)) as w:
            for f in frames:
                w.write(f)
    else:
        with PcapWriter(path, nanosecond=fmt == "ours-ns") as w:
            for k, r in enumerate(raw):
                w.write(1700000000 * 10**9 + k * 125_000_000, r)
    cap = read_capture(path)
    assert len(cap) == len(frames) and cap.error is None
    assert cap.ts_ns[3] == 1700000000 * 10**9 + 375_000_000
    pk = _parse(cap)
    _check_against_dpkt(cap, pk, raw, LINKTYPE_ETHERNET)
    assert pk[1]["vlan"] == 42 and pk[2]["vlan"] == 7
    assert list(pk["kind"][:8]) == [PKT_TCP, PKT_UDP, PKT_TCP, PKT_TCP, PKT_IP_FRAGMENT, PKT_IP_FRAGMENT, PKT_OTHER,
                                    PKT_UDP]
    assert pk[3]["payload_len"] == 3 and pk[7]["payload_len"] == 0  # options skipped; Ethernet padding excluded
    if fmt.startswith("ours"):  # tshark opens what we write
        import shutil
        import subprocess
        if shutil.which("tshark"):
            out = subprocess.run(["tshark", "-r", str(path)], capture_output=True, text=True, timeout=60)
            assert out.returncode == 0 and len(out.stdout.strip().splitlines()) == len(frames)


def test_linux_cooked_capture(tmp_path: Path) -> None:
    frames = [CookedLinux(proto=0x0800) / IP(src="127.0.0.1", dst="127.0.0.1") / TCP(dport=9) / b"sll",
              CookedLinux(proto=0x86DD) / Raw(b"\x60" * 40)]
    wrpcap(str(tmp_path / "sll.pcap"), frames)
    cap = read_capture(tmp_path / "sll.pcap")
    assert cap.linktype[0] == LINKTYPE_LINUX_SLL
    pk = _parse(cap)
    _check_against_dpkt(cap, pk, [bytes(f) for f in frames], LINKTYPE_LINUX_SLL)
    assert pk[0]["kind"] == PKT_TCP and pk[1]["kind"] == PKT_OTHER


def test_raw_ip_and_sll2_and_malformed(tmp_path: Path) -> None:
    ip_tcp = bytes(IP(src="127.0.0.1", dst="127.0.0.2") / TCP(sport=5, dport=6) / b"raw")
    with PcapWriter(tmp_path / "raw.pcap", linktype=LINKTYPE_RAW) as w:
        w.write(1, ip_tcp)
        w.write(2, ip_tcp[:10])  # cut IP header
        w.write(3, ip_tcp[:20] + b"\x00" * 4)  # TCP header cut
        w.write(4, ip_tcp[:-2])  # snaplen cut the payload: kept, flagged
    cap = read_capture(tmp_path / "raw.pcap")
    pk = _parse(cap)
    assert list(pk["kind"]) == [PKT_TCP, PKT_MALFORMED, PKT_MALFORMED, PKT_TCP]
    assert pk[3]["truncated"] == 1 and pk[3]["payload_len"] == 1
    sll2 = struct.pack("!HHIHBB8s", 0x0800, 0, 1, 772, 0, 6, b"\x00" * 8) + ip_tcp
    with PcapWriter(tmp_path / "sll2.pcap", linktype=276) as w:
        w.write(1, sll2)
    pk = _parse(read_capture(tmp_path / "sll2.pcap"))
    assert pk[0]["kind"] == PKT_TCP and pk[0]["dport"] == 6


def test_real_multicast_pcapng_matches_dpkt() -> None:
    cap = read_capture(MULTICAST)
    assert cap.format == "pcapng" and len(cap) == 5066
    pk = _parse(cap)
    with MULTICAST.open("rb") as f:
        ref = list(dpkt.pcapng.Reader(f))
    assert len(ref) == len(cap)
    for i in range(0, len(ref), 97):
        ts, raw = ref[i]
        assert cap.packet(i) == raw and abs(cap.ts_ns[i] - round(ts * 1e9)) < 1000
        udp = dpkt.ethernet.Ethernet(raw).data.data
        assert pk[i]["kind"] == PKT_UDP and pk[i]["dport"] == udp.dport
        assert cap.data[pk[i]["payload_off"]:pk[i]["payload_off"] + pk[i]["payload_len"]].tobytes() == udp.data
    assert cap.data.base is not None or isinstance(cap.data, np.memmap)  # a view of the file, not a copy


def test_corrupt_and_truncated_files_name_the_offset(tmp_path: Path) -> None:
    good = tmp_path / "g.pcap"
    with PcapWriter(good) as w:
        for k in range(3):
            w.write(k, b"\x00" * 60)
    data = good.read_bytes()
    (tmp_path / "t.pcap").write_bytes(data[:-10])
    with pytest.raises(PcapError, match=r"truncated packet data at byte offset 176"):
        read_capture(tmp_path / "t.pcap")
    cap = read_capture(tmp_path / "t.pcap", strict=False)
    assert len(cap) == 2 and "offset 176" in cap.error
    (tmp_path / "h.pcap").write_bytes(data[:24 + 76 + 5])
    with pytest.raises(PcapError, match="truncated record header at byte offset 100"):
        read_capture(tmp_path / "h.pcap")
    bad = bytearray(data)
    bad[24 + 8:24 + 12] = struct.pack("<I", 10**7)
    (tmp_path / "b.pcap").write_bytes(bytes(bad))
    with pytest.raises(PcapError, match="snap length at byte offset 24"):
        read_capture(tmp_path / "b.pcap")
    (tmp_path / "n.pcap").write_bytes(b"hello world, not a capture")
    with pytest.raises(PcapError, match="not a pcap/pcapng file"):
        read_capture(tmp_path / "n.pcap")
    ng = bytearray(MULTICAST.read_bytes()[:4000])
    (tmp_path / "ng.pcapng").write_bytes(bytes(ng))
    with pytest.raises(PcapError, match="byte offset"):
        read_capture(tmp_path / "ng.pcapng")
    ng[4:8] = struct.pack("<I", 13)  # section header length not a multiple of 4
    (tmp_path / "ng2.pcapng").write_bytes(bytes(ng))
    with pytest.raises(PcapError, match="bad block length at byte offset 0"):
        read_capture(tmp_path / "ng2.pcapng")
