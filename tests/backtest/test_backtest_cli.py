"""`tickwire backtest` from the command line (typer's runner, in this process): JSON summary, files, errors."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import crafted
from test_backtest_fills import QUEUE
from tickwire.cli import app

pytestmark = pytest.mark.timeout(900)


def test_json_summary_and_output_files_are_deterministic(tmp_path):
    cap = crafted.write(tmp_path / "c.pcap", QUEUE)
    args = ["backtest", str(cap), "--strategy", "bt_strategies:OneBid", "--latency", "constant:1000",
            "--queue", "riskaverse", "--fees", "-0.0001,0.0005", "--json"]
    runs = []
    for k in range(2):
        out = tmp_path / f"out{k}"
        res = CliRunner().invoke(app, args + ["--out", str(out)])
        assert res.exit_code == 0, res.output
        doc = json.loads(res.output)
        assert doc.pop("wall_s") > 0
        runs.append((doc, (out / "summary.json").read_text(), (out / "fills.csv").read_text()))
        png = (out / "equity.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    assert runs[0] == runs[1]
    doc = runs[0][0]
    assert doc["fills"] == 2 and doc["filled_lots"] == 2 and doc["fill_ratio"] == 2.0
    assert runs[0][2].splitlines()[1:] == ["1700000000003000000,BT-1,0,200,1,1", "1700000000005000000,BT-1,0,200,1,1"]


@pytest.mark.parametrize("extra, words", [
    (["--fees", "x"], "MAKER,TAKER"), (["--queue", "fifo"], "queue model"), (["--latency", "poisson:3"],
                                                                            "constant:US"),
    (["--strategy", "nosuch.mod:X"], "cannot import"), (["--param", "size"], "NAME=NUMBER"),
])
def test_bad_options_exit_2_with_a_reason(tmp_path, extra, words):
    cap = crafted.write(tmp_path / "c.pcap", QUEUE)
    args = ["backtest", str(cap), "--strategy", "bt_strategies:OneBid"] + extra
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and words in res.output


def test_missing_and_corrupt_captures_are_errors_not_crashes(tmp_path):
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"\xd4\xc3\xb2\xa1garbage")
    for path in (tmp_path / "none.pcap", bad):
        res = CliRunner().invoke(app, ["backtest", str(path), "--strategy", "bt_strategies:OneBid"])
        assert res.exit_code == 2 and "tickwire backtest:" in res.output


def test_demo_market_maker_runs_on_a_crafted_capture(tmp_path):
    cap = crafted.write(tmp_path / "c.pcap", QUEUE)
    res = CliRunner().invoke(app, ["backtest", str(cap), "--strategy",
                                   "tickwire.engine.strategies.market_maker:MarketMaker", "--json",
                                   "--param", "half_spread=1", "--param", "requote=1"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["orders"] >= 2 and doc["messages"] == len(QUEUE)
