"""The page in a real browser: the system's Chromium, headless, driven by Playwright, against a
dry-run bot on the simulated market. It signs in, reloads a rulebook that trades, sees the
position and the lit state arrive live, follows the decision to its explanation, diffs the two
versions and presses kill. Screenshots go to $RULEBOT_WEB_SCREENSHOTS (or the test's tmp dir)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from aiohttp import web
from playwright.async_api import Page, expect

from rulebot.rulebook.compiler import compile_file
from rulebot.runtime.assemble import dry_run
from rulebot.runtime.run_config import RunConfig
from rulebot.web.bots import Bot
from rulebot.web.security import Guard
from rulebot.web.server import make_app

from .conftest import HOLD_ON_CANDLE, TOKEN, until

WAIT_MS = 30_000
# The same rulebook, but its entry never fires: the bot starts flat and stays so until reloaded.
TRADING = HOLD_ON_CANDLE.replace('size: "0.01"}', 'size: "0.01", order: market}')
IDLE = TRADING.replace(
    "    on: candle_close 1m\n    in: flat\n", "    on: candle_close 1m\n    in: flat\n    when: close@1m < 0\n"
)


def _shots(tmp_path: Path) -> Path:
    where = Path(os.environ.get("RULEBOT_WEB_SCREENSHOTS") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


async def test_a_trader_follows_a_trade_to_its_explanation_and_presses_kill(tmp_path, browser):
    book = tmp_path / "book.yaml"
    book.write_text(IDLE)
    cfg = RunConfig(book, "dry-run", tmp_path / "run", watch=False)
    runner = await dry_run(compile_file(str(book)), cfg, "simulated", hours=24, speed=1000)
    bot_task = asyncio.create_task(runner.run())
    await until(lambda: (cfg.run_dir / "control.sock").exists(), timeout=30)
    site_runner = web.AppRunner(
        make_app([Bot("0", run_dir=cfg.run_dir)], Guard(TOKEN, loopback=True, control=True), poll_s=0.2)
    )
    await site_runner.setup()
    site = web.TCPSite(site_runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    shots = _shots(tmp_path)
    try:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{base}/login?token={TOKEN}")  # signs in, lands on the page
        assert page.url == f"{base}/"
        await expect(page.locator("h1")).to_have_text("web-test", timeout=WAIT_MS)
        await expect(page.locator("#running")).to_have_text("running")
        await expect(page.locator('.diagram .node.lit[data-state="flat"]')).to_be_visible(timeout=WAIT_MS)
        await expect(page.locator("#card-positions")).to_contain_text("flat: no position")

        # A new rulebook version that trades, loaded with the page's Reload button.
        book.write_text(TRADING)
        await _confirm(page, "#reload")
        await expect(page.locator("#control-answer")).to_contain_text("reload sent", timeout=WAIT_MS)
        # The trade arrives live (no page reload): the position, its stop, the lit state.
        positions = page.locator("#card-positions")
        await expect(positions).to_contain_text("long", timeout=WAIT_MS)
        await expect(positions.locator("td").nth(5)).not_to_have_text("\u2013")  # the liquidation price is shown
        await expect(page.locator("#card-working")).to_contain_text("stop_loss", timeout=WAIT_MS)
        await expect(page.locator('.diagram .node.lit[data-state="long"]')).to_be_visible(timeout=WAIT_MS)
        await expect(page.locator(".chart-box svg").first).to_be_visible()
        await page.screenshot(path=shots / "web-desktop.png", full_page=True)

        # The decision that opened it, explained: the same story as `rulebot audit explain`.
        buy = page.locator("button.decision", has_text="buy").last
        await expect(buy).to_be_visible(timeout=WAIT_MS)
        decision_id = await buy.get_attribute("data-id")
        await buy.click()
        dialog = page.locator("#explain")
        await expect(dialog.locator("#explain-title")).to_have_text(f"decision {decision_id} · buy", timeout=WAIT_MS)
        await expect(dialog).to_contain_text("daily_loss_cap")
        await expect(dialog).to_contain_text("Orders and fills that followed")
        # ...and what the engine did on its own after it: the daily-cap stop it placed beside the rule's.
        await expect(dialog).to_contain_text("Then the engine, on its own")
        await expect(dialog).to_contain_text("daily_loss_cap: daily_cap stop")
        await expect(dialog).to_contain_text(f"explain {decision_id}")
        await page.screenshot(path=shots / "web-explain.png")
        await dialog.locator("form.close button").click()

        # Two rulebook versions, and what changed between them.
        await page.locator("#versions button", has_text="Diff").click()
        await expect(page.locator("#diff")).to_contain_text("-    when: close@1m < 0", timeout=WAIT_MS)

        # Phone-sized: the same page, one column, still usable.
        phone = await browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
        await phone.goto(f"{base}/")
        await expect(phone.locator("#card-positions")).to_contain_text("long", timeout=WAIT_MS)
        await expect(phone.locator('.diagram .node.lit[data-state="long"]')).to_be_visible(timeout=WAIT_MS)
        await phone.screenshot(path=shots / "web-phone.png")
        await phone.locator("#card-state").scroll_into_view_if_needed()
        await phone.screenshot(path=shots / "web-phone-diagram.png")
        await phone.screenshot(path=shots / "web-phone-full.png", full_page=True)
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width}px wide on a 390px phone"
        await phone.close()

        # The kill switch: flatten. The bot stops and the page says so.
        await _confirm(page, "#kill-flatten")
        await expect(page.locator("#control-answer")).to_contain_text("kill sent (flatten)", timeout=WAIT_MS)
        final = await asyncio.wait_for(bot_task, 30)
        assert final["positions"] == [] and final["guards"]["halted"]
        await expect(page.locator("#running")).to_have_text("stopped", timeout=WAIT_MS)
        await expect(page.locator("#card-positions")).to_contain_text("not running")
        await page.screenshot(path=shots / "web-killed.png", full_page=True)
        assert errors == []
    finally:
        if not bot_task.done():
            await runner.request({"cmd": "kill", "policy": "flatten"})
            await asyncio.wait_for(bot_task, 30)
        await browser.close()  # its open event streams end with it
        await site_runner.cleanup()


async def _confirm(page: Page, button: str) -> None:
    await page.locator(button).click()
    await expect(page.locator("#confirm")).to_be_visible()
    await page.locator("#confirm-yes").click()
