"""Every _tw_native shim, called from inside @njit code (the way the hot path uses them)."""
from __future__ import annotations

import os
import socket
import threading
import time

import numpy as np
import pytest
from numba import njit

from tickwire import clock
from tickwire.engine import shims
from tickwire.native import lib


@njit
def _send_then_recv(fd_a, fd_b, out, inp):
    sent = lib.tw_send(fd_a, out.ctypes.data, out.size)
    got = lib.tw_recv(fd_b, inp.ctypes.data, inp.size)
    return sent, got


@njit
def _recv_once(fd, buf):
    return lib.tw_recv(fd, buf.ctypes.data, buf.size)


@njit
def _wait(fd, ms):
    return lib.tw_wait_readable(fd, ms)


def test_send_recv_on_socketpair_from_njit():
    a, b = socket.socketpair()
    with a, b:
        out = np.frombuffer(os.urandom(1000), dtype=np.uint8).copy()
        inp = np.zeros(4096, dtype=np.uint8)
        sent, got = _send_then_recv(a.fileno(), b.fileno(), out, inp)
        assert sent == 1000 and got == 1000
        assert bytes(inp[:got]) == bytes(out)


def test_recv_returns_minus_eagain_when_empty_and_wait_times_out():
    a, b = socket.socketpair()
    with a, b:
        buf = np.zeros(64, dtype=np.uint8)
        assert _recv_once(b.fileno(), buf) == -lib.TW_EAGAIN
        assert _wait(b.fileno(), 10) == 0
        a.send(b"x")
        assert _wait(b.fileno(), 1000) == 1


def test_recv_on_bad_fd_returns_negative_errno():
    buf = np.zeros(8, dtype=np.uint8)
    assert _recv_once(-1, buf) == -9  # EBADF


@njit
def _tsc_series(n):
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        out[i] = lib.tw_rdtsc()
    return out


@njit
def _tsc_vs_monotonic(window_ns):
    t0 = lib.tw_monotonic_ns()
    c0 = lib.tw_rdtsc()
    t1 = t0
    while t1 - t0 < window_ns:
        t1 = lib.tw_monotonic_ns()
    c1 = lib.tw_rdtscp()
    return c1 - c0, t1 - t0


def test_rdtsc_is_monotonic_from_njit():
    stamps = _tsc_series(100_000)
    assert np.all(np.diff(stamps.astype(np.int64)) >= 0)


def test_tsc_calibration_within_one_percent_of_monotonic_over_100ms():
    hz = clock.tsc_hz()
    ticks, elapsed_ns = _tsc_vs_monotonic(100_000_000)
    assert ticks * 1e9 / hz == pytest.approx(elapsed_ns, rel=0.01)


@njit
def _clocks():
    return lib.tw_clock_ns(lib.TW_CLOCK_REALTIME), lib.tw_monotonic_ns(), lib.tw_realtime_ns()


def test_clock_gettime_from_njit_matches_python():
    import time

    real_clock, mono, real = _clocks()
    assert abs(real_clock - time.time_ns()) < 1_000_000_000
    assert abs(real - time.time_ns()) < 1_000_000_000
    assert abs(mono - time.monotonic_ns()) < 1_000_000_000


@njit
def _set_options(fd):
    results = np.empty(5, dtype=np.int64)
    results[0] = lib.tw_set_nodelay(fd, 1)
    results[1] = lib.tw_set_quickack(fd, 1)
    results[2] = lib.tw_set_busy_poll(fd, 50)
    results[3] = lib.tw_set_rcvbuf(fd, 1 << 20)
    results[4] = lib.tw_set_sndbuf(fd, 1 << 20)
    return results


@njit
def _get_option(fd, level, name):
    return lib.tw_get_sockopt_int(fd, level, name)


def test_socket_options_set_and_read_back_from_njit():
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        with client:
            fd = client.fileno()
            assert list(_set_options(fd)) == [0, 0, 0, 0, 0]
            assert _get_option(fd, lib.TW_IPPROTO_TCP, lib.TW_TCP_NODELAY) == 1
            assert _get_option(fd, lib.TW_SOL_SOCKET, lib.TW_SO_BUSY_POLL) == 50
            # the kernel doubles the requested buffer size for its bookkeeping
            assert _get_option(fd, lib.TW_SOL_SOCKET, lib.TW_SO_RCVBUF) >= 1 << 20
            assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_socket_option_on_a_closed_fd_is_negative_errno():
    assert _get_option(-1, lib.TW_IPPROTO_TCP, lib.TW_TCP_NODELAY) == -9


@njit
def _pin_and_read(mask):
    rc = lib.tw_set_affinity_mask(mask)
    return rc, lib.tw_get_affinity_mask(), lib.tw_getcpu()


def test_affinity_set_and_read_back_from_njit():
    cpus = sorted(os.sched_getaffinity(0))
    result: dict[str, tuple[int, int, int]] = {}

    def worker() -> None:  # a separate thread, so the test process keeps its own affinity
        target = cpus[-1]
        result["pinned"] = _pin_and_read(1 << target)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    rc, mask, cpu = result["pinned"]
    assert rc == 0
    assert mask == 1 << cpus[-1]
    assert cpu == cpus[-1]


