"""The spin driver's slice over real TCP sockets on loopback: real Deribit frames, partial frames, a frame larger
than the receive buffer, EAGAIN storms, a reset connection, the kill switch fired from another process; the
choice of driver on a host with one usable CPU; and the inner pass allocating nothing over a million calls."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import orjson
import pytest

from tickwire.config import load
from tickwire.engine.driver import choose_driver
from tickwire.engine.engine import Engine, Instrument
from tickwire.engine.spin import (
    KILL_FLAG, READ_MAX, SPIN_CLOSED, SPIN_ERROR, SPIN_KILLED, SPIN_OVERFLOW, SPIN_TIME, SPIN_WORK, SpinDriver,
    arm_kill_flag,
)
from tickwire.engine.strategy import Strategy
from tickwire.types import BOOK_BID, C_MESSAGES

# the first engine in a process compiles the compiled path (minutes on a cold numba cache)
pytestmark = pytest.mark.timeout(900)

DATA = Path(__file__).resolve().parents[1] / "data" / "deribit"
BTC = {"instrument_name": "BTC-PERPETUAL", "tick_size": 0.5, "min_trade_amount": 10.0, "base_currency": "BTC"}
MS = 1_000_000


class Quiet(Strategy):
    pass


def _frame(payload: bytes) -> bytes:
    """A server -> client text frame (unmasked), written by hand: RFC 6455 section 5.2."""
    n = len(payload)
    if n < 126:
        return bytes([0x81, n]) + payload
    if n < 1 << 16:
        return bytes([0x81, 126]) + n.to_bytes(2, "big") + payload
    return bytes([0x81, 127]) + n.to_bytes(8, "big") + payload


def _snapshot() -> bytes:
    return _frame((DATA / "cmp_book_BTC-PERPETUAL_100ms_snapshot.json").read_bytes().strip())


@pytest.fixture(scope="module")
def spin():
    engine = Engine(load(None, {}), [Instrument(BTC)], Quiet, "tws-")
    driver = SpinDriver(engine)
    driver.warm_up()
    return driver


@pytest.fixture()
def pair():
    """(engine side, venue side) of a real TCP connection on loopback; the engine side is non-blocking."""
    with socket.create_server(("127.0.0.1", 0)) as srv:
        ours = socket.create_connection(srv.getsockname())
        theirs, _ = srv.accept()
    ours.setblocking(False)
    yield ours, theirs
    ours.close()
    theirs.close()


def _slice(spin, sock, slice_ns=20 * MS, kill=None):
    return spin.spin_slice(sock.fileno(), -1, slice_ns, READ_MAX, np.zeros(1, np.uint64) if kill is None else kill,
                           spin.py_tier)


def _reset(spin):
    engine = spin.engine
    from tickwire.netstack import ws

    ws.ws_init(engine.ws_st, ws.PH_FRAMES, ws.MASK_NO)
    engine.touched[:] = 0


def test_a_partial_frame_waits_for_its_rest_then_the_book_is_applied(spin, pair):
    ours, theirs = pair
    _reset(spin)
    frame = _snapshot()
    before = int(spin.engine.counters[C_MESSAGES])
    theirs.sendall(frame[:40])
    assert _slice(spin, ours)[0] == SPIN_TIME  # nothing complete: the slice ran out, the half frame is kept
    assert spin.engine.counters[C_MESSAGES] == before
    theirs.sendall(frame[40:])
    reason, ns, *_ = _slice(spin, ours, slice_ns=2000 * MS)
    assert reason == SPIN_WORK and ns == 1  # a Python-tier strategy must see the changed book
    assert spin.engine.books.levels(0, BOOK_BID)[0] == (74480, 2)  # 37240.0 / 0.5 ticks, 20 USD / 10 lots
    spin.engine.touched[:] = 0


def test_an_eagain_storm_returns_after_each_slice_and_never_spins_forever(spin, pair):
    ours, _ = pair
    _reset(spin)
    t0 = time.monotonic()
    reasons = [_slice(spin, ours, slice_ns=5 * MS)[0] for _ in range(40)]
    elapsed = time.monotonic() - t0
    assert reasons == [SPIN_TIME] * 40
    assert 0.2 <= elapsed < 30  # each slice waited for its time (5 ms), and returned


def test_a_closed_and_a_reset_connection_end_the_slice(spin, pair):
    ours, theirs = pair
    _reset(spin)
    theirs.close()
    assert _slice(spin, ours, slice_ns=2000 * MS)[0] == SPIN_CLOSED
    with socket.create_server(("127.0.0.1", 0)) as srv:
        mine = socket.create_connection(srv.getsockname())
        peer, _ = srv.accept()
    mine.setblocking(False)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, (1).to_bytes(4, "little") + (0).to_bytes(4, "little"))
    peer.close()  # linger 0: the peer sends a RST
    reason, *_, err = _slice(spin, mine, slice_ns=2000 * MS)
    mine.close()
    assert (reason, err) == (SPIN_ERROR, 104) or reason == SPIN_CLOSED  # ECONNRESET (or EOF, by timing)


def test_a_frame_larger_than_the_receive_buffer_is_refused_without_a_crash(spin, pair):
    ours, theirs = pair
    _reset(spin)
    size = spin.engine.rx.shape[0] + (1 << 20)
    head = bytes([0x81, 127]) + size.to_bytes(8, "big")
    writer = threading.Thread(target=lambda: _send_quietly(theirs, head + b" " * size), daemon=True)
    writer.start()
    reasons = []
    for _ in range(2000):  # bounded: ~5 MB arrive in 64 KB reads
        reason = _slice(spin, ours, slice_ns=50 * MS)[0]
        reasons.append(reason)
        if reason not in (SPIN_TIME, SPIN_WORK):
            break
    theirs.close()
    writer.join(10)
    assert reasons[-1] in (SPIN_OVERFLOW, SPIN_CLOSED)  # the deframer's bound or the buffer's, never a mis-parse


def _send_quietly(sock, data):
    try:
        sock.sendall(data)
    except OSError:
        pass  # the engine side stopped reading and the test closed the socket


def test_the_kill_switch_from_another_process_ends_a_slice_and_sets_the_risk_kill(spin, pair, tmp_path):
    ours, _ = pair
    _reset(spin)
    seen = []
    previous = signal.signal(signal.SIGUSR1, lambda *_: seen.append("python handler"))
    try:
        assert arm_kill_flag()
        (tmp_path / f"tickwire-engine-{os.getuid()}.pid").write_text(str(os.getpid()))
        env = dict(os.environ, TICKWIRE_RUNTIME_DIR=str(tmp_path))
        kill = subprocess.Popen([sys.executable, "-m", "tickwire.cli", "kill"], env=env)
        t0 = time.monotonic()
        reason = _slice(spin, ours, slice_ns=60_000 * MS, kill=KILL_FLAG)[0]  # would spin a minute
        waited = time.monotonic() - t0
        assert kill.wait(60) == 0
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert reason == SPIN_KILLED and waited < 55
    assert spin.engine.rstate[0]["killed"] == 1  # set inside the loop, before Python ran
    assert seen == ["python handler"]  # the handler installed before still runs (the slow path's kill)
    spin.engine.rstate[0]["killed"] = 0
    KILL_FLAG[0] = 0


def test_one_usable_cpu_runs_the_async_driver_with_a_reason():
    code = "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); " \
           "from tickwire.engine.driver import choose_driver; print(choose_driver('spin'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.startswith("('async', 'the spin driver needs a core of its own")
    assert choose_driver("async") == ("async", "requested")
    if len(os.sched_getaffinity(0)) >= 2:
        assert choose_driver("spin") == ("spin", "requested")


def test_a_read_carries_the_kernels_receive_stamp_into_its_probe_row(spin, pair):
    from tickwire.native import lib
    from tickwire.types import ST_KERNEL_RX, ST_RECV

    ours, theirs = pair
    _reset(spin)
    assert lib.tw_enable_rx_timestamps(ours.fileno()) == 0
    probes = spin.engine.probes
    before = probes.passes
    theirs.sendall(_snapshot())
    deadline = time.monotonic() + 30
    while probes.passes == before and time.monotonic() < deadline:
        _slice(spin, ours)
    assert probes.passes > before
    row = probes.stages[(probes.passes - 1) % probes.capacity]
    kernel, recv = int(row[ST_KERNEL_RX]), int(row[ST_RECV])
    assert 0 < kernel <= recv  # the kernel had the bytes before the loop read them
    assert (recv - kernel) / probes.tsc_hz < 1.0  # and the same read, not a stale stamp


def test_auto_spins_only_when_the_host_has_a_core_to_give():
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: covered by test_one_usable_cpu_runs_the_async_driver_with_a_reason")
    # an isolated core cannot be made here (isolcpus needs a reboot): the isolated list is passed in
    assert choose_driver("auto", isolated=[1]) == ("spin", "isolated cores 1")
    wide = len(os.sched_getaffinity(0)) >= 4
    driver, why = choose_driver("auto", isolated=[])
    assert driver == ("spin" if wide else "async")
    if not wide:
        assert why.startswith("auto: no core to give") and "--driver spin" in why
    assert load(None, {}).driver == "auto"  # the default
    with pytest.raises(ValueError, match="expected one of auto, spin, async"):
        choose_driver("fast")


_NO_ALLOC = textwrap.dedent('''
    import sys
    import numpy as np
    from numba import njit
    from numba.core.runtime import rtsys
    from tickwire.config import load
    from tickwire.engine.engine import Engine, Instrument
    from tickwire.engine.kernel_cache import build_hot_pass
    from tickwire.engine.strategies.market_maker import MarketMaker
    from tickwire.netstack.ws import ws_reserve

    frame = np.frombuffer(bytes.fromhex(sys.argv[1]), np.uint8)
    info = {"instrument_name": "BTC-PERPETUAL", "tick_size": 0.5, "min_trade_amount": 10.0, "base_currency": "BTC"}
    engine = Engine(load(None, {"risk": {"price_band_bps": 1000.0}}), [Instrument(info)], MarketMaker, "twa-")
    received_pass = build_hot_pass(engine.kernel).received_pass

    @njit
    def drive(s, frame, times):
        r = s.recv
        sent = 0
        for i in range(times):
            w = ws_reserve(r.ws_st, r.rx, frame.shape[0])
            r.rx[w:w + frame.shape[0]] = frame
            ns, n_resp, n_fb, tx_len, sent_now = received_pass(s, frame.shape[0], i, -1)
            s.mkt.touched[:] = 0
            sent += tx_len
        return sent

    def allocations(times):
        """numba runtime allocations of one call of ``drive`` (its arguments' unboxing included)."""
        before = rtsys.get_allocation_stats()
        drive(state, frame, times)
        after = rtsys.get_allocation_stats()
        return after.alloc - before.alloc, after.mi_alloc - before.mi_alloc, after.free - before.free

    state = engine.hot.state
    drive(state, frame, 10)  # compile, and the first orders
    print(*allocations(1), *allocations(int(sys.argv[2])), int(engine.counters[0]),
          int(engine.books.state[0]["n_msgs"]))
''')


def test_the_inner_pass_allocates_nothing_over_a_million_calls():
    """A real book snapshot through deframe, decode, book, the market maker, risk and encode a million times
    (numba's allocation counters on: NUMBA_NRT_STATS=1 in a fresh process)."""
    times = 1_000_000
    env = dict(os.environ, NUMBA_NRT_STATS="1")
    out = subprocess.run([sys.executable, "-c", _NO_ALLOC, _snapshot().hex(), str(times)], capture_output=True,
                         text=True, timeout=900, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    *counts, messages, applied = (int(x) for x in out.stdout.split())
    one, many = counts[:3], counts[3:]
    # a call unboxes the state's arrays (one runtime record each, freed on return): the same count for one pass
    # and for a million, so the passes themselves allocate nothing
    assert many == one and one[0] == one[2] and one[0] <= 64
    assert messages == times + 11 and applied == times + 11  # every call decoded and applied its snapshot
