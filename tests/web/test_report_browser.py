"""The backtest report in a real browser (the system's Chromium, headless, via Playwright): the
indicators the rules read are drawn, the wheel zooms every chart to the same window, dragging
pans, a double click shows the whole run again, and the page asks the network for nothing."""

from __future__ import annotations

from rulebot.backtest.api import demo
from rulebot.backtest.report_html import write_html_report
from rulebot.backtest.stats import compute_stats

RULEBOOK = """\
rulebook: report-lines
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
indicators:
  fast: ema(close@1m, 5)
  slow: ema(close@1m, 20)
  bb: bbands(close@1m, 20, 2)
  strength: rsi(close@1m, 14)
  unread: sma(close@1m, 3)
rules:
  - name: go-long
    on: candle_close 1m
    in: flat
    when: crossover(fast, slow) and strength < 70 and close@1m < bb.upper
    do: [{enter: {side: long, size: "20%", order: market}}, {goto: long}]
  - {name: out, on: candle_close 1m, in: long, when: "crossunder(fast, slow)", do: [exit, {goto: flat}]}
"""


def _view(text: str) -> tuple[int, int]:
    a, b = text.split(",")
    return int(a), int(b)


async def test_the_report_draws_the_indicators_the_rules_read_and_zooms_and_pans(tmp_path, browser):
    book = tmp_path / "lines.yaml"
    book.write_text(RULEBOOK)
    result, _ = demo(str(book), hours=4)
    report = tmp_path / "report.html"
    write_html_report(result, compute_stats(result), report)

    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    asked: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(report.as_uri())
    html = page.locator("html")
    assert await html.get_attribute("class") == "zoomable", errors
    full = _view(await html.get_attribute("data-view"))

    price = page.locator("figure.chart", has=page.locator("path.price"))
    for name in ("fast", "slow", "bb.upper", "bb.mid", "bb.lower"):  # price units: over the price
        assert await price.locator(f'path.ind[data-name="{name}"]').count() == 1, name
    assert await page.locator('path.ind[data-name="strength"]').count() == 1  # a panel of its own
    assert await page.locator('path.ind[data-name="unread"]').count() == 0  # no rule reads it
    assert await price.locator("path.ind").first.get_attribute("d")

    svg = price.locator("svg")
    await svg.scroll_into_view_if_needed()
    box = await svg.bounding_box()  # in the viewport, where the mouse is
    labels = await price.locator("text.time").all_text_contents()
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(4):
        await page.mouse.wheel(0, -300)
    # Wheel events arrive after mouse.wheel returns: wait for the fourth zoom step (0.8 ** 4).
    await page.wait_for_function(
        "f => { const [a, b] = document.documentElement.dataset.view.split(',').map(Number); return b - a < f }",
        arg=(full[1] - full[0]) * 0.45,
    )
    zoomed = _view(await html.get_attribute("data-view"))
    assert zoomed[1] - zoomed[0] < (full[1] - full[0]) / 2 and full[0] <= zoomed[0] < zoomed[1] <= full[1]
    assert await price.locator("text.time").all_text_contents() != labels  # the time axis followed
    equity_view = (
        await page.locator("figure.chart", has=page.locator("path.equity")).locator("text.time").all_text_contents()
    )
    assert equity_view == await price.locator("text.time").all_text_contents()  # every chart, one window

    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.down()
    await page.mouse.move(box["x"] + box["width"] / 2 + 200, box["y"] + box["height"] / 2, steps=5)
    await page.mouse.up()
    await page.wait_for_function(f"document.documentElement.dataset.view.split(',')[0] < {zoomed[0]}")
    panned = _view(await html.get_attribute("data-view"))
    assert panned[0] < zoomed[0] and panned[1] - panned[0] == zoomed[1] - zoomed[0]  # dragged right: earlier

    await svg.dblclick()
    await page.wait_for_function(f"document.documentElement.dataset.view === '{full[0]},{full[1]}'")
    await page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert errors == []
    assert all(url.startswith(("file:", "data:", "about:")) for url in asked), asked
