"""A bot stopped with "Kill · keep stops", in a real browser: the page still shows the position
it left open on the exchange, from its journal, and says where that comes from."""

from __future__ import annotations

import asyncio

from aiohttp import web
from playwright.async_api import Browser, expect

from rulebot.web.bots import Bot
from rulebot.web.security import Guard
from rulebot.web.server import make_app

from .conftest import TOKEN, Live, until


async def test_a_bot_killed_keeping_its_position_still_shows_it(live_bot: Live, browser: Browser) -> None:
    # The Positions card said only "not running": the position the kill kept, with its stop on
    # the exchange, was nowhere on the page.
    await until(lambda: live_bot.runner.status().get("positions"))
    await live_bot.runner.request({"cmd": "kill", "policy": "keep"})
    await asyncio.wait_for(live_bot.task, 30)
    runner = web.AppRunner(make_app([Bot("0", run_dir=live_bot.run_dir)], Guard(TOKEN, loopback=True, control=True)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        page = await browser.new_page()
        await page.goto(f"http://127.0.0.1:{port}/")
        await expect(page.locator("#running")).to_have_text("stopped", timeout=30_000)
        card = page.locator("#card-positions")
        await expect(card).to_contain_text("BTCUSDT")
        await expect(card).to_contain_text("long")
        await expect(card).to_contain_text("0.01")
        await expect(card).to_contain_text("open when the dry-run stopped, as its journal recorded them")
    finally:
        await runner.cleanup()
