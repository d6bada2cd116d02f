"""HTTP auth schemes and signature checks, mass quotes with MMP freeze/reset, and the added methods/channels,
driven by the independent websockets+json client (and urllib for HTTP)."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from typing import Any

from sim_wsclient import CLIENT_ID, CLIENT_SECRET, TWO_ACCOUNTS, WsClient, ahttp, maker_and_taker, run_with_sim

BTC = "BTC-PERPETUAL"


def _hmac_header(verb: str, uri: str, body: str = "", stamp: int | None = None, nonce: str = "n1",
                 secret: str = CLIENT_SECRET) -> dict[str, str]:
    stamp = int(time.time() * 1000) if stamp is None else stamp
    data = f"{stamp}\n{nonce}\n{verb}\n{uri}\n{body}\n"
    sig = hmac.new(secret.encode(), data.encode(), hashlib.sha256).hexdigest()
    return {"Authorization": f"deri-hmac-sha256 id={CLIENT_ID},ts={stamp},sig={sig},nonce={nonce}"}


def test_http_auth_schemes_and_signature_checks() -> None:
    async def body(sim: Any) -> None:
        base = sim.http_url.removesuffix("/api/v2")
        uri = "/api/v2/private/get_positions?currency=BTC"
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        status, ok = await ahttp(base + uri, headers={"Authorization": f"Basic {basic}"})
        assert status == 200 and ok["result"] == []
        wrong = base64.b64encode(f"{CLIENT_ID}:nope".encode()).decode()
        status, bad = await ahttp(base + uri, headers={"Authorization": f"Basic {wrong}"})
        assert status == 400 and bad["error"]["code"] == 13009
        status, signed = await ahttp(base + uri, headers=_hmac_header("GET", uri, nonce="a"))
        assert status == 200 and signed["result"] == []
        _, replay = await ahttp(base + uri, headers=_hmac_header("GET", uri, nonce="a"))
        assert replay["error"] == {"code": 13009, "message": "unauthorized", "data": {"reason": "nonce already used"}}
        _, stale = await ahttp(base + uri, headers=_hmac_header("GET", uri, stamp=int(time.time() * 1000) - 120_000,
                                                               nonce="b"))
        assert stale["error"]["code"] == 13009 and "timestamp" in stale["error"]["data"]["reason"]
        _, forged = await ahttp(base + uri, headers=_hmac_header("GET", uri, nonce="c", secret="other"))
        assert forged["error"]["data"]["reason"] == "invalid signature"
        _, tampered = await ahttp(base + uri.replace("BTC", "ETH"), headers=_hmac_header("GET", uri, nonce="d"))
        assert tampered["error"]["code"] == 13009  # the signature covers the query
        post_uri, payload = "/api/v2/private/get_positions", '{"currency": "BTC"}'
        signed_post = _hmac_header("POST", post_uri, payload, nonce="e")
        status, posted = await ahttp(base + post_uri, payload.encode(), signed_post)
        assert status == 200 and posted["result"] == []
        _, swapped = await ahttp(base + post_uri, b'{"currency": "ETH"}', _hmac_header("POST", post_uri, payload,
                                                                                     nonce="f"))
        assert swapped["error"]["data"]["reason"] == "invalid signature"  # the signature covers the body
        status, outside = await ahttp(base + "/nope")
        assert status == 404 and outside["error"]["code"] == -32601 and outside["jsonrpc"] == "2.0"
        async with await WsClient.connect(sim.url) as c:  # the WebSocket signature grant: the same checks
            stamp = int(time.time() * 1000)
            sig = hmac.new(CLIENT_SECRET.encode(), f"{stamp}\nws1\n".encode(), hashlib.sha256).hexdigest()
            grant = {"grant_type": "client_signature", "client_id": CLIENT_ID, "timestamp": stamp, "nonce": "ws1",
                     "signature": sig}
            assert (await c.result("public/auth", grant))["access_token"]
            again = await c.call("public/auth", grant)
            assert again["error"]["code"] == 13004 and again["error"]["data"]["reason"] == "nonce already used"
    run_with_sim(body, rate=0)


async def _quote(c: WsClient, qid: str, bid: float, ask: float, amount: float = 100) -> dict[str, Any]:
    return await c.call("private/mass_quote", {
        "quote_id": qid, "mmp_group": "mm1", "detailed": True,
        "quotes": [{"instrument_name": BTC, "quote_set_id": "s1", "bid": {"price": bid, "amount": amount},
                    "ask": {"price": ask, "amount": amount}}]})


def test_mass_quote_mmp_freeze_and_reset() -> None:
    async def body(sim: Any) -> None:
        async with maker_and_taker(sim.url) as (mm, taker):
            book = await mm.result("public/get_order_book", {"instrument_name": BTC, "depth": 1})
            bid, ask = book["best_bid_price"], book["best_ask_price"]  # joins the best levels, behind the flow
            no_cod = await _quote(mm, "q0", bid, ask)
            assert no_cod["error"]["code"] == 13042
            await mm.result("private/enable_cancel_on_disconnect", {})
            no_mmp = await _quote(mm, "q0", bid, ask)
            assert no_mmp["error"]["code"] == -32602 and no_mmp["error"]["data"]["param"] == "mmp_group"
            config = {"index_name": "btc_usd", "mmp_group": "mm1", "interval": 60, "frozen_time": 0,
                      "quantity_limit": 0.001, "max_quote_quantity": 0.01}
            assert await mm.result("private/set_mmp_config", config) == config
            assert await mm.result("private/get_mmp_config", {"index_name": "btc_usd", "mmp_group": "mm1"}) == [config]
            summary = await mm.result("private/get_account_summary", {"currency": "BTC", "extended": True})
            assert summary["mmp_enabled"] and summary["fees"]
            await mm.result("private/subscribe", {"channels": ["user.mmp_trigger.btc_usd"]})
            mixed = await mm.call("private/mass_quote", {"quote_id": "qx", "mmp_group": "mm1", "quotes": [
                {"instrument_name": BTC, "bid": {"price": bid, "amount": 10}},
                {"instrument_name": "NOPE", "bid": {"price": bid, "amount": 10}}]})
            assert mixed["error"]["data"] == {"param": "instrument_name", "reason": "instrument not found"}
            assert await mm.result("private/get_open_orders_by_instrument", {"instrument_name": BTC}) == []
            first = (await _quote(mm, "q1", bid, ask))["result"]
            assert [o["direction"] for o in first["orders"]] == ["buy", "sell"] and first["errors"] == []
            assert all(o["quote_id"] == "q1" and o["mmp"] and o["quote_set_id"] == "s1" for o in first["orders"])
            again = (await _quote(mm, "q2", bid, ask, amount=100))["result"]  # same sides: edited in place
            assert [o["order_id"] for o in again["orders"]] == [o["order_id"] for o in first["orders"]]
            assert [o["quote_id"] for o in again["orders"]] == ["q2", "q2"]
            too_big = (await _quote(mm, "q3", bid, ask, amount=10_000))["result"]
            assert len(too_big["errors"]) == 2 and too_big["errors"][0]["code"] == -32602
            # the taker sweeps each best level and 50 USD (~0.00055 BTC) of our quote behind it: the second
            # sweep takes our fills over the 0.001 BTC quantity limit
            book = await mm.result("public/get_order_book", {"instrument_name": BTC, "depth": 1})
            await taker.result("private/buy", {"instrument_name": BTC, "amount": book["asks"][0][1] - 50,
                                               "type": "market"})
            await taker.result("private/sell", {"instrument_name": BTC, "amount": book["bids"][0][1] - 50,
                                                "type": "market"})
            trigger = (await mm.next_notification("user.mmp_trigger.btc_usd"))["params"]["data"]
            assert trigger == {"index_name": "btc_usd", "frozen_until": 0, "mmp_group": "mm1"}
            assert await mm.result("private/get_open_orders_by_instrument", {"instrument_name": BTC}) == []
            frozen = await _quote(mm, "q4", bid - 50, ask + 50)
            assert frozen["error"]["code"] == 13043
            assert await mm.result("private/reset_mmp", {"index_name": "btc_usd", "mmp_group": "mm1"}) == "ok"
            live = (await _quote(mm, "q5", bid - 50, ask + 50))["result"]
            assert len(live["orders"]) == 2 and all(o["order_state"] == "open" for o in live["orders"])
            assert await mm.result("private/cancel_quotes", {"cancel_type": "quote_set_id", "quote_set_id": "s1"}) == 2
            history = await mm.result("private/get_order_history_by_instrument", {"instrument_name": BTC,
                                                                                  "include_unfilled": True})
            assert {o["cancel_reason"] for o in history if o["order_state"] == "cancelled"} >= {"mmp_trigger"}
    run_with_sim(body, rate=0, credentials=TWO_ACCOUNTS, tier=None)


def test_added_methods_and_channels() -> None:
    async def body(sim: Any) -> None:
        async with await WsClient.connect(sim.url) as c:
            await c.auth()
            currencies = await c.result("public/get_currencies")
            assert {x["currency"] for x in currencies} == {"BTC", "ETH"}
            assert len(await c.result("public/get_instruments")) == 5  # no currency: every instrument
            index = await c.result("public/get_index_price", {"index_name": "btc_usd"})
            ticker = await c.result("public/ticker", {"instrument_name": BTC})
            assert abs(index["index_price"] - ticker["index_price"]) <= 2.0  # both follow the perpetual's mark
            bad = await c.call("public/get_index_price", {"index_name": "doge_usd"})
            assert bad["error"]["data"] == {"param": "index_name", "reason": "unknown index name"}
            assert (await c.call("public/no_such_method"))["error"]["code"] == -32601
            channels = ["chart.trades.BTC-PERPETUAL.1", "deribit_price_index.btc_usd", "incremental_ticker." + BTC,
                        "perpetual.BTC-PERPETUAL.100ms", "book.BTC-PERPETUAL.agg2", "ticker.BTC-PERPETUAL.agg2",
                        "platform_state", "markprice.options.btc_usd", "user.access_log", "user.lock",
                        "instrument.state.any.any", "announcements", "deribit_price_ranking.btc_usd",
                        "estimated_expiration_price.btc_usd", "trades.BTC-PERPETUAL.agg2"]
            got = await c.result("private/subscribe", {"channels": channels + ["nope.channel", "book.NOPE.100ms"]})
            assert got == channels  # unknown channels are left out of the result, as Deribit does
            assert (await c.next_notification("incremental_ticker." + BTC))["params"]["data"]["type"] == "snapshot"
            index_msg = (await c.next_notification("deribit_price_index.btc_usd", timeout=5))["params"]["data"]
            assert index_msg["index_name"] == "btc_usd" and index_msg["price"] > 0
            [ranked] = (await c.next_notification("deribit_price_ranking.btc_usd"))["params"]["data"]
            assert ranked["price"] == index_msg["price"] and ranked["weight"] == 100.0
            expiry = (await c.next_notification("estimated_expiration_price.btc_usd"))["params"]["data"]
            assert expiry["price"] == index_msg["price"] and expiry["seconds"] > 0
            marks = (await c.next_notification("markprice.options.btc_usd"))["params"]["data"]
            assert {m["instrument_name"] for m in marks} == {i["instrument_name"] for i in await c.result(
                "public/get_instruments", {"currency": "BTC", "kind": "option"})}
            perp = (await c.next_notification("perpetual.BTC-PERPETUAL.100ms"))["params"]["data"]
            assert set(perp) == {"timestamp", "interest", "index_price"}
            assert (await c.next_notification("book.BTC-PERPETUAL.agg2"))["params"]["data"]["type"] == "snapshot"
            fill = await c.result("private/buy", {"instrument_name": BTC, "amount": 10, "type": "market"})
            price = fill["trades"][0]["price"]
            candle = (await c.next_notification("chart.trades.BTC-PERPETUAL.1", timeout=5))["params"]["data"]
            while not candle["low"] <= price <= candle["high"]:  # earlier candles may predate our fill
                candle = (await c.next_notification("chart.trades.BTC-PERPETUAL.1", timeout=5))["params"]["data"]
            assert candle["volume"] > 0 and candle["tick"] % 60_000 == 0
            last = await c.result("public/get_last_trades_by_instrument", {"instrument_name": BTC, "count": 1000})
            assert fill["trades"][0]["trade_id"] in {t["trade_id"] for t in last["trades"]}
            mine = await c.result("private/get_user_trades_by_currency", {"currency": "BTC"})
            assert [t["trade_id"] for t in mine["trades"]] == [fill["trades"][0]["trade_id"]]
            log = await c.result("private/get_transaction_log", {"currency": "BTC", "start_timestamp": 0,
                                                                 "end_timestamp": int(time.time() * 1000) + 1000})
            assert log["logs"][0]["trade_id"] == fill["trades"][0]["trade_id"]
            closed = await c.result("private/close_position", {"instrument_name": BTC, "type": "market"})
            assert closed["order"]["reduce_only"] and closed["order"]["direction"] == "sell"
            assert (await c.result("private/get_position", {"instrument_name": BTC}))["size"] == 0
            summaries = await c.result("private/get_account_summaries", {"extended": True})
            assert {s["currency"] for s in summaries["summaries"]} == {"BTC", "ETH"} and summaries["fees"]
            async with await WsClient.connect(sim.url) as other:
                await other.auth()
                assert (await c.next_notification("user.access_log"))["params"]["data"]["log"] == "success"
            await asyncio.sleep(0)
    run_with_sim(body, rate=50)
