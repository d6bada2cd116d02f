"""Reference data, funding, margins, token management, label methods and MMP on single orders, driven by the
independent websockets+json client."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import websockets

from sim_wsclient import TWO_ACCOUNTS, WsClient, maker_and_taker, run_with_sim

BTC = "BTC-PERPETUAL"


def _now_ms() -> int:
    return int(time.time() * 1000)


def test_reference_data_funding_and_margins() -> None:
    async def body(sim: Any) -> None:
        async with await WsClient.connect(sim.url) as c:
            assert (await c.result("public/hello", {"client_name": "t", "client_version": "1"}))["version"]
            hello = await c.call("public/hello", {"client_version": "1"})
            assert hello["error"]["data"] == {"param": "client_name", "reason": "value required"}
            assert await c.result("public/status") == {"locked": "false", "locked_indices": []}
            assert await c.result("public/get_contract_size", {"instrument_name": BTC}) == {"contract_size": 10.0}
            instruments = await c.result("public/get_instruments", {"currency": "BTC"})
            dated = sorted({i["instrument_name"].split("-")[1] for i in instruments if i["kind"] == "option"})
            btc = await c.result("public/get_expirations", {"currency": "BTC", "kind": "any"})
            assert btc == {"future": sorted(["PERPETUAL", *dated]), "option": dated}
            every = await c.result("public/get_expirations", {"currency": "any", "kind": "future"})
            assert every == {"btc": {"future": sorted(["PERPETUAL", *dated])}, "eth": {"future": ["PERPETUAL"]}}
            summary = await c.result("public/get_book_summary_by_currency", {"currency": "BTC", "kind": "future"})
            ticker = await c.result("public/ticker", {"instrument_name": BTC})
            assert {s["instrument_name"] for s in summary} == {i["instrument_name"] for i in instruments
                                                               if i["kind"] == "future"}
            perp = next(s for s in summary if s["instrument_name"] == BTC)
            assert perp["mark_price"] == ticker["mark_price"] and perp["funding_8h"] == ticker["funding_8h"]
            assert perp["bid_price"] == ticker["best_bid_price"] and perp["ask_price"] == ticker["best_ask_price"]
            await asyncio.sleep(0.3)  # the first 100 ms tick records this hour's funding
            history = await c.result("public/get_funding_rate_history", {
                "instrument_name": BTC, "start_timestamp": 0, "end_timestamp": _now_ms()})
            assert len(history) == 1 and history[0]["timestamp"] % 3_600_000 == 0
            assert history[0]["interest_8h"] == ticker["funding_8h"]
            value = await c.result("public/get_funding_rate_value", {
                "instrument_name": BTC, "start_timestamp": 0, "end_timestamp": _now_ms()})
            assert value == history[0]["interest_1h"]
            dated_future = next(i["instrument_name"] for i in instruments if i["kind"] == "future"
                                and i["instrument_name"] != BTC)
            not_perp = await c.call("public/get_funding_rate_history", {
                "instrument_name": dated_future, "start_timestamp": 0, "end_timestamp": _now_ms()})
            assert not_perp["error"]["data"]["param"] == "instrument_name"
            empty = await c.result("public/get_tradingview_chart_data", {
                "instrument_name": "ETH-PERPETUAL", "start_timestamp": 0, "end_timestamp": _now_ms(),
                "resolution": "60"})
            assert empty["status"] == "no_data" and empty["ticks"] == []
            bad = await c.call("public/get_tradingview_chart_data", {
                "instrument_name": BTC, "start_timestamp": 0, "end_timestamp": _now_ms(), "resolution": "7"})
            assert bad["error"]["data"]["param"] == "resolution"
            assert await c.result("public/get_delivery_prices", {"index_name": "btc_usd"}) == {
                "data": [], "records_total": 0}
            await c.auth()
            margins = await c.result("private/get_margins", {"instrument_name": BTC, "amount": 1000,
                                                             "price": 100_000})
            assert margins["buy"] == margins["sell"] == round(1000 / 100_000 * 0.02, 10)
            assert margins["min_price"] < ticker["mark_price"] < margins["max_price"]
            odd = await c.call("private/get_margins", {"instrument_name": BTC, "amount": 15, "price": 100_000})
            assert odd["error"]["data"]["param"] == "amount"
            rest = await c.result("private/buy", {"instrument_name": BTC, "amount": 500,
                                                  "price": ticker["best_bid_price"] - 100})
            oid = rest["order"]["order_id"]
            [margin] = await c.result("private/get_order_margin_by_ids", {"ids": [oid]})
            assert margin["order_id"] == oid and margin["initial_margin_currency"] == "BTC"
            assert margin["initial_margin"] == round(500 / (ticker["best_bid_price"] - 100) * 0.02, 10)
    run_with_sim(body, rate=0)


def test_tokens_logout_and_label_methods() -> None:
    async def body(sim: Any) -> None:
        async with await WsClient.connect(sim.url) as c:
            first = await c.auth()
            forked = await c.result("public/fork_token", {"refresh_token": first["refresh_token"],
                                                          "session_name": "s2"})
            assert forked["access_token"] != first["access_token"]
            used = await c.call("public/fork_token", {"refresh_token": first["refresh_token"], "session_name": "s3"})
            assert used["error"]["code"] == 13004
            me = await c.result("private/get_account_summary", {"currency": "BTC", "extended": True})
            wrong = await c.call("public/exchange_token", {"refresh_token": forked["refresh_token"],
                                                           "subject_id": me["id"] + 1})
            assert wrong["error"]["data"]["param"] == "subject_id"
            swapped = await c.result("public/exchange_token", {"refresh_token": forked["refresh_token"],
                                                               "subject_id": me["id"]})
            book = await c.result("public/get_order_book", {"instrument_name": BTC, "depth": 1})
            low = book["best_bid_price"] - 200
            for _ in range(2):
                await c.result("private/buy", {"instrument_name": BTC, "amount": 10, "price": low, "label": "twin"})
            solo = (await c.result("private/buy", {"instrument_name": BTC, "amount": 10, "price": low,
                                                   "label": "solo"}))["order"]
            labelled = await c.result("private/get_open_orders_by_label", {"currency": "BTC", "label": "twin"})
            assert len(labelled) == 2 and {o["label"] for o in labelled} == {"twin"}
            twins = await c.call("private/edit_by_label", {"label": "twin", "instrument_name": BTC, "amount": 20,
                                                           "price": low})
            assert twins["error"]["code"] == 13032
            edited = await c.result("private/edit_by_label", {"label": "solo", "instrument_name": BTC, "amount": 30,
                                                              "price": low - 10})
            assert edited["order"]["order_id"] == solo["order_id"] and edited["order"]["amount"] == 30
            assert await c.result("private/logout", {}) == "ok"
            with_closed = False
            try:
                await c.call("public/test", timeout=3)
            except (websockets.ConnectionClosed, asyncio.TimeoutError):
                with_closed = True
            assert with_closed, "the connection stays open after private/logout"
        async with await WsClient.connect(sim.url) as c:
            for token in (first["access_token"], forked["access_token"], swapped["access_token"]):
                revoked = await c.call("private/get_positions", {"access_token": token})
                assert revoked["error"]["code"] == 13009
    run_with_sim(body, rate=0)


def test_mmp_on_single_orders_freezes_and_thaws() -> None:
    async def body(sim: Any) -> None:
        async with maker_and_taker(sim.url) as (mm, taker):
            book = await mm.result("public/get_order_book", {"instrument_name": BTC, "depth": 1})
            ask = book["best_ask_price"] + 5
            order = {"instrument_name": BTC, "amount": 100, "price": ask, "mmp": True}
            unconfigured = await mm.call("private/sell", order)
            assert unconfigured["error"]["data"]["param"] == "mmp"
            await mm.result("private/set_mmp_config", {"index_name": "btc_usd", "interval": 10, "frozen_time": 1,
                                                       "delta_limit": 0.0005})
            await mm.result("private/subscribe", {"channels": ["user.mmp_trigger.btc_usd"]})
            resting = (await mm.result("private/sell", order))["order"]
            spare = (await mm.result("private/sell", dict(order, price=ask + 50)))["order"]
            assert resting["mmp"] and spare["mmp"]
            # the taker buys the book up to our first order: our 100 USD (~0.0011 BTC) sold exceeds the delta limit
            await taker.result("private/buy", {"instrument_name": BTC, "amount": 10_000, "price": ask,
                                               "time_in_force": "immediate_or_cancel"})
            trigger = (await mm.next_notification("user.mmp_trigger.btc_usd"))["params"]["data"]
            assert trigger["index_name"] == "btc_usd" and trigger["frozen_until"] > _now_ms() - 1000
            state = await mm.result("private/get_order_state", {"order_id": spare["order_id"]})
            assert state["order_state"] == "cancelled" and state["cancel_reason"] == "mmp_trigger"
            frozen = await mm.call("private/sell", dict(order, price=ask + 50))
            assert frozen["error"]["code"] == 13030
            plain = await mm.result("private/sell", dict(order, price=ask + 50, mmp=False))
            assert plain["order"]["order_state"] == "open"  # orders without the mmp flag are not frozen
            deadline = asyncio.get_running_loop().time() + 10
            while "error" in (thawed := await mm.call("private/sell", dict(order, price=ask + 60))):
                assert asyncio.get_running_loop().time() < deadline, thawed
                await asyncio.sleep(0.2)
            assert thawed["result"]["order"]["mmp"]
            assert await mm.result("private/set_mmp_config", {"index_name": "btc_usd", "interval": 0,
                                                              "frozen_time": 0}) == {
                "index_name": "btc_usd", "interval": 0, "frozen_time": 0}
            assert await mm.result("private/get_mmp_config", {}) == []
    run_with_sim(body, rate=0, credentials=TWO_ACCOUNTS, tier=None)
