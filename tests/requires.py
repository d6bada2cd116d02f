"""What a test needs from the host, and what happens when it is missing.

By default a test whose facility is missing is skipped with the reason. ``TICKWIRE_REQUIRE`` (comma-separated
facility names, or ``all``) turns that skip into a failure for the named facilities: CI sets it so that a suite that
cannot run its root, DPDK, netns or tool tests fails instead of passing by skipping.

Facilities: ``root`` (euid 0), ``dpdk`` (the _tw_dpdk module), ``netns`` (root + ``ip netns``), ``tools`` (external
programs such as tcpdump, dpdk-testpmd, systemd-analyze).
"""
from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

FACILITIES = ("root", "dpdk", "netns", "tools")


def required() -> set[str]:
    """The facilities TICKWIRE_REQUIRE names (``all`` = every facility)."""
    names = {n.strip() for n in os.environ.get("TICKWIRE_REQUIRE", "").split(",") if n.strip()}
    return set(FACILITIES) if "all" in names else names


def missing(facility: str, reason: str) -> NoReturn:
    """Skip the running test for ``reason``, or fail it when TICKWIRE_REQUIRE names ``facility``."""
    if facility not in FACILITIES:
        raise ValueError(f"unknown facility {facility!r} (one of {', '.join(FACILITIES)})")
    if facility in required():
        pytest.fail(f"TICKWIRE_REQUIRE={facility} but this host cannot run the test: {reason}", pytrace=False)
    pytest.skip(reason)


def missing_reason(facility: str) -> str | None:
    """Why ``facility`` (root, dpdk or netns) is unavailable here, or None when it is available."""
    if facility == "root":
        return None if os.geteuid() == 0 else "needs root"
    if facility == "netns":
        if os.geteuid() != 0:
            return "needs root for network namespaces"
        return None if shutil.which("ip") else "needs iproute2 (`ip netns`)"
    if facility == "dpdk":
        from tickwire import native

        if native.available("_tw_dpdk"):
            return None
        return "tickwire._tw_dpdk not built: apt-get install dpdk libdpdk-dev dpdk-dev, then make install"
    raise ValueError(f"no availability check for {facility!r}")


def need(facility: str, why: str = "") -> None:
    """Skip (or fail under TICKWIRE_REQUIRE) unless ``facility`` is available; ``why`` says what the test does."""
    reason = missing_reason(facility)
    if reason:
        missing(facility, f"{why}: {reason}" if why else reason)


def need_tool(name: str, hint: str = "") -> str:
    """The path of program ``name``; skip (or fail under TICKWIRE_REQUIRE=tools) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        missing("tools", f"{name} not installed{f' ({hint})' if hint else ''}")
    return path
