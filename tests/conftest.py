"""Suite-wide pytest configuration: skips with a reason for tests whose host facility is missing."""
from __future__ import annotations

import os
import shutil

import pytest


def _dpdk_missing_reason() -> str | None:
    from tickwire import native

    if native.available("_tw_dpdk"):
        return None
    return "tickwire._tw_dpdk not built: apt-get install dpdk libdpdk-dev dpdk-dev, then make install"


def _netns_missing_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2 (`ip netns`)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reasons = {"dpdk": _dpdk_missing_reason, "netns": _netns_missing_reason}
    cache: dict[str, str | None] = {}
    for item in items:
        for marker, reason_of in reasons.items():
            if marker in item.keywords:
                if marker not in cache:
                    cache[marker] = reason_of()
                if cache[marker]:
                    item.add_marker(pytest.mark.skip(reason=cache[marker]))
