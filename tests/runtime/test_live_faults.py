"""A live runner against the fake exchange under faults of time: a market feed that arrives late,
a local clock off from Binance's, an order answer held back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

from rulebot.core.enums import Market
from rulebot.core.events import MarkPrice, Trade
from rulebot.rulebook.compiler import compile_text
from rulebot.runtime import control
from rulebot.runtime.assemble import Connection, live
from rulebot.runtime.runner import RunConfig, Runner
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until

D = Decimal

# Enters on a trade while flat, then holds. `stale_after` is 1 s so that a lag shows in a second.
ENTER_ON_TRADE = """\
rulebook: lagging
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
risk: {stale_after: 1s}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
"""


async def quote(fake: FakeBinance, stop: asyncio.Event, symbols: tuple[str, ...] = ("BTCUSDT",)) -> None:
    i = 1
    while not stop.is_set():
        for s in symbols:
            px = D(60000) + D(i % 7) if s == "BTCUSDT" else D(3000) + D(i % 5)
            await fake.feed(MarkPrice(s, px, 0, px, None, 0))
            await fake.feed(Trade(s, px, D("0.01"), 0, True, i, i, i))
        i += 1
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(
    fake: FakeBinance, text: str, tmp_path: Path, symbols: tuple[str, ...] = ("BTCUSDT",)
) -> AsyncIterator[Runner]:
    keys = tmp_path / "keys"
    keys.write_text(f"BINANCE_API_KEY={fake.api_key}\nBINANCE_API_SECRET={fake.api_secret}\n")
    keys.chmod(0o600)
    path = tmp_path / "book.yaml"
    path.write_text(text)
    cfg = RunConfig(path, "live", tmp_path / "run", watch=False)
    runner = await live(compile_text(text), cfg, Connection(rest_url=fake.rest_url, ws_url=fake.ws_url), str(keys),
                        announce=lambda _: None)  # fmt: skip
    stop = asyncio.Event()
    feeder = asyncio.create_task(quote(fake, stop, symbols))
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        if not task.done():
            with contextlib.suppress(ConnectionError, OSError):
                await control.request(cfg.run_dir, {"cmd": "kill", "policy": "keep"})
        await asyncio.wait_for(task, 20)
        stop.set()
        await feeder


def guard_rows(runner: Runner) -> list[dict]:
    if runner.desk is None:  # not started: no journal yet
        return []
    db = sqlite3.connect(runner.cfg.journal_path())
    try:
        return [json.loads(b) for (b,) in db.execute("SELECT body FROM entries WHERE kind = 'guard'")]
    finally:
        db.close()


def stale_refusals(runner: Runner) -> list[str]:
    return [v["reason"] for g in guard_rows(runner) for v in g["verdicts"]
            if v["guard"] == "stale_data" and v["kind"] == "reject"]  # fmt: skip


async def test_a_market_feed_arriving_late_is_stale_and_the_bot_does_not_enter(tmp_path):
    async with FakeBinance(Market.USDM) as fake:
        fake.hub.faults.market_lag_ms = 1_500  # every frame reaches the bot 1.5 s after Binance stamped it
        async with running(fake, ENTER_ON_TRADE, tmp_path) as runner:
            await until(lambda: len(stale_refusals(runner)) >= 3, timeout=10)
            st = runner.status()
    assert fake.placed_ids == [] and st["states"] == {"BTCUSDT": "flat"}
    assert "market data is 1.5s old" in stale_refusals(runner)[0]


async def test_a_local_clock_behind_binances_does_not_make_fresh_data_stale(tmp_path):
    async with FakeBinance(Market.USDM) as fake:
        fake.rest_faults.clock_skew_ms = -3_000  # Binance's clock is 3 s behind this machine's
        async with running(fake, ENTER_ON_TRADE, tmp_path) as runner:
            await until(lambda: bool(fake.placed_ids), timeout=10)
            await until(lambda: runner.status()["states"] == {"BTCUSDT": "long"}, timeout=10)
    assert stale_refusals(runner) == []
