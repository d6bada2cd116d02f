"""`tickwire run` / `kill` / `bench` refuse bad input with a clear message and exit code 2 (no traceback)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

TICKWIRE = [sys.executable, "-m", "tickwire.cli"]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TICKWIRE, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("args, words", [
    (("run", "--duration", "soon"), "duration"),
    (("run", "--strategy", "no.such:Thing"), "cannot import no.such"),
    (("run", "--instruments", "btc perp"), "not a Deribit instrument"),
    (("run", "--venue", "mainnet"), "venue"),
    (("bench", "--scenario", "latency", "--duration", "1s"), "unknown scenario"),
])
def test_bad_input_is_a_clear_error(args, words):
    out = _run(*args)
    assert out.returncode == 2, out.stderr
    assert words in out.stderr and "Traceback" not in out.stderr


def test_bad_config_file_names_the_key(tmp_path):
    cfg = tmp_path / "tickwire.toml"
    cfg.write_text("[risk]\nmax_open_orders = 0\n")
    out = _run("run", "--config", str(cfg))
    assert out.returncode == 2 and "risk.max_open_orders: must be > 0" in out.stderr


def test_kill_without_a_running_engine(tmp_path):
    out = _run("kill", env={"TICKWIRE_RUNTIME_DIR": str(tmp_path)})
    assert out.returncode == 1 and "no running engine" in out.stderr


def test_help_lists_the_engine_commands():
    out = _run("--help")
    assert out.returncode == 0 and all(c in out.stdout for c in ("run", "kill", "bench"))
