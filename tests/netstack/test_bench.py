"""Opt-in benchmarks (`pytest -m bench`), each with a smoke test that runs it for a fraction of a second."""
from __future__ import annotations

from pathlib import Path

import benchlib
import pytest


@pytest.mark.bench
def test_bench_decode_apply() -> None:
    figures = benchlib.bench_decode_apply(n=200_000, repeat=3)
    benchlib.show("decode + apply of a book change (msgs/s, latency µs)", figures)


@pytest.mark.bench
def test_bench_pcap_to_book(tmp_path: Path) -> None:
    path = tmp_path / "bench.pcap"
    benchlib.write_capture(path, 200_000)
    figures = benchlib.bench_pcap_to_book(path, scapy_packets=20_000)
    benchlib.show("pcap -> book (packets/s)", figures)


@pytest.mark.bench
def test_bench_jit_compile(tmp_path: Path) -> None:
    path = tmp_path / "small.pcap"
    benchlib.write_capture(path, 50)
    benchlib.show("JIT: import + replay in a fresh process (s)", benchlib.bench_jit(path, tmp_path / "numba-cache"))


@pytest.mark.bench
def test_bench_pass_call() -> None:
    benchlib.show("Python-side cost of one compiled-pass call (µs)", benchlib.bench_pass_call(n=200_000))


def test_smoke_decode_apply() -> None:
    figures = benchlib.bench_decode_apply(n=300, repeat=1)
    assert figures["ours"]["msgs_per_s"] > 0 and figures["levels_applied"] > 300
    assert set(figures) >= {"json", "orjson", "msgspec", "msgspec_struct", "ratio_vs_orjson"}


def test_smoke_pcap_to_book(tmp_path: Path) -> None:
    path = tmp_path / "smoke.pcap"
    benchlib.write_capture(path, 300)
    figures = benchlib.bench_pcap_to_book(path, scapy_packets=50)
    assert figures["messages"] == 300 and figures["ratio_vs_dpkt"] > 0 and figures["ratio_vs_scapy"] > 0


def test_smoke_jit_cached(tmp_path: Path) -> None:
    """The cached half only (the cold half recompiles every kernel: bench)."""
    path = tmp_path / "small.pcap"
    benchlib.write_capture(path, 20)
    figures = benchlib.bench_jit(path, None, cold=False)
    assert figures["cached_s"] > 0


def test_smoke_pass_call() -> None:
    figures = benchlib.bench_pass_call(n=200)
    assert figures["empty_read"]["latency_us"]["count"] == 200 and figures["ticker_frame"]["mean_us"] > 0
