"""Timers on the event clock (rulebot/engine/timers.py, clock.py): when `before_funding`, `every`
and `cron` rules fire, on the data's clock, through the real engine and exchange simulator."""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.events import FundingRate
from rulebot.engine import records as rec

from .conftest import T0, backtest, trades

HOUR = 3_600_000

BEFORE_FUNDING = """\
rulebook: t
market: usdm
symbols: [ADAUSDT]
timeframes: [1m]
rules:
  - name: early
    on: before_funding 30m
    do: [{log: soon}]
"""


def _fired(records: list[object], rule: str) -> list[int]:
    return [(r.time - T0) // 60_000 for r in records if isinstance(r, rec.Decision) and r.rule == rule and r.fired]


def test_before_funding_fires_before_each_settlement_of_a_symbol_that_settles_every_4_hours(usdm):
    """FACTS §11: some symbols settle every 4 h (or 1 h), which the fundingRate rows say. The timer
    kept Binance's default 8 h: `before_funding 30m` fired at 07:30 only, missing 03:30 and 11:30."""
    prices = trades([1.0] * 160, every_ms=300_000)  # 00:00 to 13:15, a trade every 5 minutes
    settled = [FundingRate("ADAUSDT", Decimal("0.0001"), T0 + h * HOUR + 3, None, 4) for h in (0, 4, 8, 12)]
    _, records = backtest(BEFORE_FUNDING, sorted([*prices, *settled], key=lambda e: e.time), usdm)
    assert _fired(records, "early") == [3 * 60 + 30, 7 * 60 + 30, 11 * 60 + 30]


def test_before_funding_keeps_the_8_hour_schedule_without_funding_data(usdm):
    _, records = backtest(BEFORE_FUNDING, trades([1.0] * 200, every_ms=300_000), usdm)  # to 16:35
    assert _fired(records, "early") == [7 * 60 + 30, 15 * 60 + 30]
