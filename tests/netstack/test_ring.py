"""The shared-memory SPSC ring: order, fullness, overruns, shape checks, and a real producer process."""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from multiprocessing import shared_memory

import numpy as np
import pytest

from tickwire.netstack.ring import (
    C_TAIL, P_HEAD, RingError, ShmRing, ring_pop, ring_pop_many, ring_push,
)

FORK = mp.get_context("fork")


@pytest.fixture
def ring():
    r = ShmRing.create(8, 3)
    yield r
    r.close()


def test_records_come_out_in_order_with_their_payload(ring):
    out = np.zeros(3, np.uint64)
    assert not ring_pop(ring.words, out)  # empty
    for i in range(5):
        assert ring_push(ring.words, np.array([i, i * 10, 2**64 - 1 - i], np.uint64))
    assert ring.pending() == 5
    for i in range(5):
        assert ring_pop(ring.words, out)
        assert out.tolist() == [i, i * 10, 2**64 - 1 - i]
    assert not ring_pop(ring.words, out)
    assert ring.pending() == 0 and ring.overruns() == 0


def test_a_full_ring_refuses_and_counts_and_recovers(ring):
    rec = np.zeros(3, np.uint64)
    for i in range(8):
        rec[0] = i
        assert ring_push(ring.words, rec)
    rec[0] = 99
    assert not ring_push(ring.words, rec) and not ring_push(ring.words, rec)
    assert ring.overruns() == 2
    out = np.zeros((4, 3), np.uint64)
    assert ring_pop_many(ring.words, out) == 4
    assert out[:, 0].tolist() == [0, 1, 2, 3]  # nothing overwritten by the refused pushes
    for i in range(4):  # wrap around the slot array
        rec[0] = 100 + i
        assert ring_push(ring.words, rec)
    got = np.zeros((16, 3), np.uint64)
    assert ring_pop_many(ring.words, got) == 8
    assert got[:8, 0].tolist() == [4, 5, 6, 7, 100, 101, 102, 103]
    assert int(ring.words[P_HEAD]) == int(ring.words[C_TAIL]) == 12


def test_head_and_tail_sit_on_separate_cache_lines(ring):
    assert (P_HEAD * 8) // 64 != (C_TAIL * 8) // 64
    assert ring.words.ctypes.data % 64 == 0


@pytest.mark.parametrize("slots,words", [(0, 1), (3, 1), (6, 2), (1 << 25, 1), (8, 0), (8, 4096)])
def test_impossible_shapes_are_refused(slots, words):
    with pytest.raises(RingError):
        ShmRing.create(slots, words)


def test_attaching_to_a_block_that_is_not_a_ring_is_refused():
    shm = shared_memory.SharedMemory(create=True, size=4096)
    try:
        with pytest.raises(RingError, match="not a tickwire ring"):
            ShmRing.attach(shm.name)
    finally:
        shm.close()
        shm.unlink()


def _producer(name: str, n: int) -> None:
    ring = ShmRing.attach(name)
    ring.register(producer=True)
    rec = np.zeros(2, np.uint64)
    i = 0
    deadline = time.monotonic() + 60
    while i < n and time.monotonic() < deadline:
        rec[0], rec[1] = i, i * 3
        if ring_push(ring.words, rec):
            i += 1
    ring.close_producer()
    os._exit(0)


def test_another_process_hands_over_every_record_in_order():
    n = 20_000
    ring = ShmRing.create(64, 2)  # small: the producer fills it and waits for us many times
    proc = FORK.Process(target=_producer, args=(ring.name, n))
    proc.start()
    try:
        out = np.zeros((256, 2), np.uint64)
        got = []
        deadline = time.monotonic() + 60
        while len(got) < n and time.monotonic() < deadline:
            k = ring_pop_many(ring.words, out)
            got.extend(out[:k, 0].tolist())
            assert (out[:k, 1] == out[:k, 0] * 3).all()
        assert got == list(range(n))
        proc.join(30)
        assert ring.closed() and ring.pending() == 0
        assert ring.overruns() > 0  # it did fill up, was refused, and lost nothing
    finally:
        proc.kill()
        ring.close()


def test_a_killed_consumer_leaves_the_producer_refused_and_counting_not_hanging():
    ring = ShmRing.create(16, 1)
    consumer = FORK.Process(target=time.sleep, args=(60,))
    consumer.start()
    os.kill(consumer.pid, signal.SIGKILL)
    consumer.join(10)
    rec = np.ones(1, np.uint64)
    pushed = sum(ring_push(ring.words, rec) for _ in range(100))
    assert pushed == 16 and ring.overruns() == 84
    ring.close()
