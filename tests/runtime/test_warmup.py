"""A restarted bot starts with warm indicators (REST klines), live and in a dry-run on Binance's
prices, and `status` shows each symbol's data age and each indicator's warm-up."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

from rulebot.core.enums import Market
from rulebot.core.events import CandleClosed, MarkPrice, Trade
from rulebot.engine.engine import Engine
from rulebot.feeds.catalog import builtin_instruments
from rulebot.rulebook.compiler import compile_text
from rulebot.runtime import control
from rulebot.runtime.assemble import Connection, dry_run, live
from rulebot.runtime.run_config import RunConfig
from rulebot.runtime.runner import Runner
from rulebot.runtime.warmup import klines_fetch, warm_up
from rulebot.testing.fake_binance import FakeBinance
from rulebot.venues.binance.endpoints import Endpoints
from rulebot.venues.binance.rest import BinanceRest

from .conftest import until

D = Decimal
MINUTE = 60_000

# Buys when the price is above a 20-candle EMA of 1m closes: 20 minutes of waiting when cold.
ABOVE_THE_EMA = """\
rulebook: warm
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
account: {leverage: 3}
indicators:
  slow: ema(close@1m, 20)
rules:
  - name: buy
    on: trade
    in: flat
    when: price > slow
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
"""


def history(fake: FakeBinance, minutes: int, close: Decimal = Decimal(59000)) -> None:
    """`minutes` closed 1m candles before now on the fake (what its REST klines answer)."""
    now = fake.now() // MINUTE * MINUTE
    for k in range(minutes, 0, -1):
        o = now - k * MINUTE
        fake.history.on_market(
            CandleClosed("BTCUSDT", "1m", o, o + MINUTE - 1, close, close, close, close, D(5), D(5) * close, 10, D(2))
        )


async def quote(fake: FakeBinance, stop: asyncio.Event) -> None:
    i = 1
    while not stop.is_set():
        px = D(60000) + D(i % 7)
        await fake.feed(MarkPrice("BTCUSDT", px, 0, px, None, 0))
        await fake.feed(Trade("BTCUSDT", px, D("0.01"), 0, True, i, i, i))
        i += 1
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(fake: FakeBinance, tmp_path: Path, mode: str) -> AsyncIterator[Runner]:
    path = tmp_path / "book.yaml"
    path.write_text(ABOVE_THE_EMA)
    cfg = RunConfig(path, "live" if mode == "live" else "dry-run", tmp_path / "run", watch=False)
    conn = Connection(rest_url=fake.rest_url, ws_url=fake.ws_url)
    book = compile_text(ABOVE_THE_EMA)
    if mode == "live":
        keys = tmp_path / "keys"
        keys.write_text(f"BINANCE_API_KEY={fake.api_key}\nBINANCE_API_SECRET={fake.api_secret}\n")
        keys.chmod(0o600)
        runner = await live(book, cfg, conn, str(keys), announce=lambda _: None)
    else:
        runner = await dry_run(book, cfg, "binance", connection=conn)
    stop = asyncio.Event()
    feeder = asyncio.create_task(quote(fake, stop))
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        if not task.done() and runner.stopping is None:
            with contextlib.suppress(ConnectionError, OSError):
                await control.request(cfg.run_dir, {"cmd": "kill", "policy": "keep"})
        await asyncio.wait_for(task, 20)
        stop.set()
        await feeder


async def test_a_restarted_live_bot_trades_on_warm_indicators_at_once(tmp_path):
    async with FakeBinance(Market.USDM) as fake:
        history(fake, 90)
        async with running(fake, tmp_path, "live") as runner:
            await until(lambda: bool(fake.placed_ids), timeout=10)  # cold, the EMA would need 20 minutes
            st = runner.status()
    warm = st["warmup"]["BTCUSDT"]["slow"]
    assert warm["ready"] and warm["candles"] >= 20 and warm["needs"] == 20 and warm["timeframe"] == "1m"
    assert 0 <= st["data"]["BTCUSDT"]["age_s"] < 5


async def test_a_dry_run_on_binance_prices_starts_warm_too(tmp_path):
    async with FakeBinance(Market.USDM) as fake:
        history(fake, 90)
        async with running(fake, tmp_path, "dry-run") as runner:
            await until(lambda: bool(runner.status().get("positions")), timeout=10)
            st = runner.status()
    assert st["warmup"]["BTCUSDT"]["slow"]["ready"] and st["states"] == {"BTCUSDT": "long"}


async def test_warm_up_takes_only_closed_candles_and_says_when_binance_has_too_few(tmp_path):
    async with FakeBinance(Market.USDM) as fake:
        history(fake, 8)  # a new listing: 8 closed minutes, the EMA needs 20
        fake.history.on_market(  # the minute still forming: Binance's last row, never a closed candle
            CandleClosed(
                "BTCUSDT",
                "1m",
                fake.now() // MINUTE * MINUTE,
                fake.now() // MINUTE * MINUTE + MINUTE - 1,
                D(1),
                D(1),
                D(1),
                D(1),
                D(1),
                D(1),
                1,
                D(1),
            )
        )
        rest = BinanceRest(Endpoints.custom(Market.USDM, fake.rest_url, fake.ws_url))
        try:
            await rest.sync_time()
            engine = Engine(compile_text(ABOVE_THE_EMA), builtin_instruments(Market.USDM), {"USDT": D(1000)})
            (note,) = await warm_up(engine, klines_fetch(rest), 2000)
        finally:
            await rest.close()
    market = engine.market("BTCUSDT")
    assert [c.close for c in market.history["1m"]] == [59000.0] * 8  # not the forming candle's 1.0
    assert "1m: 8 candles (fewer than needed" in note and "not ready yet: slow" in note
    assert market.warmup()["slow"] == {"timeframe": "1m", "ready": False, "candles": 8, "needs": 20}
