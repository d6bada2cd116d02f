"""Load generators for the simulator benchmark: picows clients that send orders open-loop (a fixed send
schedule; latency from the scheduled send time, so a stalled simulator cannot hide its backlog), pipeline orders
(a fixed window in flight, for saturation throughput) or count book messages. The simulator runs as a subprocess;
its own CPU time (psutil user+sys) is sampled at the start and end of each measured window. The simulator is started
with tickwire.deribit.venue.start_sim, as the engine starts it."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import psutil
from hdrh.histogram import HdrHistogram
from picows import WSListener, WSMsgType, ws_connect

CLIENT_ID = "tickwire-sim"
CLIENT_SECRET = "tickwire-sim-secret"


@dataclass
class Result:
    count: int = 0
    seconds: float = 0.0
    hist: HdrHistogram = field(default_factory=lambda: HdrHistogram(1, 10_000_000_000, 3))
    errors: int = 0
    cpu: float = 0.0  # CPU-seconds (user+sys) the simulator process used during the window

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    @property
    def per_cpu(self) -> float:
        """``count`` per CPU-second of the simulator process."""
        return self.count / self.cpu if self.cpu else 0.0

    def answered(self, msg: dict[str, Any], latency_ns: int) -> None:
        """Count one answer (an error answer counts as an error too) and record its latency."""
        self.hist.record_value(max(1, latency_ns))
        self.count += 1
        if "error" in msg:
            self.errors += 1

    def percentiles_us(self) -> dict[str, float]:
        h = self.hist
        return {"p50": h.get_value_at_percentile(50) / 1e3, "p95": h.get_value_at_percentile(95) / 1e3,
                "p99": h.get_value_at_percentile(99) / 1e3, "p99.9": h.get_value_at_percentile(99.9) / 1e3,
                "max": h.get_max_value() / 1e3}


def _cpu(pid: int | None) -> float:
    """User+sys CPU-seconds of process ``pid`` so far (0 when no pid: the caller does not measure)."""
    if pid is None:
        return 0.0
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


class _Client(WSListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.transport: Any = None
        self.waiters: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.on_answer: Any = None
        self.on_note: Any = None
        self.parse_notes = True

    def on_ws_connected(self, transport: Any) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        if frame.msg_type != WSMsgType.TEXT:
            return
        payload = frame.get_payload_as_bytes()
        if not self.parse_notes and payload.startswith(b'{"jsonrpc":"2.0","method"'):
            self.on_note(None)  # a notification, counted without decoding
            return
        msg = orjson.loads(payload)
        rid = msg.get("id")
        if rid is None:
            if self.on_note is not None:
                self.on_note(msg)
            return
        fut = self.waiters.pop(rid, None)
        if fut is not None:
            fut.set_result(msg)
        elif self.on_answer is not None:
            self.on_answer(msg)

    def send(self, rid: int, method: str, params: dict[str, Any]) -> None:
        self.transport.send(WSMsgType.TEXT, orjson.dumps({"jsonrpc": "2.0", "id": rid, "method": method,
                                                          "params": params}))

    async def call(self, rid: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
        fut = asyncio.get_running_loop().create_future()
        self.waiters[rid] = fut
        self.send(rid, method, params)
        return await asyncio.wait_for(fut, 30)


async def _connect(url: str) -> tuple[Any, _Client]:
    transport, client = await ws_connect(_Client, url, max_frame_size=64 * 1024 * 1024)
    await client.call(1, "public/auth", {"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                         "client_secret": CLIENT_SECRET})
    return transport, client


async def orders(url: str, seconds: float, window: int, instrument: str = "BTC-PERPETUAL",
                 price: float = 50000.0, pid: int | None = None) -> Result:
    """Send buy/sell pairs at one far price (each sell fills the buy before it) with ``window`` requests in
    flight for ``seconds`` (closed loop: saturation throughput, not latency); the histogram holds each
    request's send -> answer time. ``pid``: the simulator process whose CPU time is measured."""
    transport, client = await _connect(url)
    result = Result()
    sent: dict[int, int] = {}
    done = asyncio.Event()
    state = {"next": 100, "stop": False}
    perf = time.perf_counter_ns

    def send_one() -> None:
        rid = state["next"]
        state["next"] = rid + 1
        method = "private/buy" if rid % 2 == 0 else "private/sell"
        sent[rid] = perf()
        client.send(rid, method, {"instrument_name": instrument, "amount": 10, "type": "limit", "price": price})

    def on_answer(msg: dict[str, Any]) -> None:
        t0 = sent.pop(msg["id"], None)
        if t0 is None:
            return
        result.answered(msg, perf() - t0)
        if not state["stop"]:
            send_one()
        elif not sent:
            done.set()

    client.on_answer = on_answer
    cpu0 = _cpu(pid)
    start = time.perf_counter()
    for _ in range(window):
        send_one()
    await asyncio.sleep(seconds)
    state["stop"] = True
    result.seconds = time.perf_counter() - start
    result.cpu = _cpu(pid) - cpu0
    await asyncio.wait_for(done.wait(), 10)
    transport.disconnect()
    return result


