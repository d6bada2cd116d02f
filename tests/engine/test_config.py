"""Config: TOML into frozen msgspec Structs, every bad value gets an error that names its key."""
from __future__ import annotations

import pytest

from tickwire.config import ConfigError, EngineConfig, load, parse_duration


def test_defaults_without_a_file():
    cfg = load(None)
    assert cfg == EngineConfig()
    assert cfg.instruments == ("BTC-PERPETUAL",) and cfg.position_poll_ms == 100


def test_toml_file_and_overrides(tmp_path):
    path = tmp_path / "tickwire.toml"
    path.write_text('instruments = ["ETH-PERPETUAL"]\n[risk]\nmax_open_orders = 4\n[session]\nbook_interval = "100ms"\n')
    cfg = load(path, {"duration_s": 2.5, "venue": None})
    assert cfg.instruments == ("ETH-PERPETUAL",)
    assert cfg.risk.max_open_orders == 4 and cfg.session.book_interval == "100ms"
    assert cfg.duration_s == 2.5 and cfg.venue == "sim"


@pytest.mark.parametrize("text, words", [
    ("[risk]\nmax_open_orders = 'x'\n", "risk.max_open_orders"),
    ("[risk]\nmax_position = -1\n", "risk.max_position: must be > 0"),
    ("[risk]\nbogus = 1\n", "bogus"),
    ("venue = 'mainnet'\n", "venue"),
    ("instruments = ['btc perpetual']\n", "not a Deribit instrument"),
    ("[session]\nheartbeat_s = 5\n", "minimum is 10"),
    ("url = 'http://x'\n", "ws://HOST"),
    ("venue = 'deribit'\n", "takes no default risk limit: set risk.max_order_amount, risk.max_position"),
    ("venue = 'deribit'\n[risk]\nmax_order_amount = 10\nmax_position = 10\nmax_open_orders = 2\n"
     "price_band_bps = 50\n", "set risk.max_orders_per_s in the "),
    ("url = 'wss://www.deribit.com/ws/api/v2'\n", 'Deribit production: set venue = "deribit"'),
    ("venue = 'testnet'\nurl = 'wss://deribit.com/ws/api/v2'\n", 'Deribit production: set venue = "deribit"'),
    ("venue = 'testnet'\nsim_tls = true\n", "sim_tls: only for the embedded simulator"),
    ("[session]\ncafile = '/nonexistent/ca.pem'\n", "session.cafile: no such file"),
    ("[session]\nauth = 'password'\n", "session.auth"),
    ("strategy = 'nocolon'\n", "package.module:Name"),
    ("this is = = not toml", "not valid TOML"),
])
def test_bad_values_name_the_key(tmp_path, text, words):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=words.replace(".", r"\.").replace("(", r"\(")):
        load(path)


def test_missing_file():
    with pytest.raises(ConfigError, match="not found"):
        load("/nonexistent/tickwire.toml")


@pytest.mark.parametrize("text, seconds", [("30s", 30.0), ("500ms", 0.5), ("2m", 120.0), ("1.5", 1.5), ("1h", 3600.0)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "-1s", "0", "10x"])
def test_parse_duration_rejects(text):
    with pytest.raises(ConfigError, match="duration"):
        parse_duration(text)


LIVE = """venue = "deribit"
[risk]
max_order_amount = 10
max_position = 50
max_open_orders = 2
price_band_bps = 20
max_orders_per_s = 5
"""


def test_deribit_with_every_limit_written_is_accepted(tmp_path):
    path = tmp_path / "live.toml"
    path.write_text(LIVE)
    cfg = load(path, {"url": "wss://colo-gw.example/ws/api/v2"})
    assert cfg.venue == "deribit" and cfg.risk.max_position == 50 and cfg.url.startswith("wss://colo-gw")
    assert cfg.session.auth == "client_signature"  # the secret never crosses the wire by default


def test_cli_overrides_merge_into_a_table_of_the_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[session]\nheartbeat_s = 30\n")
    cafile = tmp_path / "ca.pem"
    cafile.write_text("x")
    cfg = load(path, {"session": {"cafile": str(cafile)}})
    assert cfg.session.heartbeat_s == 30 and cfg.session.cafile == str(cafile)
