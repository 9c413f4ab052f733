"""Any bytes in an archive file end as events that could happen or as a ReplayFileError: never
another exception, never an impossible event (hypothesis mutates real rows cell by cell)."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulebot.core.events import BookTop, CandleClosed, FundingRate, MarkPrice, Trade
from rulebot.feeds.replay import ReplayFileError, read_events

KLINE = "1749340800000,105507.5,105507.6,105507.5,105507.6,22.206,1749340859999,0,0,18.627,0,0"
AGG = "{i},105000.1,0.5,{i},{i},1749340800005,true"
CELLS = st.one_of(
    st.sampled_from(["", "0", "-5", "NaN", "Infinity", "-Infinity", "1e999999", "sNaN", "1e-999999", "true", "x"]),
    st.integers(-(10**20), 10**20).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.text(max_size=6),
)


def _rows(template: str, count: int) -> st.SearchStrategy[list[str]]:
    """`count` copies of a real row, stepped in time, each possibly with one cell replaced."""

    @st.composite
    def build(draw: st.DrawFn) -> list[str]:
        out = []
        for i in range(count):
            row = template.replace("{i}", str(i + 1)).split(",")
            for j, c in enumerate(row):
                if c.isdigit() and len(c) == 13:  # a time: step it
                    row[j] = str(int(c) + i * 60_000)
            if draw(st.integers(0, 5)) == 0:
                row[draw(st.integers(0, len(row) - 1))] = draw(CELLS)
            if draw(st.integers(0, 29)) == 0:
                row = row[: draw(st.integers(0, len(row)))]
            out.append(",".join(row))
        return out

    return build()


def _read(name: str, lines: list[str]) -> list[object]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text("".join(line.replace("\n", " ") + "\n" for line in lines))
        try:
            return list(read_events(path))
        except ReplayFileError as exc:
            assert str(exc).startswith(str(path)), exc
            return []


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(_rows(KLINE, 6))
def test_klines_give_possible_bars_or_a_file_error(lines: list[str]) -> None:
    prev = -1
    for bar in _read("BTCUSDT-1m-2025-06-08.csv", lines):
        assert isinstance(bar, CandleClosed)
        assert 0 < bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high < Decimal("1e30")
        assert bar.volume >= 0 and bar.open_time < bar.close_time and bar.close_time > prev
        prev = bar.close_time


@FUZZ
@given(_rows(AGG, 6))
def test_agg_trades_give_possible_trades_or_a_file_error(lines: list[str]) -> None:
    prev_time, prev_id = -1, -1
    for trade in _read("BTCUSDT-aggTrades-2025-06-08.csv", lines):
        assert isinstance(trade, Trade)
        assert 0 < trade.price < Decimal("1e30") and 0 < trade.qty < Decimal("1e30")
        assert trade.time >= prev_time and trade.trade_id > prev_id
        prev_time, prev_id = trade.time, trade.trade_id


BOOK = "{i},105000.0,1.5,105000.1,2,1749340800005,1749340800005"
FUNDING = "1749340800000,8,0.0001"
MARK = KLINE


@FUZZ
@given(_rows(BOOK, 6))
def test_book_tickers_give_possible_quotes_or_a_file_error(lines: list[str]) -> None:
    for quote in _read("BTCUSDT-bookTicker-2025-06-08.csv", lines):
        assert isinstance(quote, BookTop)
        assert 0 < quote.bid <= quote.ask < Decimal("1e30") and quote.bid_qty >= 0 and quote.ask_qty >= 0


@FUZZ
@given(_rows(FUNDING, 6))
def test_funding_rates_give_possible_rates_or_a_file_error(lines: list[str]) -> None:
    prev = -1
    for rate in _read("BTCUSDT-fundingRate-2025-06.csv", lines):
        assert isinstance(rate, FundingRate)
        assert -1 < rate.rate < 1 and rate.time > prev
        prev = rate.time


@FUZZ
@given(_rows(MARK, 6))
def test_mark_price_klines_give_positive_prices_or_a_file_error(lines: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "markPriceKlines"
        folder.mkdir()
        path = folder / "BTCUSDT-1m-2025-06-08.csv"
        path.write_text("".join(line.replace("\n", " ") + "\n" for line in lines))
        try:
            prices = list(read_events(path))
        except ReplayFileError:
            prices = []
    for mark in prices:
        assert isinstance(mark, MarkPrice) and 0 < mark.mark_price < Decimal("1e30")