async def orders_open_loop(url: str, seconds: float, rate: float, instrument: str = "BTC-PERPETUAL",
                           price: float = 50000.0, pid: int | None = None) -> Result:
    """Send buy/sell pairs (as ``orders``) on a fixed schedule of ``rate`` requests/s for ``seconds``, whatever
    the answers do (open loop). Each latency runs from the request's *scheduled* send time to its answer, so
    a client or simulator stall shows up as latency of every request it delayed (no coordinated omission).
    Answers missing 10 s after the last send count as errors."""
    transport, client = await _connect(url)
    loop = asyncio.get_running_loop()
    result = Result()
    due: dict[int, int] = {}  # request id -> scheduled send time (ns, perf counter)
    perf = time.perf_counter_ns
    period_ns = int(1e9 / rate)
    total = int(seconds * rate)
    state = {"k": 0}
    finished = asyncio.Event()
    all_sent = asyncio.Event()

    def on_answer(msg: dict[str, Any]) -> None:
        t0 = due.pop(msg["id"], None)
        if t0 is None:
            return
        result.answered(msg, perf() - t0)
        if all_sent.is_set() and not due:
            finished.set()

    def tick() -> None:  # send every request whose scheduled time has come (a late timer sends a burst)
        now = perf()
        k = state["k"]
        while k < total and t0_ns + k * period_ns <= now:
            rid = 100 + k
            due[rid] = t0_ns + k * period_ns
            client.send(rid, "private/buy" if rid % 2 == 0 else "private/sell",
                        {"instrument_name": instrument, "amount": 10, "type": "limit", "price": price})
            k += 1
        state["k"] = k
        if k < total:
            loop.call_later(max(0.0, (t0_ns + k * period_ns - perf()) / 1e9), tick)
        else:
            all_sent.set()
            if not due:
                finished.set()

    client.on_answer = on_answer
    cpu0 = _cpu(pid)
    t0_ns = perf()
    tick()
    await all_sent.wait()
    result.seconds = (perf() - t0_ns) / 1e9
    result.cpu = _cpu(pid) - cpu0
    try:
        await asyncio.wait_for(finished.wait(), 10)
    except asyncio.TimeoutError:
        pass
    result.errors += len(due)
    transport.disconnect()
    return result


@dataclass
class BookRun:
    received: Result           # messages this client got; histogram = one-way latency (ns)
    breaks: int                # change_id chain breaks seen by the client
    flow_per_s: float          # synthetic book events the simulator generated per second
    sent_per_s: float          # book messages the simulator wrote per second (all subscribers)
    cpu: float = 0.0           # simulator CPU-seconds (user+sys) over the window

    @property
    def sent_per_cpu(self) -> float:
        """Book messages written per CPU-second of the simulator process."""
        return self.sent_per_s * self.received.seconds / self.cpu if self.cpu else 0.0


async def book(url: str, seconds: float, instrument: str = "BTC-PERPETUAL", parse: bool = True,
               pid: int | None = None) -> BookRun:
    """Count ``book.{instrument}.raw`` messages for ``seconds`` and check the change_id chain. The histogram
    holds the one-way latency of every message: receive wall clock minus the simulator's own send time
    (sim/get_send_times), both CLOCK_REALTIME on this host. The simulator's own rates come from sim/get_stats.
    ``parse=False`` only counts frames (a client that keeps up at saturation; no chain check, no latency).
    ``pid``: the simulator process whose CPU time over the window is measured (``BookRun.cpu``)."""
    transport, client = await _connect(url)
    channel = f"book.{instrument}.raw"
    result = Result()
    state = {"last": None, "breaks": 0, "counting": False}
    received: dict[int, int] = {}

    def on_note(msg: dict[str, Any]) -> None:
        params = msg.get("params", {})
        if params.get("channel") != channel:
            return
        data = params["data"]
        prev = data.get("prev_change_id")
        if prev is not None and state["last"] is not None and prev != state["last"]:
            state["breaks"] += 1
        state["last"] = data["change_id"]
        if state["counting"]:
            result.count += 1
            if len(received) < 200_000:
                received[data["change_id"]] = time.time_ns()

    def count_only(msg: dict[str, Any]) -> None:
        if state["counting"]:
            result.count += 1

    client.on_note = on_note if parse else count_only
    client.parse_notes = parse
    await client.call(2, "public/subscribe", {"channels": [channel]})
    await asyncio.sleep(0.2)
    cpu0 = _cpu(pid)
    before = (await client.call(4, "sim/get_stats", {}))["result"]
    state["counting"] = True
    start = time.perf_counter()
    await asyncio.sleep(seconds)
    state["counting"] = False
    after = (await client.call(5, "sim/get_stats", {}))["result"]
    result.seconds = time.perf_counter() - start
    cpu = _cpu(pid) - cpu0
    if received:
        first = min(received)
        reply = await client.call(3, "sim/get_send_times", {"channel": channel, "since": first - 1,
                                                            "count": 1_000_000})
        for change_id, ns in reply["result"]["book"]:
            got = received.get(change_id)
            if got is not None:
                result.hist.record_value(max(1, got - ns))
    transport.disconnect()
    return BookRun(result, state["breaks"], (after["flow_events"] - before["flow_events"]) / result.seconds,
                   (after["book_messages_sent"] - before["book_messages_sent"]) / result.seconds, cpu)
