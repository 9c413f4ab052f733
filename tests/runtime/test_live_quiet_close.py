"""Live against the fake exchange: a quiet symbol's trade-built minute closes at its mark price."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from decimal import Decimal

from rulebot.core.enums import Market
from rulebot.core.events import MarkPrice, Trade
from rulebot.rulebook.compiler import compile_text
from rulebot.runtime import control
from rulebot.runtime.assemble import Connection, live
from rulebot.runtime.run_config import RunConfig
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until

BOOK = """\
rulebook: quiet
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
rules:
  - name: minute
    on: candle_close 1m
    when: "close@1m > 0"
    do: [{log: "closed {close@1m} volume {volume@1m}"}]
"""
LEAD_MS = 4_000  # Binance's clock this long before a minute's end when the bot starts


async def test_a_quiet_symbols_minute_closes_live_at_its_first_mark_price_after_it(tmp_path):
    # One trade, then mark prices only (every 100 ms): the minute closes at the first mark price of the
    # next minute, not at a next trade that never comes (before, it never closed here).
    async with FakeBinance(Market.USDM) as fake:
        wall = int(time.time() * 1000)
        fake.rest_faults.clock_skew_ms = 60_000 - wall % 60_000 - LEAD_MS  # Binance's clock: LEAD_MS before a minute
        end = fake.now() // 60_000 * 60_000 + 60_000
        keys = tmp_path / "keys"
        keys.write_text(f"BINANCE_API_KEY={fake.api_key}\nBINANCE_API_SECRET={fake.api_secret}\n")
        keys.chmod(0o600)
        path = tmp_path / "book.yaml"
        path.write_text(BOOK)
        cfg = RunConfig(path, "live", tmp_path / "run", watch=False)
        conn = Connection(rest_url=fake.rest_url, ws_url=fake.ws_url)
        runner = await live(compile_text(BOOK), cfg, conn, str(keys), announce=lambda _s: None)
        task = asyncio.create_task(runner.run())
        try:
            await until(lambda: (cfg.run_dir / "control.sock").exists(), timeout=10)
            px = Decimal(60000)
            await fake.feed(Trade("BTCUSDT", px, Decimal("0.01"), 0, True, 1, 1, 1))
            traded = fake.now()
            marks: list[tuple[int, int]] = []  # Binance's clock before and after each mark price was stamped
            db = sqlite3.connect(cfg.journal_path())

            def logged() -> list[tuple[int, str]]:
                rows = db.execute("SELECT time, body FROM entries WHERE kind = 'log'").fetchall()
                return [(t, json.loads(b)["message"]) for t, b in rows]

            deadline = time.monotonic() + LEAD_MS / 1000 + 5
            while not logged() and time.monotonic() < deadline:
                before = fake.now()
                await fake.feed(MarkPrice("BTCUSDT", px, 0, px, None, 0))
                marks.append((before, fake.now()))
                await asyncio.sleep(0.1)
            await until(lambda: bool(logged()), timeout=2)
        finally:
            with contextlib.suppress(ConnectionError, OSError):
                await control.request(cfg.run_dir, {"cmd": "kill", "policy": "keep"})
            await asyncio.wait_for(task, 15)
    assert traded < end
    ((at, message),) = logged()
    assert message == "closed 60000 volume 0.01"
    first = next(i for i, (_, after) in enumerate(marks) if after >= end)  # the first mark of the next minute ...
    assert end <= at and marks[first][0] <= at <= marks[first][1]  # ... closed it
