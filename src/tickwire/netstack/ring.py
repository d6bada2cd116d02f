"""A lock-free single-producer single-consumer ring of fixed-size records in shared memory.

One producer process and one consumer process (each pinned to its own core) exchange records without a lock,
a syscall or a Python object on either side: :func:`ring_push` and :func:`ring_pop` are ``@njit`` and use the
acquire/release atomics of the ``_tw_native`` shims (bound by symbol, so ``cache=True`` keeps working).

Layout (one ``uint64`` array over a ``multiprocessing.shared_memory`` block)::

    cache line 0  magic, slots, record_words, stride_words        (written once by the creator)
    cache line 1  head (next sequence the producer writes), overruns, producer pid, producer heartbeat ns,
                  closed flag, the producer's last read of tail    (producer-owned)
    cache line 2  tail (next sequence the consumer reads), consumer pid, consumer heartbeat ns
                                                                   (consumer-owned)
    slots         ``slots`` (a power of two) x ``stride_words``: word 0 = sequence + 1 of the record in it
                  (0 = never written), then ``record_words`` of payload; each slot starts on a cache line.

Head and tail live on separate cache lines so the two cores never write the same line except a slot. The
producer reads the consumer's tail only when its last read says the ring is full, so a push moves no cache line
from the consumer's core (only the slot travels, once, to the consumer). A full
ring refuses the record (``ring_push`` returns False) and counts it in ``overruns``: the producer never waits
and never overwrites what the consumer has not read, and the consumer sees the count (for a market-data ring a
refusal means its books must be resynchronised; for a log ring, records lost and how many).
"""
from __future__ import annotations

import mmap
import os
from multiprocessing import shared_memory

import llvmlite.binding as llvm
import numpy as np
from numba import njit, types

from tickwire.native import _native

llvm.load_library_permanently(_native.__file__)
_load_acquire = types.ExternalFunction("tw_atomic_load_acquire", types.uint64(types.voidptr))
_store_release = types.ExternalFunction("tw_atomic_store_release", types.void(types.voidptr, types.uint64))

MAGIC = 0x7477_7269_6E67_0001  # "twring" v1
LINE_WORDS = 8  # 64-byte cache line
H_MAGIC, H_SLOTS, H_RECORD_WORDS, H_STRIDE = 0, 1, 2, 3
P_HEAD, P_OVERRUNS, P_PID, P_BEAT_NS, P_CLOSED, P_TAIL_SEEN = 8, 9, 10, 11, 12, 13
C_TAIL, C_PID, C_BEAT_NS = 16, 17, 18
HEADER_WORDS = 3 * LINE_WORDS
MAX_SLOTS = 1 << 24
MAX_RECORD_WORDS = 1024


class RingError(ValueError):
    """A ring was asked for an impossible shape, or a shared block is not a ring of ours."""


