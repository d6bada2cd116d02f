"""A fixed-capacity memory pool: records preallocated once, handed out and taken back from ``@njit`` code.

The free list is a ring of record indices in a preallocated int64 array: :func:`pool_acquire` takes the index at
its head, :func:`pool_release` puts one back — at the head (``reuse="newest"``: the record just released is
handed out next, still in cache; for buffers nobody reads after release) or at the tail (``reuse="oldest"``: a
released record is handed out again only after every other free one, so it stays readable as long as the pool
allows; the order table uses this, late venue messages about a finished order still find it). Neither call
allocates, locks, divides or touches a Python object. When every record is in use, acquire returns -1 and
counts a refusal: the caller refuses the order or drops the message, never allocates. Releasing an index that
is not in use (a double release, a stray index) is refused and counted too, so a bug cannot hand one record to
two owners.

``state`` words: [free count, refusals, bad releases, high-water mark of records in use, acquisitions, ring head
(the next index handed out is ``free[head]``), reuse mode (1: oldest first)].
"""
from __future__ import annotations

import mmap

import numpy as np
from numba import njit

S_FREE, S_REFUSED, S_BAD_RELEASE, S_HIGH_WATER, S_ACQUIRED, S_HEAD, S_OLDEST_FIRST = range(7)
N_STATE = 7
REUSE_MODES = ("newest", "oldest")


class Pool:
    """``capacity`` records of ``dtype`` (``records``) and the free list that owns them."""

    def __init__(self, capacity: int, dtype: np.dtype | type = np.uint8, shape: tuple[int, ...] = (),
                 reuse: str = "newest") -> None:
        if capacity < 1:
            raise ValueError("pool capacity must be >= 1")
        if reuse not in REUSE_MODES:
            raise ValueError(f"pool reuse must be one of {REUSE_MODES}, got {reuse!r}")
        self.records = prefault(np.zeros((capacity, *shape), dtype))
        self.free = np.arange(capacity, dtype=np.int64)  # index 0 is handed out first
        self.in_use = np.zeros(capacity, np.uint8)
        self.state = np.zeros(N_STATE, np.int64)
        self.state[S_FREE] = capacity
        self.state[S_OLDEST_FIRST] = reuse == "oldest"

    @property
    def capacity(self) -> int:
        return int(self.free.shape[0])

    def stats(self) -> dict[str, int]:
        """Counters for reports: capacity, in use now, high water, refusals, bad releases, acquisitions."""
        return pool_stats(self.free, self.state)


def prefault(array: np.ndarray) -> np.ndarray:
    """Write every memory page of a C-contiguous ``array`` (its own bytes back) and return it: ``np.zeros`` of
    a large array maps zero pages the kernel only backs on the first write, so a ring or pool written slot by
    slot would fault its pages in (and grow the process's RSS) over the first lap instead of at start-up."""
    if not array.flags.c_contiguous:
        raise ValueError("prefault needs a C-contiguous array")
    raw = array.reshape(-1).view(np.uint8)
    raw[::mmap.PAGESIZE] = raw[::mmap.PAGESIZE].copy()
    return array


def pool_stats(free: np.ndarray, state: np.ndarray) -> dict[str, int]:
    """:meth:`Pool.stats` of a pool known by its arrays (e.g. the order table's, in an Account)."""
    return {"capacity": int(free.shape[0]), "in_use": int(free.shape[0] - state[S_FREE]),
            "high_water": int(state[S_HIGH_WATER]), "refused": int(state[S_REFUSED]),
            "bad_releases": int(state[S_BAD_RELEASE]), "acquired": int(state[S_ACQUIRED])}


@njit(cache=True, _nrt=False)
def pool_acquire(free: np.ndarray, in_use: np.ndarray, state: np.ndarray) -> int:
    """The index of a free record, or -1 (counted in ``state[S_REFUSED]``) when the pool is exhausted."""
    n = state[S_FREE]
    if n == 0:
        state[S_REFUSED] += 1
        return -1
    head = state[S_HEAD]
    idx = free[head]
    head += 1
    state[S_HEAD] = 0 if head == free.shape[0] else head
    state[S_FREE] = n - 1
    in_use[idx] = 1
    state[S_ACQUIRED] += 1
    used = free.shape[0] - n + 1
    if used > state[S_HIGH_WATER]:
        state[S_HIGH_WATER] = used
    return idx


@njit(cache=True, _nrt=False)
def pool_release(free: np.ndarray, in_use: np.ndarray, state: np.ndarray, idx: int) -> bool:
    """Give record ``idx`` back; False (counted in ``state[S_BAD_RELEASE]``) if it was not in use."""
    cap = free.shape[0]
    if idx < 0 or idx >= cap or in_use[idx] == 0:
        state[S_BAD_RELEASE] += 1
        return False
    in_use[idx] = 0
    n = state[S_FREE]
    if state[S_OLDEST_FIRST]:
        pos = state[S_HEAD] + n  # the tail: handed out after every record free now
        free[pos - cap if pos >= cap else pos] = idx
    else:
        head = state[S_HEAD] - 1  # the head: handed out next
        head = cap - 1 if head < 0 else head
        free[head] = idx
        state[S_HEAD] = head
    state[S_FREE] = n + 1
    return True
