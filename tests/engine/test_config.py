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
    ("[session]\nurl = 'http://x'\n", "ws:// or wss://"),
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
