"""TICKWIRE_REQUIRE turns a skip for a missing host facility into a failure (CI sets it: a suite that cannot run
its root, DPDK, netns or tool tests must not pass by skipping them)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import requires

TESTS = Path(__file__).resolve().parents[1]
NEEDS_A_MISSING_TOOL = """
import requires

def test_needs_a_tool():
    requires.need_tool("tickwire-no-such-tool-anywhere")
"""


def _run(tmp_path: Path, require: str) -> str:
    (tmp_path / "test_facility.py").write_text(NEEDS_A_MISSING_TOOL)
    env = {**os.environ, "PYTHONPATH": str(TESTS), "TICKWIRE_REQUIRE": require}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider", "--rootdir",
                          str(tmp_path), str(tmp_path / "test_facility.py")], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=120)
    return out.stdout


def test_missing_tool_skips_by_default_and_fails_when_required(tmp_path: Path) -> None:
    assert "1 skipped" in _run(tmp_path, "")
    assert "1 skipped" in _run(tmp_path, "root,dpdk")  # another facility required: still a skip
    failed = _run(tmp_path, "root,tools")
    assert "1 failed" in failed and "TICKWIRE_REQUIRE=tools" in failed and "tickwire-no-such-tool" in failed


def test_require_names_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKWIRE_REQUIRE", " root , netns,")
    assert requires.required() == {"root", "netns"}
    monkeypatch.setenv("TICKWIRE_REQUIRE", "all")
    assert requires.required() == set(requires.FACILITIES)
    with pytest.raises(ValueError, match="unknown facility"):
        requires.missing("gpu", "no GPU")


def test_ci_requires_every_facility() -> None:
    ci = (TESTS.parent / ".ci" / "run").read_text()
    assert "TICKWIRE_REQUIRE=root,dpdk,netns,tools" in ci
