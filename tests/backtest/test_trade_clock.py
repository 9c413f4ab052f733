"""A trade-data backtest closes a quiet symbol's trade-built candles at their end, as live does.

Live, the mark price stream (every 1-3 s) closes a quiet symbol's minute at its first mark at or past
the minute's end (engine/market_events.py `_clock`). Trade files have no mark prices: the backtest
carries the symbol's clock to each end it passes (backtest/trade_clock.py), so `candle_close` fires
there and its market orders fill at the last trade before it, not minutes later at the next trade.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from rulebot.backtest.result import BacktestResult
from rulebot.backtest.runner import BacktestConfig, run_backtest
from rulebot.core.enums import Market
from rulebot.core.events import Trade
from rulebot.engine import records as rec
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.feeds.replay import ReplaySource
from rulebot.rulebook.compiler import compile_text
from tests.backtest.test_fast_path import both

T0 = 1_735_603_200_000  # 2024-12-31 00:00 UTC
HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"
# (second, price): a quiet symbol, no trade from 00:00:50 to 00:03:05.
TRADES = [(5, "100.0"), (50, "101.0"), (185, "99.0"), (190, "99.5"), (250, "98.0")]

BOOK = """
rulebook: quiet
market: usdm
symbols: [BTCUSDT]
account: {margin: isolated, leverage: 2}
timeframes: [1m]
states:
  flat: {position: none}
  long: {position: long}
rules:
  - name: minute
    on: candle_close 1m
    when: "close@1m > 0"
    do: [{log: "c={close@1m}"}]
  - name: buy
    on: candle_close 1m
    in: flat
    when: "close@1m > 0"
    do: [{enter: {side: long, size: '10%'}}, {stop_loss: {distance: 20%}}, {goto: long}]
"""


def _run(events_of: Callable[[], object]) -> Callable[[str, Callable[[object], None]], BacktestResult]:
    book = compile_text(BOOK, "quiet.yaml")
    instruments, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)

    def run(path: str, record: Callable[[object], None]) -> BacktestResult:
        return run_backtest(book, events_of(), instruments, brackets, BacktestConfig(path=path), on_record=record)  # type: ignore[arg-type]

    return run


def _seen(run: Callable[[str, Callable[[object], None]], BacktestResult]) -> tuple[list[object], BacktestResult]:
    records: list[object] = []
    result = run("auto", records.append)
    return records, result


def _check(records: list[object], result: BacktestResult) -> None:
    fired = [(r.time - T0, r.inputs["close@1m"]) for r in records if isinstance(r, rec.Decision) and r.fired]
    # Each minute closes at its end (00:01:00, 00:02:00, 00:03:00: the stamp of a mark price at the end,
    # live), on its own values; the minute of 00:03 at 00:04:00 too (the next trade is 00:04:10's).
    assert fired == [
        (60_000, 101.0),
        (60_000, 101.0),
        (120_000, 101.0),
        (180_000, 101.0),
        (240_000, 99.5),
    ]
    # The entry fills at 00:01:00 at the last trade before it (00:00:50, 101), not at 00:03:05's 99.
    assert [(f.time - T0, f.price, f.purpose) for f in result.fills][:1] == [(60_000, Decimal("101.0"), "entry")]


def test_a_quiet_symbols_minutes_close_at_their_end_on_both_paths_over_a_trades_file() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "BTCUSDT-aggTrades-2024-12-31.csv"
        rows = [f"{i},{p},0.5,{i},{i},{T0 + s * 1000},false\n" for i, (s, p) in enumerate(TRADES, 1)]
        path.write_text(HEADER + "".join(rows))

        def source() -> ReplaySource:
            src = ReplaySource([path])
            src.trade_runs = True  # the event path walks the runs' every trade
            return src

        event, _fast = both(_run(source), "auto")
        records: list[object] = []
        _run(source)("event", records.append)
        _check(records, event)


def test_a_list_of_trades_closes_the_same_minutes() -> None:
    def events() -> list[Trade]:
        return [
            Trade("BTCUSDT", Decimal(p), Decimal("0.5"), T0 + s * 1000, False, i) for i, (s, p) in enumerate(TRADES)
        ]

    _check(*_seen(_run(events)))


def test_a_trade_at_the_end_closes_its_minute_itself() -> None:
    # A trade stamped exactly at 00:01:00 closes the minute as before (its price is known then): the
    # entry fills at it. Nothing closes at a later end before a trade.
    def events() -> list[Trade]:
        return [
            Trade("BTCUSDT", Decimal(p), Decimal("0.5"), T0 + s * 1000, False, i)
            for i, (s, p) in enumerate([(5, "100"), (60, "102"), (61, "103")])
        ]

    records, result = _seen(_run(events))
    assert [(r.time - T0) for r in records if isinstance(r, rec.Decision) and r.fired] == [60_000, 60_000]
    assert [(f.time - T0, f.price) for f in result.fills][:1] == [(60_000, Decimal("102"))]


def test_after_a_hole_in_the_data_the_minutes_close_at_the_next_trade_as_before() -> None:
    # Two hours with no event is a hole in the data (the summary's data gaps), not a quiet market: its
    # minutes are not carried one by one; the trade after it closes them at once and the entry fills at it.
    def events() -> list[Trade]:
        return [
            Trade("BTCUSDT", Decimal(p), Decimal("0.5"), T0 + s * 1000, False, i)
            for i, (s, p) in enumerate([(5, "100"), (50, "101"), (7250, "103")])
        ]

    records, result = _seen(_run(events))
    fired = [r.time - T0 for r in records if isinstance(r, rec.Decision) and r.fired]
    assert fired[:2] == [7_250_000, 7_250_000] and len(fired) == 2 + 119  # 00:00 logs, enters; 00:01..01:59 log
    assert [(f.time - T0, f.price) for f in result.fills][:1] == [(7_250_000, Decimal("103"))]
