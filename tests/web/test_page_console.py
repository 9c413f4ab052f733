"""The page and the reports it serves, opened in a real browser as a user would: the browser's
console stays clean, and no chart tells the reader to zoom where nothing can zoom."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, ConsoleMessage, expect

from rulebot.backtest.api import demo
from rulebot.backtest.report_html import write_html_report
from rulebot.backtest.stats import compute_stats
from rulebot.web.bots import JOURNAL_NAME, Bot
from rulebot.web.security import Guard
from rulebot.web.server import make_app

from .conftest import HOLD_ON_CANDLE, TOKEN

HINT = "wheel to zoom"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[str]:
    """A finished run directory (journal and report) behind a real server on loopback."""
    run = tmp_path / "run"
    run.mkdir()
    book = tmp_path / "book.yaml"
    book.write_text(HOLD_ON_CANDLE)
    result, _ = demo(str(book), hours=2, journal_path=run / JOURNAL_NAME)
    write_html_report(result, compute_stats(result), run / "report.html")
    runner = web.AppRunner(make_app([Bot("0", run_dir=run)], Guard(TOKEN, loopback=True, control=False)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def _errors(messages: list[ConsoleMessage]) -> list[str]:
    return [f"{m.text} ({m.location.get('url')})" for m in messages if m.type == "error"]


async def test_the_page_loads_with_nothing_in_the_console(served: str, browser: Browser) -> None:
    # Every page load logged "Failed to load resource: 404" for the /favicon.ico browsers ask for.
    page = await browser.new_page()
    messages: list[ConsoleMessage] = []
    page.on("console", lambda m: messages.append(m))
    await page.goto(f"{served}/")
    await expect(page.locator(".chart-box svg").first).to_be_visible(timeout=30_000)
    await page.wait_for_load_state("networkidle")
    assert _errors(messages) == []


async def test_the_page_charts_do_not_say_wheel_to_zoom_as_nothing_zooms_there(served: str, browser: Browser) -> None:
    # The page runs no chart script, yet its price chart's legend said "wheel to zoom, drag to
    # pan, double-click to reset".
    page = await browser.new_page()
    await page.goto(f"{served}/")
    legend = page.locator(".chart-box .legend").first
    await expect(legend).to_contain_text("long entry", timeout=30_000)
    assert HINT not in await legend.inner_text()


async def test_a_served_report_zooms_as_it_does_from_disk_and_runs_no_other_script(
    served: str, browser: Browser, tmp_path: Path
) -> None:
    # Its CSP ran no script at all: the console said "Blocked script execution", the zoom bar
    # stayed hidden and the legend still said "wheel to zoom".
    page = await browser.new_page()
    messages: list[ConsoleMessage] = []
    page.on("console", lambda m: messages.append(m))
    await page.goto(f"{served}/reports/0/report.html")
    await expect(page.locator("#zoom-in")).to_be_visible()
    assert HINT in await page.locator(".legend").last.inner_text()
    before = await page.locator("#zoom-window").inner_text()
    await page.click("#zoom-in")
    await expect(page.locator("#zoom-window")).not_to_have_text(before)
    assert _errors(messages) == []

    # The report's own script only, by its hash: a script planted in a report stays blocked.
    report = tmp_path / "run" / "report.html"
    report.write_text(report.read_text().replace("</body>", "<script>document.title = 'planted'</script></body>"))
    await page.goto(f"{served}/reports/0/report.html")
    await expect(page.locator("#zoom-in")).to_be_visible()
    assert await page.title() != "planted"
    assert any("violates the following Content Security Policy" in e for e in _errors(messages))