def _stride(record_words: int) -> int:
    return -(-(record_words + 1) // LINE_WORDS) * LINE_WORDS


def ring_words(slots: int, record_words: int) -> int:
    """The size in uint64 words of a ring of ``slots`` records of ``record_words`` words each."""
    return HEADER_WORDS + slots * _stride(record_words)


class ShmRing:
    """A ring in a named shared-memory block: :meth:`create` in the parent, :meth:`attach` in each child.

    ``words`` is the uint64 view that :func:`ring_push` / :func:`ring_pop` take; the creator unlinks the block
    on :meth:`close`.
    """

    def __init__(self, name: str, buf: mmap.mmap | memoryview, shm: shared_memory.SharedMemory | None) -> None:
        self.name = name
        self.shm = shm  # set in the creator only: it unlinks the block
        self._buf = buf
        self.words = np.ndarray(len(buf) // 8, np.uint64, buf)
        if self.words.shape[0] < HEADER_WORDS or int(self.words[H_MAGIC]) != MAGIC:
            raise RingError(f"shared memory {name!r} is not a tickwire ring")
        if self.words.shape[0] < ring_words(int(self.words[H_SLOTS]), int(self.words[H_RECORD_WORDS])):
            raise RingError(f"shared memory {name!r} is shorter than its ring header says")
        self.slots = int(self.words[H_SLOTS])
        self.record_words = int(self.words[H_RECORD_WORDS])

    @classmethod
    def create(cls, slots: int, record_words: int, name: str | None = None) -> ShmRing:
        """A new zeroed ring; ``slots`` a power of two in 2..2**24, ``record_words`` in 1..1024."""
        if slots < 2 or slots > MAX_SLOTS or slots & (slots - 1):
            raise RingError(f"slots must be a power of two in 2..{MAX_SLOTS}, got {slots}")
        if not 1 <= record_words <= MAX_RECORD_WORDS:
            raise RingError(f"record_words must be in 1..{MAX_RECORD_WORDS}, got {record_words}")
        n = ring_words(slots, record_words)
        shm = shared_memory.SharedMemory(name=name, create=True, size=n * 8)
        words = np.ndarray(n, np.uint64, shm.buf)
        words[:] = 0
        words[H_SLOTS], words[H_RECORD_WORDS], words[H_STRIDE] = slots, record_words, _stride(record_words)
        words[H_MAGIC] = MAGIC
        del words
        return cls(shm.name, shm.buf, shm)

    @classmethod
    def attach(cls, name: str) -> ShmRing:
        """Open an existing ring by name (in the producer or consumer process). Mapped directly, not through
        SharedMemory: that would register the block with this process's resource tracker, which unlinks it when
        an unrelated process exits."""
        fd = os.open(f"/dev/shm/{name.lstrip('/')}", os.O_RDWR)
        try:
            buf = mmap.mmap(fd, 0)
        finally:
            os.close(fd)
        return cls(name, buf, None)

    def overruns(self) -> int:
        """Records the producer could not push because the ring was full."""
        return int(self.words[P_OVERRUNS])

    def pending(self) -> int:
        """Records pushed and not yet popped (a snapshot)."""
        return int(self.words[P_HEAD]) - int(self.words[C_TAIL])

    def closed(self) -> bool:
        """True once the producer called :meth:`close_producer` (it pushes nothing more)."""
        return bool(self.words[P_CLOSED])

    def register(self, producer: bool) -> None:
        """Record this process as the producer or consumer (its pid, for the peer's liveness check)."""
        self.words[P_PID if producer else C_PID] = os.getpid()

    def close_producer(self) -> None:
        """The producer says it is done (a clean end, unlike a death the peer must detect by pid)."""
        self.words[P_CLOSED] = 1

    def close(self) -> None:
        """Detach; the creator also unlinks the block (processes still attached keep their mapping)."""
        self.words = np.zeros(0, np.uint64)
        try:
            (self._buf if self.shm is None else self.shm).close()
        except BufferError:
            pass  # a caller still holds a view of the words: the mapping goes when that view does
        if self.shm is None:
            return
        try:
            self.shm.unlink()
        except FileNotFoundError:
            pass


@njit(cache=True)
def ring_push(words: np.ndarray, record: np.ndarray) -> bool:
    """Producer: append ``record`` (``record_words`` uint64s); False (and ``overruns`` + 1) when full."""
    slots = words[H_SLOTS]
    head = words[P_HEAD]  # only this process writes head
    if head - words[P_TAIL_SEEN] >= slots:  # full as far as we knew: read the consumer's tail again
        words[P_TAIL_SEEN] = _load_acquire(words[C_TAIL:].ctypes.data)
        if head - words[P_TAIL_SEEN] >= slots:
            words[P_OVERRUNS] += 1
            return False
    base = HEADER_WORDS + (head & (slots - 1)) * words[H_STRIDE]
    n = words[H_RECORD_WORDS]
    for k in range(n):
        words[base + 1 + k] = record[k]
    _store_release(words[base:].ctypes.data, head + np.uint64(1))
    _store_release(words[P_HEAD:].ctypes.data, head + np.uint64(1))
    return True


@njit(cache=True)
def ring_pop(words: np.ndarray, out: np.ndarray) -> bool:
    """Consumer: copy the oldest record into ``out`` and free its slot; False when the ring is empty."""
    slots = words[H_SLOTS]
    tail = words[C_TAIL]  # only this process writes tail
    base = HEADER_WORDS + (tail & (slots - 1)) * words[H_STRIDE]
    if _load_acquire(words[base:].ctypes.data) != tail + np.uint64(1):
        return False
    n = words[H_RECORD_WORDS]
    for k in range(n):
        out[k] = words[base + 1 + k]
    _store_release(words[C_TAIL:].ctypes.data, tail + np.uint64(1))
    return True


@njit(cache=True)
def ring_pop_many(words: np.ndarray, out: np.ndarray) -> int:
    """Consumer: pop up to ``out.shape[0]`` records into the rows of ``out`` (2-D); returns how many."""
    n = 0
    while n < out.shape[0] and ring_pop(words, out[n]):
        n += 1
    return n
