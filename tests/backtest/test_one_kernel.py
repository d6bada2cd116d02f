"""One strategy kernel, unchanged, in `tickwire backtest`, `tickwire run --venue sim`, and the same run against the
simulator set up like testnet (the engine's non-simulator venue path, testnet's tier-4 matching rate limit): the
same compiled function (one numba overload: the same machine code) drives all three."""
from __future__ import annotations

import asyncio
import dataclasses

import pytest

import crafted
from test_backtest_fills import QUEUE
from tickwire.config import load
from tickwire.deribit import venue as venues
from tickwire.engine.backtest import Backtest, BacktestConfig
from tickwire.engine.kernel_cache import build_hot_pass
from tickwire.engine.run import run_async
from tickwire.engine.strategies.market_maker import MarketMaker, mm_kernel

pytestmark = pytest.mark.timeout(900)
MM = "tickwire.engine.strategies.market_maker:MarketMaker"


def _live(testnet_like: bool):
    venue = venues.start_sim(("BTC-PERPETUAL",), 50.0, extra=("--tier", "4") if testnet_like else ())
    if testnet_like:
        venue = dataclasses.replace(venue, is_sim=False)
    cfg = load(None, {"venue": "sim", "strategy": MM, "duration_s": 3.0, "instruments": ["BTC-PERPETUAL"],
                      "strategy_params": {"half_spread": 4.0}})
    engines = []

    async def remember(engine, session):
        engines.append(engine)

    try:
        result = asyncio.run(run_async(cfg, venue, None, remember))
    finally:
        venue.close()
    return engines[0], result


def test_the_same_compiled_kernel_runs_in_backtest_sim_and_a_testnet_like_venue(tmp_path):
    cap = crafted.write(tmp_path / "c.pcap", QUEUE)
    bt = Backtest(BacktestConfig(cap, MM, params={"half_spread": 1.0}))
    assert bt.run().summary()["orders"] >= 2
    kernels = [bt.engine.kernel]
    compiled = set(mm_kernel.overloads)  # the kernel's machine code after the backtest
    for testnet_like in (False, True):
        engine, result = _live(testnet_like)
        assert result.counters["orders_sent"] >= 1, result.counters
        kernels.append(engine.kernel)
        assert set(mm_kernel.overloads) == compiled  # nothing recompiled: the backtest's compiled kernel ran
    assert all(k is MarketMaker.kernel is mm_kernel for k in kernels)
    assert len({id(build_hot_pass(k)) for k in kernels}) == 1  # one specialised pass for the three runs
