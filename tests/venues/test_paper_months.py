"""Monthly candles (archive `1M` files) are walked every month: a month lasts 28 to 31 days, and
February's shorter candle once made every longer month after it look like a longer timeframe of
the same market, whose path the venue skips: no order filled, no stop fired, from March on."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from decimal import Decimal as D

from rulebot.core.enums import MarginType, Market
from rulebot.core.events import CandleClosed
from rulebot.exchange_sim import SimExchange
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.venues.paper import PaperVenue


def month(n: int, timeframe: str = "1M") -> CandleClosed:
    start = int(datetime(2023, n, 1, tzinfo=UTC).timestamp() * 1000)
    days = calendar.monthrange(2023, n)[1]
    return CandleClosed(
        "BTCUSDT", timeframe, start, start + days * 86_400_000 - 1,
        D(30000), D(30500), D(29000), D(30000), D(1000), D(30_000_000), 100, D(500),
    )  # fmt: skip


def venue() -> PaperVenue:
    inst, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)
    sim = SimExchange(
        {"BTCUSDT": inst["BTCUSDT"]},
        {"BTCUSDT": brackets["BTCUSDT"]},
        market=Market.USDM,
        balances={"USDT": D(1000)},
        default_margin_type=MarginType.ISOLATED,
    )
    return PaperVenue(sim, Market.USDM)


def test_every_month_of_a_year_is_walked() -> None:
    paper = venue()
    for n in range(1, 13):
        c = month(n)
        assert paper.walks(c), n
        assert len(list(paper.walk(c))) == 4, n


def test_a_week_is_still_the_shorter_timeframe_beside_months() -> None:
    paper = venue()
    week = CandleClosed(
        "BTCUSDT", "1w", month(1).open_time, month(1).open_time + 7 * 86_400_000 - 1,
        D(30000), D(30500), D(29000), D(30000), D(1), D(1), 1, D(1),
    )  # fmt: skip
    assert len(list(paper.walk(week))) == 4
    assert not paper.walks(month(2)) and list(paper.walk(month(2))) == []
    assert paper.shortest("BTCUSDT") == 7 * 86_400_000 - 1
