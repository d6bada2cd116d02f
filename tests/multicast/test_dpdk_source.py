"""DPDK source: net_pcap replays the real capture through rx_burst into the same decoder and feed handler."""
from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _mcast_capture import CAPTURE

from tickwire.md.mcast_feed import replay_capture

pytestmark = pytest.mark.dpdk
CHILD = Path(__file__).parent / "children" / "dpdk_replay.py"


def run_child(args: dict, timeout: float = 120) -> dict:
    """One EAL per process: run the DPDK side in a child; always remove its /var/run/dpdk/<prefix>."""
    prefix = f"twmc-{secrets.token_hex(4)}"
    try:
        proc = subprocess.run([sys.executable, str(CHILD), json.dumps(dict(args, prefix=prefix))],
                              capture_output=True, text=True, timeout=timeout)
    finally:
        shutil.rmtree(Path("/var/run/dpdk") / prefix, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_net_pcap_replay_gives_the_file_readers_books() -> None:
    result = run_child({"capture": str(CAPTURE)})
    file_feed = replay_capture(str(CAPTURE))
    assert result["frames"] == 5066
    assert result["stats"] == file_feed.stats  # same packets, same decode, same recovery, same counts
    want = {name: file_feed.books.summary(slot) for slot, name in file_feed.names.items()}
    assert result["books"] == want
    assert all(book["valid"] for book in want.values()) and len(want) == 84
