"""The binary log: records pushed by the engine are formatted by the writer process; a full ring refuses and
counts; a dead writer makes the engine stop quoting and say why."""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from tickwire.config import EngineConfig
from tickwire.engine.binlog import (
    LOG_GAP, LOG_REFUSED, LOG_STAGES, RECORD_WORDS, BinLogWriter, binlog_put, binlog_stages, format_record,
)
from tickwire.engine.engine import Engine, Instrument
from tickwire.engine.probes import Probes
from tickwire.engine.strategy import Strategy
from tickwire.engine import risk
from tickwire.types import C_KILLS, N_STAGES

pytestmark = pytest.mark.timeout(900)  # the first Engine in a process compiles its hot pass


def _wait(cond, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert cond()


def test_the_writer_formats_every_record_off_the_engine(tmp_path):
    path = tmp_path / "engine.log"
    log = BinLogWriter(path, slots=64)
    probes = Probes(8)
    probes.stages[0, :N_STAGES] = np.arange(100, 100 + N_STAGES)
    probes.count[0]["passes"] = 1
    assert binlog_stages(log.words, log.rec, probes.stages, probes.passes)
    assert log.put(LOG_REFUSED, 10028)
    assert log.put(LOG_GAP, 2, 41, 43)
    log.close()
    lines = path.read_text().splitlines()
    assert "recv=100 decoded=101 book=102 strategy=103 risk=104 encoded=105 sent=106" in lines[0]
    assert lines[1].endswith("venue refused a request: code 10028")
    assert lines[2].endswith("book gap inst=2 expected prev_change_id=41 got=43")
    assert lines[-1] == "# binlog closed: 0 record(s) refused because the ring was full"


def test_an_unknown_kind_is_rendered_raw_not_dropped():
    rec = np.zeros(RECORD_WORDS, np.uint64)
    rec[0], rec[1], rec[2] = 99, 5, 7
    assert format_record(rec, 0, 1.0).startswith("5 unknown record kind 99: 7 0")


def test_a_stalled_writer_fills_the_ring_and_the_refusals_are_counted(tmp_path):
    log = BinLogWriter(tmp_path / "engine.log", slots=16)
    os.kill(log.process.pid, signal.SIGSTOP)
    try:
        args = np.arange(3, dtype=np.uint64)
        results = [binlog_put(log.words, log.rec, LOG_STAGES, args) for _ in range(40)]
        assert sum(results) == 16 and log.dropped() == 24
    finally:
        os.kill(log.process.pid, signal.SIGCONT)
        log.close()
    assert (tmp_path / "engine.log").read_text().splitlines()[-1].startswith("# binlog closed: 24 record(s)")
    assert log.dropped() == 24  # still known after close


def test_a_dead_writer_stops_quoting_and_says_why(tmp_path):
    info = {"instrument_name": "BTC-PERPETUAL", "tick_size": 0.5, "min_trade_amount": 10.0,
            "settlement_currency": "BTC", "base_currency": "BTC"}
    engine = Engine(EngineConfig(), [Instrument(info)], Strategy, "twtest-")
    engine.binlog = BinLogWriter(tmp_path / "engine.log", slots=16)
    try:
        engine._check_binlog()
        assert not engine.kill_reasons
        os.kill(engine.binlog.process.pid, signal.SIGKILL)
        _wait(lambda: not engine.binlog.alive())
        engine._check_binlog()
        engine._check_binlog()  # once
        assert engine.kill_reasons == {"binlog writer died"}
        assert int(engine.counters[C_KILLS]) == 1
        assert risk.killed(engine.rstate)  # risk refuses every new order from now on
    finally:
        engine.binlog.close(timeout_s=1)


@pytest.mark.parametrize("slots", [3, 0])
def test_a_bad_ring_size_is_refused(tmp_path, slots):
    from tickwire.netstack.ring import RingError

    with pytest.raises(RingError):
        BinLogWriter(tmp_path / "x.log", slots=slots)


def test_the_writer_exits_when_the_engine_dies_without_closing(tmp_path):
    import multiprocessing as mp

    def engine(path: str, out) -> None:
        log = BinLogWriter(path, slots=16)
        out.send(log.process.pid)
        log.put(LOG_REFUSED, 1)
        os._exit(1)  # no close()

    rx, tx = mp.get_context("fork").Pipe(duplex=False)
    proc = mp.get_context("fork").Process(target=engine, args=(str(tmp_path / "engine.log"), tx))
    proc.start()
    writer_pid = rx.recv()
    proc.join(30)

    def gone() -> bool:
        try:
            os.kill(writer_pid, 0)
        except ProcessLookupError:
            return True
        return False

    _wait(gone, 30.0)
    text = (tmp_path / "engine.log").read_text()
    assert "venue refused a request: code 1" in text and text.rstrip().endswith("because the ring was full")
