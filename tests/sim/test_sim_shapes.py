"""Every message kind carries exactly the keys and JSON types of the real Deribit samples in tests/data/deribit
(an independent websockets+json client against the in-process simulator on loopback)."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from sim_wsclient import WsClient, run_with_sim

DATA = Path(__file__).resolve().parents[1] / "data" / "deribit"


def sample(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


def assert_same_shape(ours: Any, real: Any, where: str = "") -> None:
    """Same keys (recursively) and same JSON types; list elements compared to the sample's first element."""
    if isinstance(real, dict):
        assert isinstance(ours, dict), f"{where}: expected object, got {ours!r}"
        assert set(ours) == set(real), f"{where}: keys differ: extra {set(ours) - set(real)}, " \
                                       f"missing {set(real) - set(ours)}"
        for key in real:
            assert_same_shape(ours[key], real[key], f"{where}.{key}")
    elif isinstance(real, list):
        assert isinstance(ours, list), f"{where}: expected array, got {ours!r}"
        if real and not isinstance(real[0], (dict, list)):  # a tuple such as ["new", price, amount]
            assert len(ours) == len(real), f"{where}: {ours!r} vs {real!r}"
            for i, (mine, theirs) in enumerate(zip(ours, real)):
                assert_same_shape(mine, theirs, f"{where}[{i}]")
        elif real:
            assert ours, f"{where}: empty array where the sample has elements"
            for item in ours:
                assert_same_shape(item, real[0], f"{where}[]")
    elif real is None:
        assert ours is None, f"{where}: expected null, got {ours!r}"
    else:
        assert type(ours) is type(real), f"{where}: {type(ours).__name__} where Deribit sends {type(real).__name__}"


def assert_covers(ours: dict[str, Any], older: dict[str, Any], where: str) -> None:
    """An older real sample (before Deribit added fields): its keys are a subset of ours, same types."""
    for key, value in older.items():
        assert key in ours, f"{where}: missing {key}"
        if isinstance(value, dict):
            assert_covers(ours[key], value, f"{where}.{key}")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            assert isinstance(ours[key], (int, float)), f"{where}.{key}"
        else:
            assert type(ours[key]) is type(value), f"{where}.{key}"


def assert_envelope(response: dict[str, Any]) -> None:
    assert response["jsonrpc"] == "2.0"
    assert isinstance(response["usIn"], int) and isinstance(response["usOut"], int)
    assert response["usDiff"] == response["usOut"] - response["usIn"] >= 0
    assert response["testnet"] is False


def test_market_data_shapes_match_real_samples() -> None:
    async def body(sim: Any) -> None:
        async with await WsClient.connect(sim.url) as c:
            await c.auth()
            channels = ["book.BTC-PERPETUAL.100ms", "book.BTC-PERPETUAL.raw", "book.BTC-PERPETUAL.none.10.100ms",
                        "trades.BTC-PERPETUAL.100ms", "trades.BTC-PERPETUAL.raw", "ticker.BTC-PERPETUAL.100ms"]
            assert await c.result("private/subscribe", {"channels": channels}) == channels
            snap = await c.next_notification("book.BTC-PERPETUAL.100ms")
            assert_same_shape(snap, sample("cmp_book_BTC-PERPETUAL_100ms_snapshot.json"), "snapshot")
            assert "prev_change_id" not in snap["params"]["data"]
            raw_snap = await c.next_notification("book.BTC-PERPETUAL.raw")
            assert raw_snap["params"]["data"]["type"] == "snapshot"
            raw = await c.next_notification("book.BTC-PERPETUAL.raw")
            real_raw = sample("misc_book_BTC-PERPETUAL_raw_change_2021a.json")
            # the real raw change has one level per side; compare each side's level shape
            for side in ("bids", "asks"):
                for level in raw["params"]["data"][side]:
                    assert_same_shape(level, real_raw["params"]["data"]["bids"][0], f"raw.{side}")
            assert set(raw["params"]["data"]) == set(real_raw["params"]["data"])
            change = await c.next_notification("book.BTC-PERPETUAL.100ms")
            real_change = sample("cmp_book_BTC-PERPETUAL_100ms_change.json")
            assert set(change["params"]["data"]) == set(real_change["params"]["data"])
            for side in ("bids", "asks"):
                for level in change["params"]["data"][side]:
                    assert_same_shape(level, real_change["params"]["data"]["bids"][0], f"100ms.{side}")
            grouped = await c.next_notification("book.BTC-PERPETUAL.none.10.100ms")
            assert_same_shape(grouped, sample("nautilus_ws_book_grouped_snapshot_none_10_100ms.json"), "grouped")
            assert len(grouped["params"]["data"]["bids"]) == 10
            # make sure a trade happens now: a market order against the book
            await c.result("private/buy", {"instrument_name": "BTC-PERPETUAL", "amount": 20, "type": "market"})
            trades = await c.next_notification("trades.BTC-PERPETUAL.100ms")
            assert_same_shape(trades, sample("nautilus_ws_trades_btc_perpetual_100ms.json"), "trades.100ms")
            raw_trades = await c.next_notification("trades.BTC-PERPETUAL.raw")
            for trade in raw_trades["params"]["data"]:
                assert_covers(trade, sample("cmp_trades_BTC-PERPETUAL_raw.json")["params"]["data"][0], "trades.raw")
            ticker = await c.next_notification("ticker.BTC-PERPETUAL.100ms")
            assert_same_shape(ticker, sample("nautilus_ws_ticker_btc_perpetual_100ms.json"), "ticker")
            assert_covers(ticker["params"]["data"], sample("cmp_ticker_BTC-PERPETUAL_100ms.json")["params"]["data"],
                          "ticker(2022)")
    run_with_sim(body, rate=300)


