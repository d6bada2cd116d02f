"""Heartbeat timeout, the rate limiter, every fault, and bad input (Deribit's error, connection survives)."""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import websockets
from sim_wsclient import WsClient, run_with_sim

BTC = "BTC-PERPETUAL"


def test_unanswered_test_request_closes_and_answered_keeps_open() -> None:
    async def body(sim: Any) -> None:
        async with await WsClient.connect(sim.url) as c:
            assert (await c.call("public/set_heartbeat", {"interval": 0.05}))["error"]["code"] == -32602
            await c.auth()
            await c.result("private/enable_cancel_on_disconnect", {})
            order = (await c.result("private/buy", {"instrument_name": BTC, "amount": 10, "price": 1000.0}))["order"]
            assert await c.result("public/set_heartbeat", {"interval": 0.2}) == "ok"
            await c.next_notification(method="heartbeat", timeout=2)
            with pytest.raises(websockets.ConnectionClosed):
                for _ in range(100):  # bounded: the server must close within a few intervals
                    await c._read_one(timeout=2)
        async with await WsClient.connect(sim.url) as other:  # the heartbeat failure cancelled its order
            await other.auth()
            state = await other.result("private/get_order_state", {"order_id": order["order_id"]})
            assert state["order_state"] == "cancelled" and state["cancel_reason"] == "cancel_on_disconnect"
        async with await WsClient.connect(sim.url) as c:
            await c.result("public/set_heartbeat", {"interval": 1.0})  # room for a loaded test machine
            answered = 0
            while answered < 2:
                beat = await c.next_notification(method="heartbeat", timeout=5)
                if beat["params"]["type"] == "test_request":
                    await c.result("public/test")
                    answered += 1
            assert await c.result("public/disable_heartbeat") == "ok"
            assert (await c.result("public/test"))["version"]
    run_with_sim(body, rate=0, heartbeat_min_s=0.1)


def test_rate_limiter_non_matching_and_matching_engine() -> None:
    async def body(sim: Any) -> None:
        async with await WsClient.connect(sim.url) as c:
            # non-matching-engine: 500 credits each from 50,000 (burst 100), refill 10,000/s (20 requests/s)
            t0 = time.perf_counter()
            ids = [await c.send("public/get_time") for _ in range(130)]
            answers = [await c.answer(i) for i in ids]
            elapsed = time.perf_counter() - t0
            limited = [a for a in answers if "error" in a]
            assert limited and all(a["error"] == {"code": 10028, "message": "too_many_requests"}
                                   for a in limited)
            assert 100 <= len(answers) - len(limited) <= 100 + 20 * elapsed + 1
            await asyncio.sleep(0.3)
            assert "result" in await c.call("public/get_time")  # refilled
            await c.auth()
            # matching engine, tier 4: burst 20, 5 requests/s
            t0 = time.perf_counter()
            ids = [await c.send("private/buy", {"instrument_name": BTC, "amount": 10, "price": 1000.0})
                   for _ in range(30)]
            answers = [await c.answer(i) for i in ids]
            elapsed = time.perf_counter() - t0
            assert 20 <= sum("result" in a for a in answers) <= 20 + 5 * elapsed + 1
            assert {a["error"]["code"] for a in answers if "error" in a} == {10028}
    run_with_sim(body, rate=0, tier="4")


def test_faults_reject_slow_ack_delay_squeeze() -> None:
    async def body(sim: Any) -> None:
        async with await WsClient.connect(sim.url) as c:
            await c.auth()
            state = await c.result("sim/control", {"reject": 2})
            assert state["faults"]["reject"] == 2
            order = {"instrument_name": BTC, "amount": 10, "price": 1000.0}
            codes = [(await c.call("private/buy", order)).get("error", {}).get("code") for _ in range(3)]
            assert codes == [11030, 11030, None]
            await c.result("sim/control", {"slow_ack_ms": 150})
            t0 = time.perf_counter()
            await c.result("private/buy", order)
            assert time.perf_counter() - t0 >= 0.15
            await c.result("sim/control", {"slow_ack_ms": 0, "delay_ms": 120})
            t0 = time.perf_counter()
            await c.result("public/get_time")
            assert time.perf_counter() - t0 >= 0.12
            await c.result("sim/control", {"delay_ms": 0, "squeeze": 0.05})
            answers = [await c.call("public/get_time") for _ in range(10)]
            assert any("error" in a and a["error"]["code"] == 10028 for a in answers)
            bad = await c.call("sim/control", {"gap": 3})
            assert bad["error"]["code"] == -32602
            bad = await c.call("sim/control", {"nonsense": 1})
            assert bad["error"]["code"] == -32602 and "unknown fault" in bad["error"]["data"]["reason"]
    run_with_sim(body, rate=0)