@njit
def _atomics(addr):
    lib.tw_atomic_store_release(addr, 41)
    first = lib.tw_atomic_load_acquire(addr)
    won = lib.tw_atomic_cas(addr, 41, 100)
    lost = lib.tw_atomic_cas(addr, 41, 7)
    before_add = lib.tw_atomic_fetch_add(addr, 5)
    return first, won, lost, before_add, lib.tw_atomic_load_acquire(addr)


def test_atomics_on_numpy_array_address_from_njit():
    slots = np.zeros(4, dtype=np.uint64)
    first, won, lost, before_add, final = _atomics(slots.ctypes.data + 8)
    assert (first, won, lost, before_add, final) == (41, 1, 0, 100, 105)
    assert list(slots) == [0, 105, 0, 0]


@njit(nogil=True)  # released GIL: the two threads really race
def _increment_many(addr, n):
    for _ in range(n):
        lib.tw_atomic_fetch_add(addr, 1)


def test_atomic_fetch_add_is_atomic_across_threads():
    slot = np.zeros(1, dtype=np.uint64)
    _increment_many(slot.ctypes.data, 1)  # compile before the race
    slot[0] = 0
    threads = [threading.Thread(target=_increment_many, args=(slot.ctypes.data, 200_000)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert slot[0] == 400_000


@njit
def _mlock():
    return lib.tw_mlockall(), lib.tw_munlockall()


def test_mlockall_as_root_or_clear_error():
    locked, unlocked = _mlock()
    if os.geteuid() == 0:
        assert (locked, unlocked) == (0, 0)
    else:
        assert locked in (0, -1, -12)  # EPERM or ENOMEM without CAP_IPC_LOCK


# --- kernel receive timestamps (SO_TIMESTAMPING, software RX) -----------------------------------------------

@njit
def _recv_ts_cffi(fd, buf, rx_ns):
    return lib.tw_recv_ts(fd, buf.ctypes.data, buf.size, rx_ns.ctypes.data)


@njit(cache=True)
def _recv_ts_by_symbol(fd, buf, rx_ns):  # the way the cached hot path binds it (tickwire.engine.shims)
    return shims.recv_ts(fd, buf.ctypes.data, buf.size, rx_ns.ctypes.data)


def _tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as srv:
        client = socket.create_connection(srv.getsockname())
        server, _ = srv.accept()
    return client, server


@pytest.mark.parametrize("reader", [_recv_ts_cffi, _recv_ts_by_symbol], ids=["cffi", "symbol"])
def test_recv_ts_returns_the_kernel_receive_time_of_tcp_data(reader):
    client, server = _tcp_pair()
    with client, server:
        assert lib.tw_enable_rx_timestamps(server.fileno()) == 0
        buf, rx_ns = np.zeros(256, np.uint8), np.full(1, -1, np.int64)
        assert reader(server.fileno(), buf, rx_ns) == -lib.TW_EAGAIN and rx_ns[0] == 0
        for _ in range(500):  # the kernel turns stamping on by deferred work: early packets may carry none
            before = clock.realtime_ns()
            client.sendall(b"0123456789")
            assert _wait(server.fileno(), 5000) == 1
            got = reader(server.fileno(), buf, rx_ns)
            after = clock.realtime_ns()
            assert got == 10 and bytes(buf[:10]) == b"0123456789"
            if rx_ns[0]:
                break
            time.sleep(0.01)
        assert before <= rx_ns[0] <= after  # stamped by the kernel between our send and our read


def test_recv_ts_without_timestamps_enabled_reports_zero():
    client, server = _tcp_pair()
    with client, server:
        client.sendall(b"x")
        assert _wait(server.fileno(), 5000) == 1
        buf, rx_ns = np.zeros(8, np.uint8), np.full(1, -1, np.int64)
        assert _recv_ts_cffi(server.fileno(), buf, rx_ns) == 1 and rx_ns[0] == 0
        assert lib.tw_enable_rx_timestamps(-1) == -9 and _recv_ts_cffi(-1, buf, rx_ns) == -9  # EBADF


@njit
def _kernel_stamp_to_tsc(rx_ns, hz):  # what a spin driver does after tw_recv_ts
    return clock.realtime_to_tsc(rx_ns, lib.tw_rdtsc(), lib.tw_realtime_ns(), hz)


def test_realtime_to_tsc_steps_back_by_the_age_of_the_stamp():
    hz = clock.tsc_hz()
    tsc_now, rt_now = 10**12, 1_700_000_000 * 10**9
    assert clock.realtime_to_tsc(rt_now - 1_000_000, tsc_now, rt_now, hz) == tsc_now - int(1e-3 * hz)
    assert clock.realtime_to_tsc(0, tsc_now, rt_now, hz) == 0  # no stamp
    assert clock.realtime_to_tsc(rt_now + 5, tsc_now, rt_now, hz) == 0  # the clock stepped back
    assert clock.realtime_to_tsc(rt_now - 10**15, tsc_now, rt_now, hz) == 0  # older than the TSC's count
    now_tsc, then = lib.tw_rdtsc(), clock.realtime_ns() - 2_000_000  # from @njit: 2 ms ago is ~2 ms of ticks back
    back_ns = clock.tsc_to_ns(now_tsc - _kernel_stamp_to_tsc(then, hz))
    assert 1.9e6 < back_ns < 2e6 + 5e7  # at least the 2 ms; the upper bound allows a descheduled test
