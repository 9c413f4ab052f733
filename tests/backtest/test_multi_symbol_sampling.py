"""A sample of a multi-symbol backtest sees every event of its time (issue 33).

Two symbols' candles close at the same instant and come one after the other. A sample taken
after the first of them saw BTCUSDT at T and ETHUSDT still at T - 1m: ETHUSDT's own curve lagged
one sample, and the account's "any position" exposure saw two positions held over the very same
minutes as two disjoint spells (12.23% for two symbols each holding 6.12% of the time). Here a
rulebook enters and leaves both symbols on the same candles over a day of the shared real data;
the holding time is read from the fills, independently of any sample.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal as D
from pathlib import Path

from rulebot.backtest.api import backtest
from rulebot.backtest.result import BacktestResult, FillRecord
from rulebot.backtest.runner import BacktestConfig
from rulebot.backtest.stats import compute_stats, compute_symbol_stats
from rulebot.core.events import CandleClosed
from rulebot.feeds.replay import ReplaySource
from rulebot.testing.shared import ARCHIVE, require

KLINES = ARCHIVE / "futures" / "um" / "daily" / "klines"
SYMBOLS = ("BTCUSDT", "ETHUSDT")
START = 1_749_340_800_000  # 2025-06-08 00:00 UTC: a day both symbols have 1m candles for
END = START + 86_400_000

# Long on both from 02:00 to 04:00 UTC: both enter on the same candle and leave on the same candle.
BOTH = """
rulebook: both-at-once
description: enters BTCUSDT and ETHUSDT on the same candle and leaves both on the same candle
market: usdm
symbols: [BTCUSDT, ETHUSDT]
account:
  leverage: 2
timeframes: [1m]
rules:
  - name: go
    on: candle_close 1m
    in: flat
    when: hour >= 2 and hour < 4
    do:
      - enter: {side: long, size: "1000 USDT"}
      - stop_loss: {price: "entry_price * 0.5"}
      - goto: long
  - name: leave
    on: candle_close 1m
    in: long
    when: hour >= 4
    do:
      - exit
      - cancel: all
      - goto: flat
"""


def run(tmp_path: Path) -> BacktestResult:
    book = tmp_path / "both.yaml"
    book.write_text(BOTH)
    data = [str(require(KLINES / s / "1m")) for s in SYMBOLS]
    # Every sample kept in the charts' series too, to compare them sample by sample.
    config = BacktestConfig(path="event", chart_buckets=10_000)
    result, _, _ = backtest(str(book), data, start=START, end=END, config=config)
    return result


def held_spells(fills: Iterable[FillRecord]) -> list[tuple[int, int]]:
    """The [from, to) spells in which the position the fills build is not 0."""
    spells, amount, since = [], D(0), 0
    for f in fills:
        before = amount
        amount += f.quantity if f.side == "BUY" else -f.quantity
        if before == 0 and amount != 0:
            since = f.time
        elif before != 0 and amount == 0:
            spells.append((since, f.time))
    assert amount == 0, "the rulebook leaves every position before the end"
    return spells


def union_ms(spells: Iterable[tuple[int, int]]) -> int:
    total, reach = 0, None
    for start, end in sorted(spells):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def test_the_account_holds_for_the_union_of_the_symbols_holding_time(tmp_path: Path) -> None:
    result = run(tmp_path)
    spells = {s: held_spells(f for f in result.fills if f.symbol == s) for s in SYMBOLS}
    assert spells["BTCUSDT"] and spells["BTCUSDT"] == spells["ETHUSDT"], "both symbols hold over the same minutes"
    tally = result.tally
    assert tally is not None
    for s in SYMBOLS:
        assert tally.symbols[s].exposure.held_ms == union_ms(spells[s]), s
    assert tally.exposure.held_ms == union_ms(spells["BTCUSDT"] + spells["ETHUSDT"])
    # The shares the summary prints: each symbol's and the account's are the same number.
    account = compute_stats(result).exposure
    assert account is not None and account > 0
    assert [compute_symbol_stats(result, s).exposure for s in SYMBOLS] == [account, account]


def test_each_sample_shows_every_symbols_candle_of_its_time(tmp_path: Path) -> None:
    result = run(tmp_path)
    data = [str(require(KLINES / s / "1m")) for s in SYMBOLS]
    closes = {
        (e.symbol, e.time): e.close
        for e in ReplaySource(data, START, END, symbols=set(SYMBOLS))
        if isinstance(e, CandleClosed)
    }
    assert result.samples == len(result.equity_curve) > 1000  # every sample kept
    for s in SYMBOLS:
        curve = result.symbol_curves[s]
        assert [p.time for p in curve] == [p.time for p in result.equity_curve]
        for p in curve:
            assert p.price == closes[(s, p.time)], f"{s}'s sample at {p.time} is not its candle of that time"