def test_order_response_shapes_match_real_samples() -> None:
    async def body(sim: Any) -> None:
        async with await WsClient.connect(sim.url) as c:
            await c.auth()
            buy = await c.call("private/buy", {"instrument_name": "BTC-PERPETUAL", "amount": 40, "type": "limit",
                                               "price": 50000.5, "label": "c-001", "post_only": True})
            assert_envelope(buy)
            real_buy = sample("nautilus_ws_order_buy_response.json")
            assert_same_shape(buy["result"], real_buy["result"], "buy")
            assert set(buy) == set(real_buy)
            order_id = buy["result"]["order"]["order_id"]
            edit = await c.call("private/edit", {"order_id": order_id, "amount": 30, "price": 50001.0})
            assert_same_shape(edit["result"], sample("nautilus_ws_order_edit_response.json")["result"], "edit")
            assert edit["result"]["order"]["replaced"] is True
            cancel = await c.call("private/cancel", {"order_id": order_id})
            assert_same_shape(cancel["result"], sample("nautilus_ws_order_cancel_response.json")["result"], "cancel")
            assert cancel["result"]["cancel_reason"] == "user_request"
    run_with_sim(body, rate=0)


def test_instrument_error_and_heartbeat_shapes() -> None:
    async def body(sim: Any) -> None:
        async with await WsClient.connect(sim.url) as c:
            instruments = await c.call("public/get_instruments", {"currency": "BTC", "kind": "future"})
            assert_envelope(instruments)
            real = sample("nautilus_http_get_instrument_BTC-PERPETUAL.json")["result"]
            ours = next(i for i in instruments["result"] if i["instrument_name"] == "BTC-PERPETUAL")
            assert_same_shape(ours, real, "instrument")
            for key in ("tick_size", "contract_size", "min_trade_amount", "instrument_type", "kind",
                        "settlement_period", "taker_commission", "maker_commission", "expiration_timestamp"):
                assert ours[key] == real[key], key
            await c.result("sim/control", {"squeeze": 0.001})
            errors = [await c.call("public/get_time") for _ in range(3)]
            error = next(e for e in errors if "error" in e)
            assert_envelope(error)
            real_error = sample("nautilus_ws_error_too_many_requests.json")
            assert set(error) == set(real_error) | {"usIn", "usOut", "usDiff", "testnet"}
            # that sample is hand-written (no usIn/usOut) with "data": null; Deribit leaves data out when it has none
            assert error["error"] == {"code": real_error["error"]["code"], "message": real_error["error"]["message"]}
            await c.result("sim/control", {"squeeze": 1.0})
            await asyncio.sleep(0.1)  # the squeezed bucket refills
            await c.result("public/set_heartbeat", {"interval": 0.2})
            beat = await c.next_notification(method="heartbeat", timeout=3)
            while beat["params"]["type"] != "test_request":
                beat = await c.next_notification(method="heartbeat", timeout=3)
            assert beat == sample("nautilus_ws_heartbeat_test_request.json")
    run_with_sim(body, rate=0, heartbeat_min_s=0.1)
