"""Binary log: the engine writes fixed-size records into a shared-memory ring; a writer process formats them.

The seed names string operations in logging as a bottleneck: here the engine never formats. A record is
``RECORD_WORDS`` uint64s — kind, TSC stamp, then up to ``ARGS`` integer arguments — pushed by
:func:`binlog_put` (``@njit``, no allocation, never blocks: a full ring refuses the record and counts it in the
ring's ``overruns``). :class:`BinLogWriter` starts the writer process (on its own CPU when given one); it drains
the ring, turns each record into a line with the format of its kind (``FORMATS``), appends it to a file, and
says how many records the engine dropped. When the writer dies, the engine keeps running (the ring fills, the
refusals are counted); :meth:`BinLogWriter.alive` tells the slow path.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np
from numba import njit

from tickwire.clock import tsc_hz
from tickwire.engine import shims
from tickwire.native import lib
from tickwire.netstack.ring import ShmRing, ring_pop_many, ring_push
from tickwire.types import N_STAGES

ARGS = 8
RECORD_WORDS = 2 + ARGS
LOG_STAGES, LOG_KILL, LOG_REFUSED, LOG_GAP = 1, 2, 3, 4
#: how the writer renders each kind (``{tsc_ns}`` = stamp in ns since the writer started, ``{a0}`` .. ``{a7}``)
FORMATS = {
    LOG_STAGES: "{tsc_ns} pass stages(tsc) recv={a0} decoded={a1} book={a2} strategy={a3} risk={a4} "
                "encoded={a5} sent={a6}",
    LOG_KILL: "{tsc_ns} kill switch: reason code {a0}",
    LOG_REFUSED: "{tsc_ns} venue refused a request: code {a0}",
    LOG_GAP: "{tsc_ns} book gap inst={a0} expected prev_change_id={a1} got={a2}",
}
_FORK = mp.get_context("fork")


@njit(cache=True)
def binlog_put(words: np.ndarray, rec: np.ndarray, kind: int, args: np.ndarray) -> bool:
    """Push one record (``rec`` is the caller's scratch, RECORD_WORDS long); False when the ring was full."""
    rec[0] = kind
    rec[1] = shims.rdtsc()
    n = min(args.shape[0], ARGS)
    for k in range(n):
        rec[2 + k] = args[k]
    for k in range(n, ARGS):
        rec[2 + k] = 0
    return ring_push(words, rec)


@njit(cache=True)
def binlog_stages(words: np.ndarray, rec: np.ndarray, stages: np.ndarray, passes: int) -> bool:
    """Push the stage stamps of the newest hot pass (``probes.stages`` row ``passes - 1``)."""
    if passes == 0:
        return False
    return binlog_put(words, rec, LOG_STAGES, stages[(passes - 1) % stages.shape[0], :N_STAGES])


def format_record(rec: np.ndarray, tsc0: int, ns_per_tick: float) -> str:
    """One record as text (an unknown kind is rendered raw, never dropped)."""
    kind, tsc = int(rec[0]), int(rec[1])
    fields = {f"a{k}": int(rec[2 + k]) for k in range(ARGS)}
    fields["tsc_ns"] = int((tsc - tsc0) * ns_per_tick) if tsc >= tsc0 else 0
    fmt = FORMATS.get(kind)
    if fmt is None:
        return f"{fields['tsc_ns']} unknown record kind {kind}: " + " ".join(str(int(v)) for v in rec[2:])
    return fmt.format(**fields)


def _writer_main(name: str, path: str, cpu: int, tsc0: int, ns_per_tick: float) -> None:
    if cpu >= 0:
        os.sched_setaffinity(0, {cpu})
    ring = ShmRing.attach(name)
    ring.register(producer=False)
    batch = np.zeros((256, ring.record_words), np.uint64)
    parent = os.getppid()
    with open(path, "a", buffering=1 << 16) as f:
        while True:
            n = ring_pop_many(ring.words, batch)
            for k in range(n):
                f.write(format_record(batch[k], tsc0, ns_per_tick) + "\n")
            if n == 0:
                if ring.closed() or os.getppid() != parent:  # closed, or the engine died without closing
                    break
                f.flush()
                time.sleep(0.001)  # the writer is off the hot path: sleeping here costs the engine nothing
        f.write(f"# binlog closed: {ring.overruns()} record(s) refused because the ring was full\n")


class BinLogWriter:
    """The ring (``words`` for :func:`binlog_put`) and its writer process, appending to ``path``."""

    def __init__(self, path: Path | str, slots: int = 1 << 14, cpu: int = -1) -> None:
        self.path = Path(path)
        self.ring = ShmRing.create(slots, RECORD_WORDS)
        self.ring.register(producer=True)
        self.words = self.ring.words
        self.rec = np.zeros(RECORD_WORDS, np.uint64)
        self._dropped = -1  # set at close, when the ring is gone
        self.process = _FORK.Process(target=_writer_main, args=(self.ring.name, str(self.path), cpu,
                                                                int(lib.tw_rdtsc()), 1e9 / tsc_hz()),
                                     name="tickwire-binlog", daemon=True)
        self.process.start()

    def put(self, kind: int, *args: int) -> bool:
        """Push from Python (the slow path; arguments are non-negative integers); compiled code calls
        :func:`binlog_put` itself."""
        return bool(binlog_put(self.words, self.rec, kind, np.asarray(args, np.uint64)))

    def alive(self) -> bool:
        return self.process.is_alive()

    def dropped(self) -> int:
        """Records refused because the ring was full (the writer fell behind or died); valid after close."""
        return self._dropped if self._dropped >= 0 else self.ring.overruns()

    def close(self, timeout_s: float = 10.0) -> None:
        """Tell the writer to finish what is in the ring, wait for it, free the ring."""
        self.ring.close_producer()
        self.process.join(timeout_s)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self._dropped = self.ring.overruns()
        self.words = self.ring.words = np.zeros(0, np.uint64)
        self.ring.close()

