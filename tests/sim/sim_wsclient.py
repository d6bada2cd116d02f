"""An independent Deribit JSON-RPC client for the simulator tests: the ``websockets`` library and ``json``
only (not tickwire's engine or netstack), so the tests see exactly what a foreign client would."""
from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.error
import urllib.request
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import websockets

CLIENT_ID = "tickwire-sim"
CLIENT_SECRET = "tickwire-sim-secret"
TAKER_ID, TAKER_SECRET = "taker", "taker-secret"
TWO_ACCOUNTS = {CLIENT_ID: CLIENT_SECRET, TAKER_ID: TAKER_SECRET}  # SimConfig(credentials=...) for maker_and_taker


class WsClient:
    """Requests get answers by id; notifications are queued (in arrival order) for ``next_notification``."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.notifications: deque[dict[str, Any]] = deque()
        self.answers: dict[Any, dict[str, Any]] = {}

    @classmethod
    async def connect(cls, url: str, **kwargs: Any) -> WsClient:
        return cls(await websockets.connect(url, max_size=None, **kwargs))

    async def close(self) -> None:
        await self.ws.close()

    async def __aenter__(self) -> WsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _read_one(self, timeout: float) -> dict[str, Any]:
        msg = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        if "id" in msg and "method" not in msg:
            self.answers[msg["id"]] = msg
        else:
            self.notifications.append(msg)
        return msg

    async def send(self, method: str, params: dict[str, Any] | None = None, rid: Any = None) -> Any:
        if rid is None:
            self.next_id += 1
            rid = self.next_id
        request: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            request["params"] = params
        await self.ws.send(json.dumps(request))
        return rid

    async def answer(self, rid: Any, timeout: float = 5.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while rid not in self.answers:
            await self._read_one(max(0.01, deadline - loop.time()))
        return self.answers.pop(rid)

    async def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 5.0) -> dict[str, Any]:
        """The whole response (result or error) of one request."""
        return await self.answer(await self.send(method, params), timeout)

    async def result(self, method: str, params: dict[str, Any] | None = None) -> Any:
        response = await self.call(method, params)
        assert "error" not in response, response
        return response["result"]

    async def raw_answer(self, raw: str | bytes, timeout: float = 5.0) -> dict[str, Any]:
        """Send raw text/bytes and wait for the next answer (with any id)."""
        await self.ws.send(raw)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            msg = await self._read_one(max(0.01, deadline - loop.time()))
            if "id" in msg and "method" not in msg:
                return self.answers.pop(msg["id"])

    async def next_notification(self, channel: str | None = None, timeout: float = 5.0,
                                method: str = "subscription") -> dict[str, Any]:
        """The next notification (on ``channel`` when given); earlier ones on other channels are kept."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, msg in enumerate(self.notifications):
                if msg.get("method") == method and (channel is None or msg["params"].get("channel") == channel):
                    del self.notifications[i]
                    return msg
            await self._read_one(max(0.01, deadline - loop.time()))

    async def auth(self, client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET) -> dict[str, Any]:
        return await self.result("public/auth", {"grant_type": "client_credentials", "client_id": client_id,
                                                 "client_secret": secret})


@contextlib.asynccontextmanager
async def maker_and_taker(url: str) -> AsyncIterator[tuple[WsClient, WsClient]]:
    """Two logged-in connections on two accounts (the simulator runs with ``credentials=TWO_ACCOUNTS``)."""
    async with await WsClient.connect(url) as maker, await WsClient.connect(url) as taker:
        await maker.auth()
        await taker.auth(TAKER_ID, TAKER_SECRET)
        yield maker, taker


def http(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """Blocking HTTP GET/POST; returns (status, decoded JSON body)."""
    req = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


async def ahttp(url: str, body: bytes | None = None, headers: dict[str, str] | None = None
                ) -> tuple[int, dict[str, Any]]:
    return await asyncio.get_running_loop().run_in_executor(None, http, url, body, headers)


def run_with_sim(body: Any, timeout: float = 60.0, **config: Any) -> Any:
    """``asyncio.run`` a test body ``body(sim)`` against an in-process simulator on 127.0.0.1:0."""
    from tickwire.sim import SimConfig, SimServer

    async def main() -> Any:
        async with SimServer(SimConfig(port=0, **config)) as sim:
            return await asyncio.wait_for(body(sim), timeout)
    return asyncio.run(main())

