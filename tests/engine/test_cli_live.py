"""`tickwire run` against a simulator that is already running, by URL, plaintext and ``--tls``: it trades with
the operator's key, refreshes its short-lived token and says which venue, account and limits are live; every bad
input (wrong or missing key, a certificate that does not verify, a URL that does not answer, live money without
explicit risk limits) is a clear message naming what to fix, exit code 2, and never the secret."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from tickwire.deribit import venue as venues

# the first run in a fresh checkout compiles the compiled path (minutes on a cold numba cache)
pytestmark = pytest.mark.timeout(900)

CLIENT_ID, SECRET = "live-test", "live-test-S3cret-91f2"


def _env(client_id: str | None = CLIENT_ID, secret: str | None = SECRET) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKWIRE_CLIENT_") and k != "CREDENTIALS_DIRECTORY"}
    env.update({k: v for k, v in (("TICKWIRE_CLIENT_ID", client_id), ("TICKWIRE_CLIENT_SECRET", secret)) if v})
    return env


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tickwire.cli", "run", *args], capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.fixture(scope="module", params=["plain", "tls"])
def sim(request):
    """`tickwire sim` with its own key and 3 s tokens (so that a run lives through several expiries)."""
    v = venues.start_sim(rate=50.0, tls=request.param == "tls",
                         extra=("--client-id", CLIENT_ID, "--client-secret", SECRET, "--token-ttl", "3"))
    yield v
    v.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_by_url_trades_refreshes_its_token_and_names_what_is_live(sim):
    cafile = ("--cafile", sim.cafile) if sim.cafile else ()
    out = _run("--url", sim.url, *cafile, "--duration", "8s", "--json", "--verbose", env=_env())
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    live = result["live"]
    assert live["venue"] == "sim" and live["url"] == sim.url and live["account"] == CLIENT_ID
    assert live["auth"] == "client_signature" and "trade:read_write" in live["scope"]
    assert live["tls"].startswith("TLSv1") == bool(sim.cafile)
    assert f"venue sim {sim.url}, account {CLIENT_ID} (client_signature), risk limits: max_order_amount=" in out.stderr
    counters = result["counters"]
    assert counters["token_refreshes"] >= 2 and counters["reconnects"] == 0 and counters["rejects"] == 0
    assert counters["orders_sent"] > 0 and result["latency_us"][0]["count"] > 0
    assert SECRET not in out.stdout + out.stderr


def test_wrong_key_stops_the_run_with_the_venues_code(sim):
    wrong = "wrong-S3cret-0c4e"
    cafile = ("--cafile", sim.cafile) if sim.cafile else ()
    out = _run("--url", sim.url, *cafile, "--duration", "5s", "--verbose", env=_env(secret=wrong))
    assert out.returncode == 2, out.stderr[-3000:]
    assert "public/auth: 13004 invalid_credentials" in out.stderr and "check the API key" in out.stderr
    assert wrong not in out.stdout + out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("missing", ["both", "secret"])
def test_missing_key_names_the_variables(sim, missing):
    env = _env(secret=None) if missing == "secret" else _env(None, None)
    out = _run("--url", sim.url, "--duration", "2s", env=env)
    assert out.returncode == 2
    words = "TICKWIRE_CLIENT_SECRET is not set" if missing == "secret" else "no API key: set TICKWIRE_CLIENT_ID"
    assert words in out.stderr and "Traceback" not in out.stderr


def test_certificate_that_does_not_verify_names_cafile():
    with venues.start_sim(rate=5.0, tls=True) as sim:  # its certificate is in no CA store
        out = _run("--url", sim.url, "--duration", "2s", env=_env())
    assert out.returncode == 2
    assert "does not verify (self-signed certificate)" in out.stderr and "--cafile" in out.stderr


@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_url_that_does_not_answer(scheme):
    url = f"{scheme}://127.0.0.1:{_closed_port()}/ws/api/v2"
    out = _run("--url", url, "--duration", "2s", env=_env())
    assert out.returncode == 2
    assert "does not answer" in out.stderr and "check the venue / url setting" in out.stderr
    assert SECRET not in out.stderr


def test_live_money_needs_every_risk_limit_in_the_config(tmp_path):
    out = _run("--venue", "deribit", "--duration", "2s", env=_env())
    assert out.returncode == 2
    assert "takes no default risk limit: set risk.max_order_amount, risk.max_position" in out.stderr
    cfg = tmp_path / "live.toml"
    cfg.write_text('venue = "deribit"\n[risk]\nmax_order_amount = 10\nmax_position = 20\nmax_open_orders = 2\n'
                   "price_band_bps = 10\nmax_orders_per_s = 2\n")
    out = _run("--config", str(cfg), env=_env(None, None))  # limits given: now the missing key is what stops it
    assert out.returncode == 2 and "no API key" in out.stderr
    out = _run("--url", "wss://www.deribit.com/ws/api/v2", env=_env(None, None))
    assert out.returncode == 2 and 'Deribit production: set venue = "deribit"' in out.stderr
