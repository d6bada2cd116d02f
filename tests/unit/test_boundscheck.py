"""The byte-scanner differential tests once more with numba's bounds checking on (NUMBA_BOUNDSCHECK=1, in a
subprocess with its own NUMBA_CACHE_DIR: cached machine code does not record the flag). An out-of-bounds read in
a decoder then raises IndexError and fails a test instead of reading a neighbour's bytes and passing silently."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
DIFFERENTIAL = ["netstack/test_ws.py", "netstack/test_tcp.py", "netstack/test_tcp_pool.py",
                "netstack/test_pcap_packet.py", "deribit/test_json_decode.py", "deribit/test_json_encode.py",
                "deribit/test_sbe.py", "md/test_book.py", "multicast/test_mcast_feed.py"]
CANARY = """
import numpy as np
from numba import njit

@njit(cache=True)
def read(a, i):
    return a[i]

try:
    read(np.zeros(4, np.uint8), 4)
except IndexError:
    print("bounds checked")
"""


def _env() -> dict[str, str]:
    # per venv, so a second run reuses the bounds-checked machine code; `make clean` removes it with the venv
    return {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(Path(sys.prefix) / "numba-boundscheck")}


def test_bounds_checking_is_on_in_the_subprocess(tmp_path: Path) -> None:
    script = tmp_path / "canary.py"
    script.write_text(CANARY)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=_env(), timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "bounds checked", out.stdout + out.stderr


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_differential_tests_pass_with_bounds_checking() -> None:
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not bench",
                          *(str(TESTS / t) for t in DIFFERENTIAL)], capture_output=True, text=True, env=_env(),
                         cwd=TESTS.parent, timeout=3500)
    summary = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 60 and "skipped" not in summary, summary
