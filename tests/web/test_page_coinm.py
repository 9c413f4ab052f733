"""A COIN-M bot in a real browser: its amounts are in the coin, and the page shows them with the
digits a coin needs, as the terminal's status and the backtest summary do."""

from __future__ import annotations

import asyncio
import contextlib
import re
from decimal import Decimal

from aiohttp import web
from playwright.async_api import Browser, expect

from rulebot.rulebook.compiler import compile_file
from rulebot.runtime.assemble import dry_run
from rulebot.runtime.run_config import RunConfig
from rulebot.testing.bots import hold_on_candle
from rulebot.web.bots import Bot
from rulebot.web.security import Guard
from rulebot.web.server import make_app

from .conftest import TOKEN, until

COINM = (
    hold_on_candle("web-coinm")
    .replace("market: usdm", "market: coinm")
    .replace("BTCUSDT", "BTCUSD_PERP")
    .replace('size: "0.01"', "size: 100")
)


async def test_a_coinm_bot_shows_its_coin_amounts_with_a_coins_digits(tmp_path, browser: Browser) -> None:
    # With 1 BTC the page read "1.00 BTC", "today +0.00 BTC", "loss cap 0.05 BTC" and a uPnL of
    # "0.00" or "-0.00": cents of a coin, where 0.004 BTC is hundreds of dollars.
    book = tmp_path / "book.yaml"
    book.write_text(COINM)
    cfg = RunConfig(book, "dry-run", tmp_path / "run", watch=False, balance=Decimal(1))
    runner = await dry_run(compile_file(str(book)), cfg, "simulated", hours=24, speed=600)
    task = asyncio.create_task(runner.run())
    await until(lambda: (cfg.run_dir / "control.sock").exists(), timeout=30)
    site_runner = web.AppRunner(make_app([Bot("0", run_dir=cfg.run_dir)], Guard(TOKEN, loopback=True, control=True)))
    await site_runner.setup()
    site = web.TCPSite(site_runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        await until(lambda: runner.status().get("positions"))
        page = await browser.new_page()
        await page.goto(f"http://127.0.0.1:{port}/login?token={TOKEN}")
        equity = page.locator("#card-equity", has_text="today")
        await expect(equity).to_contain_text(re.compile(r"PnL[01]\.\d{6} BTC"), timeout=30_000)
        await expect(equity).to_contain_text(re.compile(r"today [+-]0\.\d{6} BTC"))
        await expect(equity).to_contain_text("loss cap 0.050000 BTC")
        upnl = page.locator("#card-positions tbody tr td").nth(7)
        await expect(upnl).to_have_text(re.compile(r"^-?0\.\d{6}$"), timeout=30_000)
    finally:
        await site_runner.cleanup()
        if not task.done():
            with contextlib.suppress(Exception):
                await runner.request({"cmd": "kill", "policy": "flatten"})
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 30)
