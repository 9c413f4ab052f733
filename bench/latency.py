"""Tick-to-order latency against the fake exchange on loopback, next to a bare echo client.

    python bench/latency.py               # 2,000 round trips each (after 100 of warm-up)
    python bench/latency.py --n 5000

Both are measured in one run, on one machine, with the server's clock (perf_counter), from the
moment a trade's frame leaves the fake's WebSocket (`StreamHub.on_send`) to the moment the
request it causes reaches the fake's HTTP server:
- rulebot: the live runner (`rulebot run --live`'s code): websockets client, parse, engine,
  guards, journal write-ahead (SQLite, WAL), signing, rate budget, REST (aiohttp) to
  `POST /fapi/v1/order`. The rulebook holds a position and trims it reduce-only on every
  trade, so that every trade causes exactly one order (exits are outside the entry guards'
  budget; the fake advertises high REST limits so that the client's budget never waits).
- echo: the same libraries doing nothing: a websockets client that, on each frame, sends
  `GET /fapi/v1/ping` with aiohttp.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import aiohttp
import orjson
import websockets

from rulebot.core.enums import Market
from rulebot.core.events import BookTop, Trade
from rulebot.rulebook.compiler import compile_text
from rulebot.runtime.assemble import Connection, live
from rulebot.runtime.run_config import RunConfig
from rulebot.testing.fake_binance import FakeBinance

WARM_UP = 100
PRICE = Decimal(60000)
BOOK = """\
rulebook: latency
market: usdm
symbols: [BTCUSDT]
account: {leverage: 2}
rules:
  - name: in
    on: trade
    in: flat
    do: [{enter: {side: long, size: "20"}}, {stop_loss: {distance: 20%}}, {goto: long}]
  - name: trim
    on: trade
    in: long
    do: [{reduce: {size: "0.001"}}]
  - name: out
    on: trade
    in: long
    when: price > 10000000
    do: [exit]
"""
HIGH_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 10**7},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 10**7},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 10**7},
]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def show(name: str, values: list[float]) -> None:
    ms = [v * 1000 for v in values]
    print(
        f"{name:8} n={len(ms):5}  p50 {pct(ms, 50):6.3f} ms  p90 {pct(ms, 90):6.3f} ms  "
        f"p99 {pct(ms, 99):6.3f} ms  max {max(ms):7.3f} ms  mean {statistics.fmean(ms):6.3f} ms"
    )


class Clock:
    """When each trade's frame left the server, and when each request of interest arrived."""

    def __init__(self, fake: FakeBinance, path: str, method: str) -> None:
        self.left: dict[int, float] = {}
        self.arrived: asyncio.Queue[float] = asyncio.Queue()
        fake.hub.on_send = self._sent
        fake.on_request = self._request
        self._path, self._method = path, method

    def _request(self, method: str, path: str, at: float) -> None:
        if method == self._method and path.endswith(self._path):
            self.arrived.put_nowait(at)

    def _sent(self, text: str) -> None:
        if '"aggTrade"' in text:
            frame = orjson.loads(text)
            self.left[frame.get("data", frame)["a"]] = time.perf_counter()  # combined or raw

    async def latency(self, trade_id: int) -> float:
        arrived = await asyncio.wait_for(self.arrived.get(), 5)
        return arrived - self.left[trade_id]


def trade(i: int) -> Trade:
    return Trade("BTCUSDT", PRICE, Decimal("0.01"), 0, True, i, i, i)


async def rulebot_latency(fake: FakeBinance, n: int, folder: Path) -> list[float]:
    os.environ["BINANCE_API_KEY"], os.environ["BINANCE_API_SECRET"] = fake.api_key, fake.api_secret
    fake.rate_limits = HIGH_LIMITS
    path = folder / "latency.yaml"
    path.write_text(BOOK)
    cfg = RunConfig(path, "live", folder / "run", watch=False, use_scheduler=False)
    connection = Connection(rest_url=fake.rest_url, ws_url=fake.ws_url)
    runner = await live(compile_text(BOOK), cfg, connection, announce=lambda m: None)
    task = asyncio.create_task(runner.run())
    while fake.hub.connections < 3:  # user stream, /public and /market
        await asyncio.sleep(0.01)
    clock = Clock(fake, "/v1/order", "POST")
    ask = PRICE + Decimal("0.1")
    await fake.feed(BookTop("BTCUSDT", PRICE, Decimal(50), ask, Decimal(50), 0, 1))
    await fake.feed(trade(1))  # the entry
    await clock.latency(1)
    while not runner.status().get("positions"):
        await asyncio.sleep(0.01)
    out: list[float] = []
    for i in range(2, n + WARM_UP + 2):
        await fake.feed(trade(i))
        try:
            latency = await clock.latency(i)
        except TimeoutError:
            print("no order after trade", i, runner.status(), fake.requests[-8:], file=sys.stderr)
            raise
        if i > WARM_UP + 1:
            out.append(latency)
        await asyncio.sleep(0.001)  # a market's pace, not a flood
    fake.on_request = fake.hub.on_send = None
    await runner.request({"cmd": "kill", "policy": "flatten"})
    await asyncio.wait_for(task, 15)
    return out


async def echo_latency(fake: FakeBinance, n: int) -> list[float]:
    clock = Clock(fake, "/v1/ping", "GET")
    out: list[float] = []
    url = f"{fake.ws_url}/market/ws/btcusdt@aggTrade"
    async with aiohttp.ClientSession() as http, websockets.connect(url, compression=None) as ws:

        async def answer() -> None:
            while True:
                await ws.recv(decode=False)
                async with http.get(f"{fake.rest_url}/fapi/v1/ping") as r:
                    await r.read()

        reader = asyncio.create_task(answer())
        while fake.hub.connections_on("market") < 1:
            await asyncio.sleep(0.01)
        base = 10**6
        for i in range(1, n + WARM_UP + 1):
            await fake.feed(trade(base + i))
            latency = await clock.latency(base + i)
            if i > WARM_UP:
                out.append(latency)
            await asyncio.sleep(0.001)
        reader.cancel()
    fake.on_request = fake.hub.on_send = None
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeBinance(Market.USDM, balances={"USDT": Decimal(1_000_000)}) as fake:
            bot = await rulebot_latency(fake, args.n, Path(tmp))
        async with FakeBinance(Market.USDM) as fake:
            echo = await echo_latency(fake, args.n)
    where = f"{sys.platform}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    print(f"frame out -> request in, on loopback ({where})")
    show("rulebot", bot)
    show("echo", echo)
    extra = 1000 * (pct(bot, 50) - pct(echo, 50))
    print(f"rulebot adds {extra:.3f} ms at p50 over a client that does nothing")


if __name__ == "__main__":
    asyncio.run(main())
