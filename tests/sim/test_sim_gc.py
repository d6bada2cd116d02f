"""The simulator's collector: start-up frozen, automatic collection off, the young generation collected on a
timer and nothing older (a full walk of its order and trade histories stalled every connection)."""
from __future__ import annotations

import asyncio
import gc

import pytest

from tickwire.sim import run


@pytest.fixture
def collector_restored():
    was = gc.isenabled()
    yield
    gc.unfreeze()
    if was:
        gc.enable()


def test_only_young_collections_run_and_they_come_on_the_timer(collector_restored, monkeypatch):
    monkeypatch.setattr(run, "GC_YOUNG_EVERY_S", 0.01)
    generations: list[int] = []

    def seen(phase: str, info: dict) -> None:
        if phase == "start":
            generations.append(info["generation"])

    run._tune_gc()
    assert not gc.isenabled() and gc.get_freeze_count() > 0
    gc.callbacks.append(seen)
    try:
        async def churn() -> None:
            task = asyncio.get_running_loop().create_task(run._collect_young())
            keep = []
            for _ in range(20):
                keep.extend([k] for k in range(20_000))  # far past every automatic threshold
                await asyncio.sleep(0.01)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        asyncio.run(churn())
    finally:
        gc.callbacks.remove(seen)
    assert generations and set(generations) == {0}
