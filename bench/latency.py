"""Tick-to-order latency against the fake exchange on loopback, next to a bare echo client.

    python bench/latency.py               # 2,000 round trips each
    python bench/latency.py --n 5000

Measured in one run, on one machine, both with the server's own clock (perf_counter):
- rulebot: from a trade leaving the server on the market stream to the order it causes
  reaching the server's order endpoint — parse, engine, guards, journal write-ahead (SQLite,
  WAL), signing and REST included. The rulebook holds a position and trims it reduce-only on
  every trade, so every trade causes exactly one order (exits are outside the engine's entry
  budget; the fake reports high REST limits so that the client's limiter never waits).
- echo: a client that receives the same message and at once sends a tiny REST request.
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

from rulebot.core.enums import Market
from rulebot.core.events import BookTop, Trade
from rulebot.rulebook.compiler import compile_text
from rulebot.runtime.assemble import Connection, live
from rulebot.runtime.runner import RunConfig
from rulebot.testing.fake_binance import FakeBinance

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


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def show(name: str, values: list[float]) -> None:
    ms = [v * 1000 for v in values]
    print(
        f"{name:8} n={len(ms):5}  p50 {pct(ms, 50):6.2f} ms   p99 {pct(ms, 99):6.2f} ms   "
        f"mean {statistics.fmean(ms):6.2f} ms"
    )


async def rulebot_latency(fake: FakeBinance, n: int, folder: Path) -> list[float]:
    os.environ["BINANCE_API_KEY"], os.environ["BINANCE_API_SECRET"] = fake.api_key, fake.api_secret
    fake.rate_limits = [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 10**7},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 10**7},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 10**7},
    ]
    path = folder / "latency.yaml"
    path.write_text(BOOK)
    cfg = RunConfig(path, "live", folder / "run", watch=False, use_scheduler=False)
    runner = await live(
        compile_text(BOOK), cfg, Connection(rest_url=fake.rest_url, ws_url=fake.ws_url), announce=lambda m: None
    )
    arrived: asyncio.Queue[float] = asyncio.Queue()
    fake.on_request = lambda m, p, t: arrived.put_nowait(t) if p.endswith("/v1/order") and m == "POST" else None
    task = asyncio.create_task(runner.run())
    while fake.hub.connections < 2:
        await asyncio.sleep(0.01)
    px = Decimal(60000)
    await fake.feed(BookTop("BTCUSDT", px, Decimal(50), px + Decimal("0.1"), Decimal(50), 0, 1))
    await fake.feed(Trade("BTCUSDT", px, Decimal("0.01"), 0, True, 0, 0, 0))  # the start: the entry
    await asyncio.wait_for(arrived.get(), 5)
    while not runner.status().get("positions"):
        await asyncio.sleep(0.01)
    out: list[float] = []
    for i in range(1, n + 100):
        sent = time.perf_counter()
        await fake.feed(Trade("BTCUSDT", px, Decimal("0.01"), 0, True, i, i, i))
        try:
            got = await asyncio.wait_for(arrived.get(), 5)
        except TimeoutError:
            print("no order after trade", i, runner.status(), fake.requests[-8:], file=sys.stderr)
            raise
        if i > 100:  # warm-up
            out.append(got - sent)
        await asyncio.sleep(0.001)
    fake.on_request = None
    runner.queue.put_nowait(
        __import__("rulebot.runtime.runner", fromlist=["_Request"])._Request("kill", {"policy": "flatten"})
    )
    await asyncio.wait_for(task, 15)
    return out


async def echo_latency(fake: FakeBinance, n: int) -> list[float]:
    arrived: asyncio.Queue[float] = asyncio.Queue()
    fake.on_request = lambda m, p, t: arrived.put_nowait(t) if p.endswith("/v1/ping") else None
    out: list[float] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{fake.ws_url}/market/ws/btcusdt@aggTrade") as ws:

        async def answer() -> None:
            async for _ in ws:
                async with http.get(f"{fake.rest_url}/fapi/v1/ping") as r:
                    await r.read()

        reader = asyncio.create_task(answer())
        await asyncio.sleep(0.05)
        for i in range(1, n + 100):
            sent = time.perf_counter()
            await fake.feed(Trade("BTCUSDT", Decimal(60000), Decimal("0.01"), 0, True, 10**6 + i, 0, 0))
            got = await asyncio.wait_for(arrived.get(), 5)
            if i > 100:
                out.append(got - sent)
            await asyncio.sleep(0.001)
        reader.cancel()
    fake.on_request = None
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeBinance(Market.USDM, balances={"USDT": Decimal(1_000_000)}) as fake:
            bot = await rulebot_latency(fake, args.n, Path(tmp))
            echo = await echo_latency(fake, args.n)
    print(f"tick-to-order on loopback ({sys.platform}, Python {sys.version.split()[0]})")
    show("rulebot", bot)
    show("echo", echo)
    print(f"rulebot adds {1000 * (pct(bot, 50) - pct(echo, 50)):.2f} ms at p50 over a client that does nothing")


if __name__ == "__main__":
    asyncio.run(main())
