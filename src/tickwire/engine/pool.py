"""A fixed-capacity memory pool: records preallocated once, handed out and taken back from ``@njit`` code.

The pool is a free list of record indices in a preallocated int64 array (a stack: the most recently released
record is reused first, so it is still in cache). :func:`pool_acquire` pops an index, :func:`pool_release`
pushes it back; neither allocates, locks or touches a Python object. When every record is in use, acquire
returns -1 and counts a refusal: the caller refuses the order or drops the message, never allocates. Releasing
an index that is not in use (a double release, a stray index) is refused and counted too, so a bug cannot hand
one record to two owners.

``state`` words: [free count, refusals, bad releases, high-water mark of records in use, acquisitions].
"""
from __future__ import annotations

import numpy as np
from numba import njit

S_FREE, S_REFUSED, S_BAD_RELEASE, S_HIGH_WATER, S_ACQUIRED = range(5)
N_STATE = 5


class Pool:
    """``capacity`` records of ``dtype`` (``records``) and the free list that owns them."""

    def __init__(self, capacity: int, dtype: np.dtype | type = np.uint8, shape: tuple[int, ...] = ()) -> None:
        if capacity < 1:
            raise ValueError("pool capacity must be >= 1")
        self.records = np.zeros((capacity, *shape), dtype)
        self.free = np.arange(capacity - 1, -1, -1, dtype=np.int64)  # index 0 is handed out first
        self.in_use = np.zeros(capacity, np.uint8)
        self.state = np.zeros(N_STATE, np.int64)
        self.state[S_FREE] = capacity

    @property
    def capacity(self) -> int:
        return int(self.free.shape[0])

    def stats(self) -> dict[str, int]:
        """Counters for reports: capacity, in use now, high water, refusals, bad releases, acquisitions."""
        s = self.state
        return {"capacity": self.capacity, "in_use": self.capacity - int(s[S_FREE]),
                "high_water": int(s[S_HIGH_WATER]), "refused": int(s[S_REFUSED]),
                "bad_releases": int(s[S_BAD_RELEASE]), "acquired": int(s[S_ACQUIRED])}


@njit(cache=True)
def pool_acquire(free: np.ndarray, in_use: np.ndarray, state: np.ndarray) -> int:
    """The index of a free record, or -1 (counted in ``state[S_REFUSED]``) when the pool is exhausted."""
    n = state[S_FREE]
    if n == 0:
        state[S_REFUSED] += 1
        return -1
    n -= 1
    idx = free[n]
    state[S_FREE] = n
    in_use[idx] = 1
    state[S_ACQUIRED] += 1
    used = free.shape[0] - n
    if used > state[S_HIGH_WATER]:
        state[S_HIGH_WATER] = used
    return idx


@njit(cache=True)
def pool_release(free: np.ndarray, in_use: np.ndarray, state: np.ndarray, idx: int) -> bool:
    """Give record ``idx`` back; False (counted in ``state[S_BAD_RELEASE]``) if it was not in use."""
    if idx < 0 or idx >= free.shape[0] or in_use[idx] == 0:
        state[S_BAD_RELEASE] += 1
        return False
    in_use[idx] = 0
    free[state[S_FREE]] = idx
    state[S_FREE] += 1
    return True
