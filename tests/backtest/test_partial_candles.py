"""Data that starts inside a longer timeframe's bucket: that bucket's candle is not closed.

1m candles from 21:20 hold only 40 minutes of the 21:00 hour. Rolled up, they would make a 1h
candle whose open, high, low and volume are those of 21:20-21:59, and a `candle_close 1h` rule
and `ema(close@1h, ...)` would take it as the hour's. The first 1h candle of such data is skipped,
on both paths, and the summary says so once: the run decides on 1h exactly as one from 22:00.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rulebot.backtest.result import BacktestResult
from rulebot.core.events import CandleClosed
from rulebot.engine import records as rec
from tests.backtest.test_candle_runs import jumped, runner
from tests.backtest.test_fast_path import T0, both, candles

HOUR = 3_600_000
BOOK = """
rulebook: partial
market: usdm
symbols: [BTCUSDT]
account: {margin: isolated, leverage: 3}
timeframes: [1m, 1h]
indicators:
  e: ema(close@1h, 2)
  r: atr(1h, 2)
rules:
  - name: hourly
    on: candle_close 1h
    in: flat
    when: "open@1h > 0 and e > 0 and r > 0 and volume@1h > 0"
    do: [{log: "hour"}, {enter: {side: long, size: '10%'}}, {goto: long}]
  - name: out
    on: candle_close 1h
    in: long
    when: "close@1h > 0"
    do: [exit, {goto: flat}]
"""


def hourly(records: list[object]) -> list[tuple[int, str, bool, dict[str, Any]]]:
    """The decisions of the 1h rules: time, rule, fired, inputs."""
    return [
        (r.time, r.rule, r.fired, r.inputs)
        for r in records
        if isinstance(r, rec.Decision) and r.rule in ("hourly", "out")
    ]


def run(data: list[CandleClosed], path: str = "event") -> tuple[BacktestResult, list[object]]:
    records: list[object] = []
    go: Callable[[str, Callable[[object], None]], BacktestResult] = runner(BOOK, data)
    return go(path, records.append), records


def test_data_starting_mid_hour_does_not_close_its_partial_first_hour() -> None:
    bars = candles(11, 20 + 6 * 60, 0.002, 0.0)
    assert bars[0].open_time == T0  # 21:00: the first of the 1m candles is on the hour
    partial, rec_partial = run(bars[20:])  # from 21:20
    whole, rec_whole = run(bars[60:])  # from 22:00
    got, want = hourly(rec_partial), hourly(rec_whole)
    # ema(close@1h, 2) is ready with the 23:00 candle, the second whole one: the first 1h decision.
    assert want and want[0][0] == T0 + 3 * HOUR - 1
    # The 21:00 hour (21:20-21:59 only) did not count as one, and every decision is the whole run's.
    assert got == want
    logged = [r.time for r in rec_partial if isinstance(r, rec.LogLine)]
    assert logged and logged[0] == T0 + 3 * HOUR - 1
    assert all(f.time >= T0 + 3 * HOUR - 1 for f in partial.fills)
    assert [f for f in partial.fills] == [f for f in whole.fills]
    notes = [n for n in partial.notes if "partial" in n]
    assert notes == [
        "BTCUSDT 1h: the first candle was partial (the data starts at 2024-12-31 21:20, inside its bucket "
        "from 2024-12-31 21:00) and is skipped: no rule closes on it and no indicator takes it"
    ]
    assert not [n for n in whole.notes if "partial" in n]


def test_both_paths_skip_the_partial_first_hour_alike() -> None:
    bars = candles(5, 37 + 8 * 60, 0.002, 0.0)[37:]  # from 21:37
    event, auto = both(runner(BOOK, bars), "auto")
    assert any("partial" in n for n in auto.notes) and auto.notes == event.notes
    assert jumped(auto) > 0  # the comparison means something: runs of candles were jumped
    assert event.fills and all(f.time >= T0 + 3 * HOUR - 1 for f in event.fills)


def test_data_on_the_hour_is_unchanged() -> None:
    bars = candles(11, 6 * 60, 0.002, 0.0)
    result, records = run(bars)
    assert hourly(records)[0][0] == T0 + 2 * HOUR - 1  # the 21:00 candle is whole: it counts
    assert not [n for n in result.notes if "partial" in n]
