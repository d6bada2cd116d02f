"""Suite-wide pytest configuration: host facilities (markers ``dpdk``, ``netns``, ``root``: skipped with a reason
when missing, failed under TICKWIRE_REQUIRE, see requires.py) and the fixtures several test directories share.
tests/ itself is on sys.path (pytest's rootdir conftest), so test files import the shared modules here by name."""
from __future__ import annotations

import pytest

import requires
from _mcast_capture import CAPTURE, Payloads, read_payloads

_FACILITY_MARKERS = ("root", "dpdk", "netns")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for facility in _FACILITY_MARKERS:
        if facility in item.keywords:
            requires.need(facility)


@pytest.fixture(scope="session")
def capture() -> Payloads:
    """The real Deribit multicast capture (5,066 UDP packets)."""
    return read_payloads(CAPTURE)
