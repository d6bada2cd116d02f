"""Suite-wide pytest configuration: host facilities (markers ``dpdk``, ``netns``, ``root``: skipped with a reason
when missing, failed under TICKWIRE_REQUIRE, see requires.py) and the fixtures several test directories share.
tests/ itself is on sys.path (pytest's rootdir conftest), so test files import the shared modules here by name."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import requires
from cpu_load import busy_cores
from _mcast_capture import CAPTURE, Payloads, read_payloads

_FACILITY_MARKERS = ("root", "dpdk", "netns")

# Compiled strategy passes (tickwire.engine.kernel_cache) in the venv, not the user's home: every test process and
# the engines they start share them, and `make clean` removes them with the venv.
os.environ.setdefault("TICKWIRE_CACHE_DIR", str(Path(sys.prefix) / "tickwire-cache"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--cpu-load", action="store_true",
                     help="run the tests with a busy loop on every core (tests/cpu_load.py; `make bench` does)")


@pytest.fixture(scope="session", autouse=True)
def _cpu_load(request: pytest.FixtureRequest) -> Iterator[None]:
    """With --cpu-load: every core busy for the whole session (a slow machine must not fail a test)."""
    if not request.config.getoption("--cpu-load"):
        yield
        return
    with busy_cores():
        yield


def pytest_runtest_setup(item: pytest.Item) -> None:
    for facility in _FACILITY_MARKERS:
        if facility in item.keywords:
            requires.need(facility)


@pytest.fixture(scope="session")
def capture() -> Payloads:
    """The real Deribit multicast capture (5,066 UDP packets)."""
    return read_payloads(CAPTURE)
