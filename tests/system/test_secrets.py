"""Secrets never reach logs, output or exceptions: `tickwire run` as a user runs it, output scanned for the key."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tickwire.deribit.session import Credentials, VenueError

# each run is a fresh process: the first one may compile the compiled path (minutes on a cold numba cache)
pytestmark = pytest.mark.timeout(900)

SIM_SECRET = "tickwire-sim-secret"  # the simulator's local default secret (what `tickwire run` authenticates with)


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tickwire.cli", "run", *args], capture_output=True, text=True,
                          timeout=400, env={**os.environ, **(env or {})})


def test_verbose_run_never_prints_the_secret_and_tickwire_kill_stops_it(tmp_path):
    """A real `tickwire run` (it starts its own simulator), killed from another process with `tickwire kill`."""
    env = {**os.environ, "TICKWIRE_CLIENT_ID": "tickwire-sim", "TICKWIRE_CLIENT_SECRET": SIM_SECRET,
           "TICKWIRE_RUNTIME_DIR": str(tmp_path)}
    # a long run that this test ends (SIGINT) once the kill switch fired: no race against a fixed duration
    proc = subprocess.Popen([sys.executable, "-m", "tickwire.cli", "run", "--duration", "600s", "--json", "--verbose"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        err_head = []
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline:  # bounded: until the session is up
            line = proc.stderr.readline()
            err_head.append(line)
            if "session ready" in line or not line:
                break
        kill = subprocess.run([sys.executable, "-m", "tickwire.cli", "kill"], capture_output=True, text=True,
                              env=env, timeout=120)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the engine logged that the kill switch fired
            line = proc.stderr.readline()
            err_head.append(line)
            if "kill switch: signal" in line or not line:
                break
        proc.send_signal(signal.SIGINT)
        out, err_tail = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    err = "".join(err_head) + err_tail
    assert proc.returncode == 0, err[-2000:]
    assert kill.returncode == 0 and "kill switch sent" in kill.stdout
    result = json.loads(out)
    assert "signal" in result["kill_reasons"] and result["open_orders_left"] == 0
    assert "session ready" in err and SIM_SECRET not in out + err + kill.stdout + kill.stderr


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
