"""The fixed-capacity pool: records handed out once, exhaustion and bad releases refused and counted."""
from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from tickwire.engine.pool import Pool, pool_acquire, pool_release
from tickwire.types import ORDER_DTYPE


@njit(cache=True)
def _take(free, in_use, state, k, out):
    for i in range(k):
        out[i] = pool_acquire(free, in_use, state)


def test_every_record_is_handed_out_once_until_exhausted():
    pool = Pool(4, ORDER_DTYPE)
    got = np.zeros(6, np.int64)
    _take(pool.free, pool.in_use, pool.state, 6, got)
    assert sorted(got[:4].tolist()) == [0, 1, 2, 3]
    assert got[4:].tolist() == [-1, -1]
    s = pool.stats()
    assert s["refused"] == 2 and s["in_use"] == 4 and s["high_water"] == 4 and s["acquired"] == 4


def test_release_makes_a_record_available_again_most_recent_first():
    pool = Pool(3)
    a = pool_acquire(pool.free, pool.in_use, pool.state)
    b = pool_acquire(pool.free, pool.in_use, pool.state)
    assert pool_release(pool.free, pool.in_use, pool.state, a)
    assert pool_acquire(pool.free, pool.in_use, pool.state) == a  # still warm in cache
    assert pool.stats()["in_use"] == 2 and b != a


@pytest.mark.parametrize("bad", [-1, 3, 1 << 40])
def test_a_stray_index_is_refused_and_counted(bad):
    pool = Pool(3)
    assert not pool_release(pool.free, pool.in_use, pool.state, bad)
    assert pool.stats()["bad_releases"] == 1 and pool.stats()["in_use"] == 0


def test_a_double_release_cannot_hand_one_record_to_two_owners():
    pool = Pool(2)
    a = pool_acquire(pool.free, pool.in_use, pool.state)
    assert pool_release(pool.free, pool.in_use, pool.state, a)
    assert not pool_release(pool.free, pool.in_use, pool.state, a)
    x = pool_acquire(pool.free, pool.in_use, pool.state)
    y = pool_acquire(pool.free, pool.in_use, pool.state)
    assert x != y and pool_acquire(pool.free, pool.in_use, pool.state) == -1
    assert pool.stats()["bad_releases"] == 1


def test_records_are_preallocated_with_the_requested_shape():
    pool = Pool(8, np.uint8, (256,))
    assert pool.records.shape == (8, 256) and pool.capacity == 8
    with pytest.raises(ValueError):
        Pool(0)


def test_oldest_first_reuse_keeps_a_released_record_untouched_longest():
    pool = Pool(3, reuse="oldest")
    a = pool_acquire(pool.free, pool.in_use, pool.state)
    assert pool_release(pool.free, pool.in_use, pool.state, a)
    rest = [pool_acquire(pool.free, pool.in_use, pool.state) for _ in range(2)]
    assert a not in rest  # both other free records first
    assert pool_acquire(pool.free, pool.in_use, pool.state) == a
    with pytest.raises(ValueError):
        Pool(2, reuse="random")


@pytest.mark.parametrize("reuse", ["newest", "oldest"])
def test_random_acquire_release_agrees_with_a_plain_model(reuse):
    """Thousands of random operations, each checked against a Python model of the free list."""
    rng = np.random.default_rng(7)
    cap = 5
    pool = Pool(cap, reuse=reuse)
    free = list(range(cap))  # the model: next handed out at index 0
    used: set[int] = set()
    for _ in range(5000):
        if rng.random() < 0.5:
            got = pool_acquire(pool.free, pool.in_use, pool.state)
            want = free.pop(0) if free else -1
            assert got == want
            if got >= 0:
                used.add(got)
        else:
            idx = int(rng.integers(-1, cap + 1))
            ok = pool_release(pool.free, pool.in_use, pool.state, idx)
            assert ok == (idx in used)
            if ok:
                used.discard(idx)
                free.insert(0, idx) if reuse == "newest" else free.append(idx)
        assert pool.stats()["in_use"] == len(used)


def test_prefault_backs_every_page_now_and_keeps_the_contents():
    import psutil

    from tickwire.engine.pool import prefault

    me = psutil.Process()
    a = np.zeros(64 << 20, np.uint8)  # 64 MiB of zero pages the kernel has not backed yet
    a[12345] = 7
    before = me.memory_info().rss
    assert prefault(a) is a
    assert me.memory_info().rss - before > 60 << 20  # every page resident after one call
    assert int(a[12345]) == 7 and int(a.sum()) == 7
    with pytest.raises(ValueError):
        prefault(np.zeros((8, 8))[:, ::2])  # a strided view has no pages of its own to walk
