"""TLS (OpenSSL on the compiled path) vs plaintext against `tickwire sim --tls` and `tickwire sim`, in one run."""
from __future__ import annotations

import pytest

from tickwire.bench.tls import METRICS, TRANSPORTS, markdown, run_tls_bench

# every round is a fresh engine (the first one may compile the compiled path: minutes on a cold numba cache)
pytestmark = pytest.mark.timeout(900)


@pytest.mark.bench
def test_bench_tls_vs_plaintext():
    bench = run_tls_bench(duration_s=20.0)
    print("\n" + markdown(bench))
    for metric in METRICS:
        for transport in TRANSPORTS:
            assert bench.summaries[metric][transport].count > 50, (metric, transport)
    print(f"TLS adds {bench.added_p50_us('tick to trade'):+.1f} us p50 to tick to trade (goal <= 5 us)")


def test_tls_bench_smoke():
    """A second per transport: both produce samples, the TLS one over a real TLS session."""
    bench = run_tls_bench(duration_s=2.0, rounds=1)
    assert bench.tls.startswith("TLSv1")
    for metric in METRICS:
        for transport in TRANSPORTS:
            assert bench.summaries[metric][transport].count > 0, (metric, transport)
    assert "| tick to trade | TLS adds (p50) |" in markdown(bench)
