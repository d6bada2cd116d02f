"""Every JSON-RPC method and channel, driven by an independent websockets+json client (and urllib for HTTP)."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

from sim_wsclient import CLIENT_ID, CLIENT_SECRET, WsClient, ahttp, run_with_sim

BTC = "BTC-PERPETUAL"


async def _book(c: WsClient, name: str = BTC) -> dict[str, Any]:
    return await c.result("public/get_order_book", {"instrument_name": name, "depth": 5})


def test_auth_grants_expiry_and_unauthorized() -> None:
    async def body(sim: Any) -> None:
        async with await WsClient.connect(sim.url) as c:
            r = await c.call("private/get_positions", {})
            assert r["error"]["code"] == 13009 and r["error"]["message"] == "unauthorized"
            bad = await c.call("public/auth", {"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                               "client_secret": "wrong"})
            assert bad["error"]["code"] == 13004 and bad["error"]["message"] == "invalid_credentials"
            first = await c.auth()
            assert first["expires_in"] > 0 and first["token_type"] == "bearer"
            again = await c.result("public/auth", {"grant_type": "refresh_token",
                                                   "refresh_token": first["refresh_token"]})
            assert again["access_token"] != first["access_token"]
            reused = await c.call("public/auth", {"grant_type": "refresh_token",
                                                  "refresh_token": first["refresh_token"]})
            assert reused["error"]["code"] == 13004  # a refresh token works once
            stamp, nonce = int(time.time() * 1000), "abc"
            sig = hmac.new(CLIENT_SECRET.encode(), f"{stamp}\n{nonce}\n".encode(), hashlib.sha256).hexdigest()
            signed = await c.result("public/auth", {"grant_type": "client_signature", "client_id": CLIENT_ID,
                                                    "timestamp": stamp, "nonce": nonce, "signature": sig,
                                                    "state": "s1"})
            assert signed["state"] == "s1"
            assert isinstance(await c.result("private/get_positions", {}), list)
            await asyncio.sleep(1.6)  # token_ttl_s=1.5: the connection's login has expired
            expired = await c.call("private/get_positions", {})
            assert expired["error"]["code"] == 13009
            explicit = await c.call("private/get_positions", {"access_token": signed["access_token"]})
            assert explicit["error"]["code"] == 13009
    run_with_sim(body, rate=0, token_ttl_s=1.5)


def test_public_methods_and_instruments() -> None:
    async def body(sim: Any) -> None:
        async with await WsClient.connect(sim.url) as c:
            assert (await c.result("public/test"))["version"]
            exc = await c.call("public/test", {"expected_result": "exception"})
            assert exc["error"]["code"] == 11094
            now = await c.result("public/get_time")
            assert abs(now - time.time() * 1000) < 60_000
            every = await c.result("public/get_instruments", {"currency": "any"})
            names = {i["instrument_name"] for i in every}
            assert {"BTC-PERPETUAL", "ETH-PERPETUAL"} <= names and len(names) == 5
            options = await c.result("public/get_instruments", {"currency": "BTC", "kind": "option"})
            assert options and all(i["kind"] == "option" and i["option_type"] in ("call", "put") for i in options)
            eth = await c.result("public/get_instruments", {"currency": "ETH"})
            assert [i["instrument_name"] for i in eth] == ["ETH-PERPETUAL"]
            book = await _book(c)
            assert book["best_bid_price"] < book["best_ask_price"]
            assert book["bids"][0] == [book["best_bid_price"], book["best_bid_amount"]]
            assert len(book["bids"]) == 5 and isinstance(book["change_id"], int)
            ticker = await c.result("public/ticker", {"instrument_name": "ETH-PERPETUAL"})
            assert ticker["instrument_name"] == "ETH-PERPETUAL" and ticker["best_bid_price"] > 0
            missing = await c.call("public/ticker", {"instrument_name": "NOPE"})
            assert missing["error"]["code"] == -32602 and missing["error"]["data"]["param"] == "instrument_name"
    run_with_sim(body, rate=0)


def test_orders_fills_positions_and_account() -> None:
    async def body(sim: Any) -> None:
        async with await WsClient.connect(sim.url) as c:
            await c.auth()
            book = await _book(c)
            ask, ask_amount = book["best_ask_price"], book["best_ask_amount"]
            # a buy at the ask takes liquidity: fill at the resting price, liquidity T, taker fee in BTC
            r = await c.result("private/buy", {"instrument_name": BTC, "amount": 10, "price": ask,
                                               "label": "take"})
            assert r["order"]["order_state"] == "filled" and r["order"]["average_price"] == ask
            (trade,) = r["trades"]
            assert trade["liquidity"] == "T" and trade["price"] == ask and trade["fee_currency"] == "BTC"
            assert abs(trade["fee"] - 0.0005 * 10 / ask) < 1e-9
            after = await _book(c)
            assert after["best_ask_price"] > ask if ask_amount == 10 else after["best_ask_amount"] == ask_amount - 10
            pos = await c.result("private/get_position", {"instrument_name": BTC})
            assert pos["size"] == 10 and pos["direction"] == "buy" and pos["average_price"] == ask
            # sell it back at the bid: inverse P&L = 10 * (1/ask - 1/bid) BTC
            bid = (await _book(c))["best_bid_price"]
            await c.result("private/sell", {"instrument_name": BTC, "amount": 10, "type": "market"})
            pos = await c.result("private/get_position", {"instrument_name": BTC})
            assert pos["size"] == 0 and pos["direction"] == "zero"
            assert abs(pos["realized_profit_loss"] - 10 * (1 / ask - 1 / bid)) < 1e-8
            summary = await c.result("private/get_account_summary", {"currency": "BTC"})
            fees = 0.0005 * 10 / ask + 0.0005 * 10 / bid
            assert abs(summary["balance"] - (10.0 + 10 * (1 / ask - 1 / bid) - fees)) < 1e-8
            assert summary["limits"]["matching_engine"]["burst"] == 100
            # resting orders and queries
            low = book["best_bid_price"] - 1000
            a = (await c.result("private/buy", {"instrument_name": BTC, "amount": 20, "price": low,
                                                "label": "L1"}))["order"]
            b = (await c.result("private/buy", {"instrument_name": BTC, "amount": 30, "price": low - 0.5,
                                                "label": "L2"}))["order"]
            e = (await c.result("private/sell", {"instrument_name": "ETH-PERPETUAL", "amount": 1, "price": 9000.0,
                                                 "label": "L1"}))["order"]
            assert a["order_state"] == "open" and a["contracts"] == 2.0
            by_cur = await c.result("private/get_open_orders_by_currency", {"currency": "BTC"})
            assert {o["order_id"] for o in by_cur} == {a["order_id"], b["order_id"]}
            by_inst = await c.result("private/get_open_orders_by_instrument", {"instrument_name": "ETH-PERPETUAL"})
            assert [o["order_id"] for o in by_inst] == [e["order_id"]]
            state = await c.result("private/get_order_state", {"order_id": a["order_id"]})
            assert state["order_state"] == "open" and state["label"] == "L1"
            assert await c.result("private/cancel_by_label", {"label": "L1"}) == 2
            assert (await c.result("private/get_order_state", {"order_id": e["order_id"]}))["cancel_reason"] == \
                "user_request"
            assert await c.result("private/cancel_all_by_instrument", {"instrument_name": BTC}) == 1
            gone = await c.call("private/cancel", {"order_id": b["order_id"]})
            assert gone["error"]["code"] == 11044 and gone["error"]["message"] == "not_open_order"
            unknown = await c.call("private/cancel", {"order_id": "123"})
            assert unknown["error"]["code"] == 10004
            for n in range(3):
                await c.result("private/sell", {"instrument_name": BTC, "amount": 10, "price": 200000.0 + n})
            assert await c.result("private/cancel_all", {}) == 3
            # a resting order that is hit trades as maker (M, maker fee 0 on BTC-PERPETUAL)
            now = await _book(c)
            rest = (await c.result("private/sell", {"instrument_name": BTC, "amount": 10,
                                                    "price": now["best_ask_price"]}))["order"]  # back of the queue
            await c.result("private/buy", {"instrument_name": BTC, "amount": now["best_ask_amount"] + 10,
                                           "price": now["best_ask_price"], "time_in_force": "immediate_or_cancel"})
            trades = await c.result("private/get_user_trades_by_instrument", {"instrument_name": BTC, "count": 2})
            assert trades["has_more"] is True
            maker = next(t for t in trades["trades"] if t["order_id"] == rest["order_id"])
            assert maker["liquidity"] == "M" and maker["fee"] == 0.0 and maker["state"] == "filled"
            positions = await c.result("private/get_positions", {"currency": "BTC"})
            assert [p["instrument_name"] for p in positions] == [BTC]
    run_with_sim(body, rate=0)


def test_order_validation_and_time_in_force() -> None:
    async def body(sim: Any) -> None:
        async with await WsClient.connect(sim.url) as c:
            await c.auth()
            book = await _book(c)
            bid, ask = book["best_bid_price"], book["best_ask_price"]

            async def buy(**params: Any) -> dict[str, Any]:
                return await c.call("private/buy", {"instrument_name": BTC, **params})
            assert (await buy(amount=10, price=bid + 0.25))["error"]["code"] == 10043
            assert (await buy(amount=15, price=bid))["error"]["code"] == 10021
            assert (await buy(amount=5, price=bid))["error"]["code"] == 10002
            assert (await buy(amount=-10, price=bid))["error"]["code"] == 10021
            assert (await buy(amount=10))["error"]["data"] == {"param": "price", "reason": "value required"}
            assert (await buy(amount=10, price=bid, time_in_force="forever"))["error"]["code"] == -32602
            huge = sum(level[1] for level in (await c.result("public/get_order_book",
                                                             {"instrument_name": BTC, "depth": 10000}))["asks"])
            fok = (await buy(amount=huge + 10, price=ask * 2, time_in_force="fill_or_kill"))["result"]
            assert fok["order"]["order_state"] == "cancelled" and fok["trades"] == []
            ioc = (await buy(amount=10, price=bid, time_in_force="immediate_or_cancel"))["result"]
            assert ioc["order"]["order_state"] == "cancelled" and ioc["trades"] == []
            # post_only that would take is re-priced one tick inside the spread and never trades
            po = (await buy(amount=10, price=ask, post_only=True))["result"]
            assert po["trades"] == [] and po["order"]["price"] == ask - 0.5 and po["order"]["order_state"] == "open"
            rej = await buy(amount=10, price=ask + 50, post_only=True, reject_post_only=True)
            assert rej["error"]["code"] == 11054
            ro = await c.call("private/sell", {"instrument_name": BTC, "amount": 10, "price": ask + 100,
                                               "reduce_only": True})
            assert ro["error"]["code"] == 11030  # nothing to reduce
            # edit: a decrease at the same price keeps priority; a price change re-queues
            order = po["order"]
            edited = await c.result("private/edit", {"order_id": order["order_id"], "amount": 10,
                                                     "price": order["price"] - 1})
            assert edited["order"]["price"] == order["price"] - 1 and edited["order"]["replaced"] is True
            wrong = await c.call("private/edit", {"order_id": order["order_id"], "amount": 10, "price": 1.25})
            assert wrong["error"]["code"] == 10043
            await c.result("private/cancel", {"order_id": order["order_id"]})
            closed = await c.call("private/edit", {"order_id": order["order_id"], "amount": 20})
            assert closed["error"]["code"] == 11044
            unsupported = await buy(amount=10, type="stop_limit", price=bid)
            assert unsupported["error"]["code"] == -32602
    run_with_sim(body, rate=0)


def test_subscriptions_user_channels_and_chain() -> None:
    async def body(sim: Any) -> None:
        async with await WsClient.connect(sim.url) as pub:
            raw = await pub.call("public/subscribe", {"channels": ["book.BTC-PERPETUAL.raw"]})
            assert raw["error"]["code"] == 13778
            got = await pub.result("public/subscribe", {"channels": ["book.BTC-PERPETUAL.100ms", "quote.BTC-PERPETUAL",
                                                                     "user.orders.any.any.raw", "bogus.channel"]})
            assert got == ["book.BTC-PERPETUAL.100ms", "quote.BTC-PERPETUAL"]  # invalid/private left out
        async with await WsClient.connect(sim.url) as c:
            await c.auth()
            channels = ["book.BTC-PERPETUAL.raw", "book.ETH-PERPETUAL.100ms", "user.orders.BTC-PERPETUAL.raw",
                        "user.orders.any.any.100ms", "user.trades.future.BTC.raw", "user.portfolio.btc",
                        "user.changes.BTC-PERPETUAL.raw", "trades.future.any.raw", "quote.BTC-PERPETUAL"]
            assert await c.result("private/subscribe", {"channels": channels}) == channels
            snap = (await c.next_notification("book.BTC-PERPETUAL.raw"))["params"]["data"]
            last = snap["change_id"]
            for _ in range(20):  # the raw chain: every prev_change_id is the previous change_id
                data = (await c.next_notification("book.BTC-PERPETUAL.raw"))["params"]["data"]
                assert data["prev_change_id"] == last and data["change_id"] > last
                last = data["change_id"]
            eth_snap = (await c.next_notification("book.ETH-PERPETUAL.100ms"))["params"]["data"]
            eth = (await c.next_notification("book.ETH-PERPETUAL.100ms"))["params"]["data"]
            assert eth["prev_change_id"] == eth_snap["change_id"]
            book = await _book(c)
            await c.result("private/buy", {"instrument_name": BTC, "amount": 10, "price": book["best_ask_price"]})
            order = (await c.next_notification("user.orders.BTC-PERPETUAL.raw"))["params"]["data"]
            assert order["order_state"] == "filled"
            assert isinstance((await c.next_notification("user.orders.any.any.100ms"))["params"]["data"], list)
            trades = (await c.next_notification("user.trades.future.BTC.raw"))["params"]["data"]
            assert trades[0]["liquidity"] == "T"
            portfolio = (await c.next_notification("user.portfolio.btc"))["params"]["data"]
            assert portfolio["currency"] == "BTC" and "equity" in portfolio
            changes = (await c.next_notification("user.changes.BTC-PERPETUAL.raw"))["params"]["data"]
            assert set(changes) == {"instrument_name", "trades", "orders", "positions"}
            assert changes["positions"][0]["size"] == 10
            names: set[str] = set()
            for _ in range(50):  # flow trades of every future arrive here too; ours is among them
                public = (await c.next_notification("trades.future.any.raw"))["params"]["data"]
                names |= {t["instrument_name"] for t in public}
                if BTC in names:
                    break
            assert BTC in names and not any(n.endswith(("-C", "-P")) for n in names)  # futures only
            quote = (await c.next_notification("quote.BTC-PERPETUAL"))["params"]["data"]
            assert set(quote) == {"timestamp", "instrument_name", "best_bid_price", "best_bid_amount",
                                  "best_ask_price", "best_ask_amount"}
            assert await c.result("public/unsubscribe", {"channels": ["book.BTC-PERPETUAL.raw", "nope"]}) == \
                ["book.BTC-PERPETUAL.raw"]
            assert await c.result("private/unsubscribe_all", {}) == "ok"
            c.notifications.clear()
            await asyncio.sleep(0.3)
            await c.result("public/get_time")
            assert not [n for n in c.notifications if n.get("method") == "subscription"]
    run_with_sim(body, rate=200)


def test_http_get_post_bearer_and_ws_only() -> None:
    async def body(sim: Any) -> None:
        status, r = await ahttp(sim.http_url + "/public/get_order_book?instrument_name=BTC-PERPETUAL&depth=5")
        assert status == 200 and len(r["result"]["bids"]) == 5 and "usDiff" in r
        status, r = await ahttp(sim.http_url + "/public/auth?grant_type=client_credentials&client_id="
                                f"{CLIENT_ID}&client_secret={CLIENT_SECRET}")
        assert status == 200
        token = r["result"]["access_token"]
        status, r = await ahttp(sim.http_url + "/private/get_positions")
        assert status == 400 and r["error"]["code"] == 13009
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        body_json = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "private/buy",
                                "params": {"instrument_name": BTC, "amount": 10, "price": 1000.0}}).encode()
        status, r = await ahttp(sim.http_url, body_json, headers)
        assert status == 200 and r["id"] == 7 and r["result"]["order"]["order_state"] == "open"
        status, r = await ahttp(sim.http_url + "/private/get_open_orders_by_currency?currency=BTC",
                                headers=headers)
        assert status == 200 and len(r["result"]) == 1
        status, r = await ahttp(sim.http_url + "/private/cancel_all", b"{}", headers)
        assert status == 200 and r["result"] == 1
        status, r = await ahttp(sim.http_url + "/public/subscribe?channels=book.BTC-PERPETUAL.100ms")
        assert status == 400 and r["error"]["code"] == 10030
        status, r = await ahttp(sim.http_url + "/public/nope")
        assert status == 400 and r["error"]["code"] == -32601
        status, r = await ahttp(sim.http_url + "/public/get_order_book?instrument_name=BTC-PERPETUAL&depth=x")
        assert status == 400 and r["error"]["code"] == -32602
        status, r = await ahttp(sim.http_url + "/public/ticker", b"{not json")
        assert status == 400 and r["error"]["code"] == -32700
        status, r = await ahttp(sim.http_url.replace("/api/v2", "/elsewhere"))
        assert status == 404
        status, r = await ahttp(sim.http_url + "/public/get_time", b"x" * 300_000)
        assert status == 400 and r["error"]["code"] == 11050
    run_with_sim(body, rate=0)


def test_cancel_on_disconnect() -> None:
    async def body(sim: Any) -> None:
        async with await WsClient.connect(sim.url) as watcher:
            await watcher.auth()
            await watcher.result("private/subscribe", {"channels": ["user.orders.any.any.raw"]})
            async with await WsClient.connect(sim.url) as c:
                await c.auth()
                assert await c.result("private/get_cancel_on_disconnect", {}) == {"scope": "connection",
                                                                                  "enabled": False}
                assert await c.result("private/enable_cancel_on_disconnect", {}) == "ok"
                order = (await c.result("private/buy", {"instrument_name": BTC, "amount": 10,
                                                        "price": 1000.0}))["order"]
                await watcher.next_notification("user.orders.any.any.raw")
            cancelled = (await watcher.next_notification("user.orders.any.any.raw"))["params"]["data"]
            assert cancelled["order_id"] == order["order_id"]
            assert cancelled["order_state"] == "cancelled" and cancelled["cancel_reason"] == "cancel_on_disconnect"
            # without COD (never enabled, or enabled then disabled) orders survive their connection
            async with await WsClient.connect(sim.url) as c:
                await c.auth()
                await c.result("private/buy", {"instrument_name": BTC, "amount": 10, "price": 1000.0})
            async with await WsClient.connect(sim.url) as c:
                await c.auth()
                await c.result("private/enable_cancel_on_disconnect", {"scope": "connection"})
                assert await c.result("private/disable_cancel_on_disconnect", {}) == "ok"
                await c.result("private/buy", {"instrument_name": BTC, "amount": 10, "price": 1000.0})
            await asyncio.sleep(0.1)
            assert len(await watcher.result("private/get_open_orders_by_instrument", {"instrument_name": BTC})) == 2
    run_with_sim(body, rate=0)


def test_remaining_queries_grouped_books_and_kind_channels() -> None:
    async def body(sim: Any) -> None:
        async with await WsClient.connect(sim.url) as c:
            await c.auth()
            inst = await c.result("public/get_instrument", {"instrument_name": "ETH-PERPETUAL"})
            assert inst["tick_size"] == 0.05 and inst["contract_size"] == 1.0
            await c.result("private/buy", {"instrument_name": BTC, "amount": 10, "price": 1000.0})
            await c.result("private/sell", {"instrument_name": "ETH-PERPETUAL", "amount": 1, "price": 9000.0})
            assert len(await c.result("private/get_open_orders", {})) == 2
            assert len(await c.result("private/get_open_orders", {"kind": "option"})) == 0
            assert await c.result("private/cancel_all_by_currency", {"currency": "ETH"}) == 1
            detailed = await c.result("private/cancel_all", {"detailed": True})
            assert [o["instrument_name"] for o in detailed] == [BTC]
            assert detailed[0]["cancel_reason"] == "user_request"
            book = await c.result("public/get_order_book", {"instrument_name": BTC, "depth": 1000})
            channels = ["book.BTC-PERPETUAL.10.20.100ms", "book.BTC-PERPETUAL.none.1.100ms",
                        "trades.future.BTC.100ms", "ticker.ETH-PERPETUAL.raw"]
            assert await c.result("public/subscribe", {"channels": channels}) == channels
            grouped = (await c.next_notification("book.BTC-PERPETUAL.10.20.100ms"))["params"]["data"]
            assert all(p % 10 == 0 for p, _ in grouped["bids"] + grouped["asks"])
            assert sum(a for _, a in grouped["bids"]) <= sum(a for _, a in book["bids"])
            assert grouped["bids"][0][0] <= book["best_bid_price"] < grouped["asks"][0][0] + 10
            top = (await c.next_notification("book.BTC-PERPETUAL.none.1.100ms"))["params"]["data"]
            assert len(top["bids"]) == 1 and len(top["asks"]) == 1
            await c.result("private/sell", {"instrument_name": BTC, "amount": 10, "type": "market"})
            trades = (await c.next_notification("trades.future.BTC.100ms"))["params"]["data"]
            btc_futures = await c.result("public/get_instruments", {"currency": "BTC", "kind": "future"})
            assert {t["instrument_name"] for t in trades} <= {i["instrument_name"] for i in btc_futures}
            ticker = (await c.next_notification("ticker.ETH-PERPETUAL.raw"))["params"]["data"]
            assert ticker["instrument_name"] == "ETH-PERPETUAL"
    run_with_sim(body, rate=200)
