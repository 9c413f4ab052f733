"""A market order a timer sends fills at the timer's time, flat or not.

On candle-only data the engine's clock used to wait for the candle's close while the account was
flat (a walked price moves no PnL there). A timer due inside the candle then fired at its close: its
decision was stamped at the timer's time, and read the market as it was then, but its entry filled
at the candle's close, a candle later (an hour later on 1h data). In a position the same timer
fired at the candle's first price at or after its time, so exits filled at the open and entries at
the close of the same minute."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from rulebot.backtest.result import BacktestResult
from rulebot.backtest.runner import BacktestConfig, run_backtest
from rulebot.core.enums import Market
from rulebot.core.events import CandleClosed, MarkPrice
from rulebot.engine import records as rec
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.rulebook.compiler import compile_text

T0 = 1_735_689_600_000  # 2025-01-01 00:00 UTC
MINUTE = 60_000
HOUR = 60 * MINUTE

HOURLY = """
rulebook: hourly
market: usdm
symbols: [BTCUSDT]
timeframes: [%(tf)s]
rules:
  - name: enter-on-the-hour
    on: every 1h
    in: flat
    priority: 1
    do: [{enter: {side: long, size: 0.01}}, {stop_loss: {distance: 5%%}}, {goto: long}]
  - name: exit-on-the-hour
    on: every 1h
    in: long
    do: [exit, {goto: flat}]
states: {flat: {}, long: {position: long}}
"""


def bars(span: int, n: int) -> list[CandleClosed]:
    """Candles `span` ms long whose open and close lie far apart (each opens 100 above the last
    close and closes 100 below its open), so a fill says at which of its prices it was made."""
    out, price = [], D(60_000)
    for i in range(n):
        o, c = price + 100, price
        t = T0 + i * span
        out.append(
            CandleClosed(
                "BTCUSDT", "1m" if span == MINUTE else "1h", t, t + span - 1, o, o, c, c, D(100), D(100) * c, 10, D(50)
            )
        )
        price = c - 100 if i % 2 else c + 300
    return out


def run(path: str, span: int, n: int, marks: bool) -> tuple[BacktestResult, list[object]]:
    """`marks`: each candle followed by its mark-price kline (markPriceKlines), as the feeds merge them."""
    book = compile_text(HOURLY % {"tf": "1m" if span == MINUTE else "1h"})
    events: list[object] = []
    for c in bars(span, n):
        events.append(c)
        if marks:
            events.append(
                MarkPrice(
                    "BTCUSDT",
                    c.close,
                    c.close_time,
                    bar_open_time=c.open_time,
                    bar_open=c.open,
                    bar_high=c.high,
                    bar_low=c.low,
                )
            )
    records: list[object] = []
    result = run_backtest(
        book,
        iter(events),
        builtin_instruments(Market.USDM),
        builtin_brackets(Market.USDM),
        BacktestConfig(path=path),
        on_record=records.append,
    )
    return result, records


@pytest.mark.parametrize("path", ["event", "fast"])
@pytest.mark.parametrize("span", [MINUTE, HOUR], ids=["1m", "1h"])
@pytest.mark.parametrize("marks", [False, True], ids=["klines", "with-mark-klines"])
def test_a_timer_fills_at_its_time_flat_or_in_a_position(path: str, span: int, marks: bool) -> None:
    result, records = run(path, span, 5 * HOUR // span + 1, marks)
    decisions = [r for r in records if isinstance(r, rec.Decision) and r.fired]
    assert [d.time for d in decisions] == [T0 + h * HOUR for h in range(1, 6)]
    assert len(result.fills) == 5
    by_time = {c.open_time: c for c in bars(span, 5 * HOUR // span + 1)}
    for fill, decision in zip(result.fills, decisions, strict=True):
        assert fill.time == decision.time, (decision.rule, fill)
        assert fill.price == by_time[decision.time].open, (decision.rule, fill)  # the ideal model: at the price then
