"""The subprocess contract other parts rely on: `--port 0 --ready-json` prints one JSON line once listening,
the venue answers at the printed URLs with the printed credentials, and SIGTERM/SIGINT exit cleanly."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys

import pytest
from sim_wsclient import WsClient, ahttp


def _ready_sim(*args: str) -> tuple[subprocess.Popen[str], dict]:
    """The raw subprocess and its parsed ready line: this file tests that contract itself, so it does not go
    through tickwire.deribit.venue.start_sim (which every other test uses)."""
    proc = subprocess.Popen([sys.executable, "-m", "tickwire.sim", "--port", "0", "--ready-json", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail(f"simulator did not start: {proc.communicate()[1]}")
    return proc, json.loads(line)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_ready_json_serves_and_exits_cleanly(sig: signal.Signals) -> None:
    proc, info = _ready_sim("--rate", "50", "--faults", "reject=1")
    try:
        assert set(info) == {"url", "http", "client_id", "client_secret", "pid"}
        assert info["pid"] == proc.pid
        assert info["url"].startswith("ws://127.0.0.1:") and info["url"].endswith("/ws/api/v2")
        assert info["http"].startswith("http://127.0.0.1:") and info["http"].endswith("/api/v2")

        async def talk() -> None:
            async with await WsClient.connect(info["url"]) as client:
                auth = await client.result("public/auth", {"grant_type": "client_credentials",
                                                           "client_id": info["client_id"],
                                                           "client_secret": info["client_secret"]})
                assert auth["token_type"] == "bearer"
                assert (await client.result("public/test"))["version"]
                order = {"instrument_name": "BTC-PERPETUAL", "amount": 10, "price": 1000.0}
                assert (await client.call("private/buy", order))["error"]["code"] == 11030  # --faults reject=1
                assert (await client.result("private/buy", order))["order"]["order_state"] == "open"
            status, body = await ahttp(info["http"] + "/public/get_time")
            assert status == 200 and isinstance(body["result"], int)
        asyncio.run(talk())
        os.kill(proc.pid, sig)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert out == ""  # nothing after the ready line
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_bad_cli_arguments_are_clear_errors() -> None:
    for args, needle in ((["--instruments", "NOPE-1"], "unsupported instrument"),
                         (["--faults", "gap=2"], "gap"), (["--faults", "bogus=1"], "unknown fault"),
                         (["--port", "70000"], "port must be"), (["--tier", "9"], "tier must be"),
                         (["--rate", "-1"], "rate must be")):
        proc = subprocess.run([sys.executable, "-m", "tickwire.sim", *args], capture_output=True, text=True,
                              timeout=30)
        assert proc.returncode == 2 and needle in proc.stderr, (args, proc.stderr)


def test_tickwire_sim_command_is_registered() -> None:
    proc = subprocess.run([sys.executable, "-m", "tickwire.cli", "sim", "--help"], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0 and "--ready-json" in proc.stdout


def test_plain_start_prints_url_and_local_credentials() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "tickwire.sim", "--port", "0", "--rate", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[0].startswith("tickwire sim listening on ws://127.0.0.1:")
        assert "client_id=tickwire-sim client_secret=tickwire-sim-secret" in lines[2]
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
