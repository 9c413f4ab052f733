"""The 00:00 UTC day roll on the wall clock: a breach restored from the journal ends at midnight
because APScheduler delivers the roll, with no market data to carry the clock (freezegun)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

from freezegun import freeze_time

from rulebot.core.enums import Market
from rulebot.core.events import Trade
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.rulebook.compiler import compile_text
from rulebot.runtime import control
from rulebot.runtime.run_config import RunConfig
from rulebot.runtime.runner import Runner

from .conftest import until

DAY_MS = 86_400_000

BOOK = """\
rulebook: day-roll
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
risk: {daily_loss_cap: "20 USDT"}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "0.2"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: hold
    on: trade
    in: long
    when: price > 100000000
    do: [exit]
"""


async def trades(count: int | None) -> AsyncIterator[Trade]:
    """Trades stamped with the (frozen, ticking) wall clock; after `count` of them, silence."""
    i = 0
    while count is None or i < count:
        i += 1
        # the entry's fees (2 x 6 USDT) fit in the cap; the fall to 59,000 costs 200 USDT
        price = Decimal(60000) if i < 5 else Decimal(59000)
        yield Trade("BTCUSDT", price, Decimal("0.01"), int(time.time() * 1000), True, i)
        await asyncio.sleep(0.02)
    await asyncio.Event().wait()  # a quiet market: only the scheduler can move the clock now


def runner(tmp_path: Path, feed: AsyncIterator[Trade]) -> Runner:
    cfg = RunConfig(tmp_path / "book.yaml", "dry-run", tmp_path / "run", watch=False, use_scheduler=True)
    return Runner(
        cfg,
        compile_text(BOOK),
        feed,
        instruments=builtin_instruments(Market.USDM),
        brackets=builtin_brackets(Market.USDM),
    )


def breached(r: Runner) -> bool:
    return bool(r.status().get("guards", {}).get("daily_loss_breached"))


async def test_a_restored_breach_ends_at_midnight_utc_by_the_scheduler(tmp_path):
    # Ten seconds before midnight: room for two starts (journal verification, fsync) on a busy machine.
    with freeze_time("2026-11-25 23:59:50.0", tz_offset=0, tick=True):
        first = runner(tmp_path, trades(None))
        task = asyncio.create_task(first.run())
        await until(lambda: breached(first), timeout=8)  # the fall breaches the cap
        await control.request(first.cfg.run_dir, {"cmd": "kill", "policy": "flatten"})
        await asyncio.wait_for(task, 5)
        assert int(time.time() * 1000) % DAY_MS < DAY_MS - 300, "the first run took too long"

        second = runner(tmp_path, trades(1))
        task = asyncio.create_task(second.run())
        await until(lambda: second.events == 1, timeout=8)
        assert breached(second)  # restored from the journal: same UTC day
        await until(lambda: not breached(second), timeout=15)  # 00:00 UTC, with no market data
        now = int(time.time() * 1000)
        assert now % DAY_MS < 1000 and second.events == 1
        await control.request(second.cfg.run_dir, {"cmd": "kill", "policy": "keep"})
        await asyncio.wait_for(task, 5)
    db = sqlite3.connect(tmp_path / "run" / "journal.sqlite")
    days = [json.loads(b) for (b,) in db.execute("SELECT body FROM entries WHERE kind = 'daily' ORDER BY id")]
    assert days[-1]["day"] == now // DAY_MS and not days[-1]["breached"]
    assert any(d["day"] == now // DAY_MS - 1 and d["breached"] for d in days)
