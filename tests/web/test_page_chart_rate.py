"""A busy bot in a real browser: the page follows its journal live, but fetches the chart (drawn
from the whole journal, a megabyte for a month of a busy bot) at most once per CHART_EVERY_MS."""

from __future__ import annotations

import asyncio

from aiohttp import web
from playwright.async_api import Browser, expect

from rulebot.web.bots import Bot
from rulebot.web.security import Guard
from rulebot.web.server import make_app

from .conftest import TOKEN, Live, until


async def test_a_busy_journal_is_followed_live_but_its_chart_fetched_once_per_ten_seconds(
    live_bot: Live, browser: Browser
) -> None:
    await until(lambda: live_bot.runner.status().get("positions"))
    app = make_app([Bot("0", run_dir=live_bot.run_dir)], Guard(TOKEN, loopback=True, control=True), poll_s=0.1)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fetched: dict[str, int] = {"chart": 0, "decisions": 0}

    def count(request) -> None:  # type: ignore[no-untyped-def]
        for what in fetched:
            if f"/api/bots/0/{what}" in request.url:
                fetched[what] += 1

    try:
        page = await browser.new_page()
        page.on("request", count)
        await page.goto(f"http://127.0.0.1:{port}/")
        await expect(page.locator(".chart-box svg").first).to_be_visible(timeout=30_000)
        await asyncio.sleep(6)  # the bot logs a candle every 0.1 s: the journal moves all the time
        assert fetched["decisions"] >= 5, fetched  # followed live
        assert fetched["chart"] == 1, fetched  # not once per change
        await until(lambda: fetched["chart"] == 2, timeout=15)  # the last change is drawn, once due
    finally:
        await runner.cleanup()