def test_faults_gap_and_drop() -> None:
    async def body(sim: Any) -> None:
        async with await WsClient.connect(sim.url) as c:
            await c.auth()
            await c.result("private/subscribe", {"channels": ["book.BTC-PERPETUAL.raw"]})
            last = (await c.next_notification("book.BTC-PERPETUAL.raw"))["params"]["data"]["change_id"]
            await c.result("sim/control", {"gap": 0.3})
            breaks = 0
            for _ in range(60):
                data = (await c.next_notification("book.BTC-PERPETUAL.raw"))["params"]["data"]
                breaks += data["prev_change_id"] != last
                last = data["change_id"]
            assert breaks > 3  # with p=0.3 per message, ~18 expected; 3 or fewer has p < 1e-5
            await c.result("sim/control", {"gap": 0, "drop": 1.0})
            c.notifications.clear()
            await asyncio.sleep(0.2)
            assert "result" in await c.call("public/get_time")  # answers are never dropped
            assert not c.notifications
            await c.result("sim/control", {"drop": 0})
            await c.next_notification("book.BTC-PERPETUAL.raw")
    run_with_sim(body, rate=500)


def test_faults_close_connections() -> None:
    async def body(sim: Any) -> None:
        async with await WsClient.connect(sim.url) as a, await WsClient.connect(sim.url) as b:
            state = await a.result("sim/control", {"close": "others"})
            assert state["connections"] == 2
            with pytest.raises(websockets.ConnectionClosed):
                await b._read_one(timeout=2)
            assert "result" in await a.call("public/get_time")
            await a.send("sim/control", {"close": "self"})
            with pytest.raises(websockets.ConnectionClosed):
                for _ in range(5):
                    await a._read_one(timeout=2)
        async with await WsClient.connect(sim.url) as c:
            await c.result("sim/control", {"close_every": 0.3})
            with pytest.raises(websockets.ConnectionClosed):
                for _ in range(5):
                    await c._read_one(timeout=2)
    run_with_sim(body, rate=0)


def test_bad_input_gets_deribit_errors_and_connection_survives() -> None:
    async def body(sim: Any) -> None:
        async with await WsClient.connect(sim.url) as c:
            r = await c.raw_answer("{not json")
            assert r["error"]["code"] == -32700 and r["id"] is None
            r = await c.raw_answer(json.dumps([1, 2]))
            assert r["error"]["code"] == -32600
            r = await c.raw_answer(json.dumps({"jsonrpc": "2.0", "id": 5, "method": "public/nope"}))
            assert r["error"] == {"code": -32601, "message": "Method not found"} and r["id"] == 5
            r = await c.raw_answer(json.dumps({"jsonrpc": "2.0", "id": 6, "method": 42}))
            assert r["error"]["code"] == -32600
            r = await c.raw_answer(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "public/get_order_book",
                                               "params": "x"}))
            assert r["error"]["code"] == -32602
            r = await c.call("public/get_order_book", {})
            assert r["error"]["data"] == {"param": "instrument_name", "reason": "value required"}
            r = await c.call("public/get_order_book", {"instrument_name": 5})
            assert r["error"]["data"] == {"param": "instrument_name", "reason": "must be a string"}
            await c.auth()
            r = await c.call("private/buy", {"instrument_name": BTC, "amount": "ten", "price": 1000})
            assert r["error"]["data"] == {"param": "amount", "reason": "must be a number"}
            r = await c.call("private/buy", {"instrument_name": BTC, "amount": 10, "price": 1000, "post_only": "y"})
            assert r["error"]["data"]["param"] == "post_only"
            big = json.dumps({"jsonrpc": "2.0", "id": 9, "method": "public/test",
                              "params": {"pad": "x" * 1_000_000}})
            r = await c.raw_answer(big)
            assert r["error"]["code"] == 11050 and r["error"]["message"] == "bad_request"
            r = await c.raw_answer(json.dumps({"jsonrpc": "2.0", "id": 10, "method": "public/test"}).encode())
            assert r["id"] == 10 and r["result"]["version"]  # a binary frame with JSON is answered like text
            r = await c.raw_answer(b"\xff\xfe")
            assert r["error"]["code"] == -32700
            text = json.dumps({"jsonrpc": "2.0", "id": 11, "method": "public/test"})
            await c.ws.send([text[:10], text[10:20], text[20:]])  # one message in three fragments
            assert (await c.answer(11))["result"]["version"]
            assert (await c.result("public/test"))["version"]  # still connected after all of that
    run_with_sim(body, rate=0)
