"""Stock ccxt (REST) and ccxt.pro (WebSocket) Deribit clients against ``tickwire sim``, with only the URLs changed.

A guard in this process refuses (and records) any DNS lookup or connection to an address outside loopback, so
a URL that was not overridden fails the test instead of reaching the internet.
"""
from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

ccxt = pytest.importorskip("ccxt", reason="ccxt is a test extra: pip install -e '.[test]'")
import ccxt.pro  # noqa: E402 - after the importorskip above

from sim_wsclient import CLIENT_ID, CLIENT_SECRET  # noqa: E402

from tickwire.deribit.venue import start_sim  # noqa: E402

BTC = "BTC/USD:BTC"  # ccxt's symbol of BTC-PERPETUAL


def _loopback(host: Any) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def loopback_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every name lookup and connect of this process must stay on loopback; offenders are refused and listed."""
    leaks: list[str] = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _loopback(host):
            leaks.append(f"lookup {host}")
            raise OSError(f"test guard: {host} is not loopback")
        return real_getaddrinfo(host, *args, **kwargs)

    def check(address: Any) -> None:
        if isinstance(address, tuple) and not _loopback(address[0]):
            leaks.append(f"connect {address}")
            raise OSError(f"test guard: {address} is not loopback")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield leaks


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    with loopback_guard(monkeypatch) as leaks:
        yield leaks
    assert not leaks, f"ccxt tried to leave loopback: {leaks}"


def test_the_guard_stops_a_client_whose_urls_were_not_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard itself: a stock client left on its default URLs is stopped at the name lookup."""
    with loopback_guard(monkeypatch) as leaks, pytest.raises(ccxt.NetworkError):
        ccxt.deribit({"timeout": 2_000}).fetch_time()
    assert leaks and leaks[0].startswith("lookup ") and "deribit" in leaks[0]


@pytest.fixture
def sim() -> Iterator[dict[str, Any]]:
    with start_sim(("BTC-PERPETUAL", "ETH-PERPETUAL"), rate=200.0, extra=("--tier", "unlimited")) as venue:
        yield {"url": venue.url, "http": venue.http}


def _rest_base(info: dict[str, Any]) -> str:
    return info["http"].removesuffix("/api/v2")


def _configure(exchange: Any, info: dict[str, Any]) -> Any:
    """Only the URLs change (as a sandbox override would); every other ccxt option stays stock."""
    exchange.urls["api"] = {"rest": _rest_base(info), "ws": info["url"]}
    exchange.urls["test"] = dict(exchange.urls["api"])
    return exchange


def test_ccxt_rest_client_runs_unchanged(sim: dict[str, Any], loopback_only: list[str]) -> None:
    ex = _configure(ccxt.deribit({"apiKey": CLIENT_ID, "secret": CLIENT_SECRET, "timeout": 10_000}), sim)
    markets = ex.load_markets()
    assert BTC in markets and markets[BTC]["id"] == "BTC-PERPETUAL" and markets[BTC]["contractSize"] == 10
    assert "BTC" in ex.currencies and "ETH" in ex.currencies
    ticker = ex.fetch_ticker(BTC)
    assert 0 < ticker["bid"] < ticker["ask"] and ticker["symbol"] == BTC
    tickers = ex.fetch_tickers([BTC])  # ccxt asks one base currency at a time (get_book_summary_by_currency)
    assert set(tickers) == {BTC} and tickers[BTC]["bid"] > 0
    book = ex.fetch_order_book(BTC, 10)
    assert book["bids"][0][0] < book["asks"][0][0] and len(book["bids"]) == 10
    balance = ex.fetch_balance()
    assert balance["BTC"]["total"] == pytest.approx(10.0)

    # trading: a resting order is created, edited and cancelled; a marketable one fills
    bid = book["bids"][0][0]
    resting = ex.create_order(BTC, "limit", "buy", 100, bid - 500)
    assert resting["status"] == "open" and resting["amount"] == 100
    edited = ex.edit_order(resting["id"], BTC, "limit", "buy", 200, bid - 600)
    assert edited["price"] == bid - 600 and edited["amount"] == 200
    assert [o["id"] for o in ex.fetch_open_orders(BTC)] == [resting["id"]]
    cancelled = ex.cancel_order(resting["id"], BTC)
    assert cancelled["status"] == "canceled"
    assert ex.fetch_open_orders(BTC) == []
    taken = ex.create_order(BTC, "market", "buy", 50)
    assert taken["status"] == "closed" and taken["filled"] == 50
    closed = ex.fetch_closed_orders(BTC)
    assert taken["id"] in {o["id"] for o in closed}
    mine = ex.fetch_my_trades(BTC)
    assert mine and all(t["order"] == taken["id"] for t in mine) and sum(t["amount"] for t in mine) == 50
    positions = ex.fetch_positions([BTC])
    assert len(positions) == 1 and positions[0]["side"] == "long" and positions[0]["info"]["size"] == 50

    # market history of this run: our fill is among the public trades and in the current candle
    trades = ex.fetch_trades(BTC, limit=100)
    assert {t["id"] for t in mine} <= {t["id"] for t in trades}
    candles = ex.fetch_ohlcv(BTC, "1m", limit=10)
    assert candles and all(c[2] >= c[3] for c in candles) and candles[-1][5] > 0


def test_ccxt_pro_websocket_client_runs_unchanged(sim: dict[str, Any], loopback_only: list[str]) -> None:
    async def body() -> None:
        ex = _configure(ccxt.pro.deribit({"apiKey": CLIENT_ID, "secret": CLIENT_SECRET, "timeout": 10_000}), sim)
        try:
            await ex.load_markets()
            book = await asyncio.wait_for(ex.watch_order_book(BTC), 20)
            assert book["bids"][0][0] < book["asks"][0][0]
            ticker = await asyncio.wait_for(ex.watch_ticker(BTC), 20)
            assert ticker["symbol"] == BTC and ticker["bid"] > 0
            trades = await asyncio.wait_for(ex.watch_trades(BTC), 20)
            assert trades and trades[0]["symbol"] == BTC
            candles = await asyncio.wait_for(ex.watch_ohlcv(BTC, "1m"), 20)
            assert candles and candles[-1][4] > 0
            orders_task = asyncio.ensure_future(ex.watch_orders(BTC))
            my_trades_task = asyncio.ensure_future(ex.watch_my_trades(BTC))
            await asyncio.sleep(1.0)  # both private subscriptions are in place before the order
            taken = await ex.create_order(BTC, "market", "sell", 20)
            orders = await asyncio.wait_for(orders_task, 20)
            assert taken["id"] in {o["id"] for o in orders}
            my_trades = await asyncio.wait_for(my_trades_task, 20)
            assert my_trades and my_trades[0]["order"] == taken["id"]
        finally:
            await ex.close()
    asyncio.run(body())
