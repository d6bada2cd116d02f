"""Secrets never reach logs, output or exceptions: `tickwire run` as a user runs it, output scanned for the key."""
from __future__ import annotations

import os
import subprocess
import sys

from tickwire.engine.session import Credentials, VenueError

SIM_SECRET = "tickwire-sim-secret"  # the simulator's local default secret (what `tickwire run` authenticates with)


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tickwire.cli", "run", *args], capture_output=True, text=True,
                          timeout=180, env={**os.environ, **(env or {})})


def test_verbose_run_never_prints_the_secret():
    out = _run("--duration", "2s", "--json", "--verbose",
               env={"TICKWIRE_CLIENT_ID": "tickwire-sim", "TICKWIRE_CLIENT_SECRET": SIM_SECRET})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "session ready" in out.stderr and '"latency_us"' in out.stdout  # it did authenticate and trade
    assert SIM_SECRET not in out.stdout + out.stderr


def test_refused_credentials_error_does_not_echo_the_secret():
    secret = "wrong-S3cret-7f3a9c"
    out = _run("--duration", "1s", "--verbose",
               env={"TICKWIRE_CLIENT_ID": "tickwire-sim", "TICKWIRE_CLIENT_SECRET": secret})
    assert out.returncode != 0
    assert "13004" in out.stderr  # invalid_credentials, reported
    assert secret not in out.stdout + out.stderr


def test_credentials_repr_and_errors_hide_the_secret():
    creds = Credentials("id", "hunter2-secret")
    assert "hunter2" not in repr(creds) + str(creds)
    err = VenueError("public/auth", 13004, "invalid_credentials")
    assert "hunter2" not in str(err)
