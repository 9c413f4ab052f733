"""What stepping a run of candles leaves behind, set at once for the candle array path (candle_runs.py).

Each function stands for one room's per-candle work, replayed for the candles [i, k) of a block that
the path showed quiet: the result is the state stepping them one by one leaves, to the bit
(tests/backtest/test_candle_runs.py compares deep snapshots of the two).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from rulebot.backtest.candle_meters import MeterState
from rulebot.backtest.candle_series import Block, Series
from rulebot.engine.candles import CandleBuilder
from rulebot.engine.engine import Engine
from rulebot.engine.market import SymbolMarket
from rulebot.engine.state import SymbolRun
from rulebot.feeds.kline_chunks import HIGH, LOW, OPEN
from rulebot.rulebook.expr import PREV_PREFIX

_FIELDS = ("open", "high", "low", "close", "volume", "returns")
DispatchKey = tuple[str, str | None]


def market_run(
    engine: Engine, market: SymbolMarket, src: str, b: Block, i: int, k: int, series: Series, publish: bool
) -> None:
    """Engine.on_event's clock and SymbolMarket.on_candle: the last price, the synthetic book and
    mark, the longer timeframes' candles being built, and (`publish`: `src` is a timeframe of the
    book) the candle's values, history and indicators."""
    last_time, close, price = b.close_time_list[k - 1], b.closes[k - 1], b.close[k - 1]
    env = market.env
    env.forget_account()  # Engine.on_event, on the first of them
    engine.state.time = last_time
    market.set_clock(last_time)
    market.last_data_time = last_time
    market.last = close
    env["price"] = price
    market._synthetic_book(close)
    market.mark = close
    env["mark_price"] = env["index_price"] = price
    for builder in market.builders.values():
        if builder.timeframe != src and market.source.get(builder.timeframe) == src:
            roll_up(builder, b, i, k)
    if publish:
        cols = series._window.cols
        j = k - 1 - i
        for name in _FIELDS:
            env[f"{name}@{src}"] = cols[f"{name}@{src}"][j]
        market.prev_close[src] = price
        market.history.add_run(src, b, i, k)  # its candles made only if the history is read
        series.catch_up(k - i)


def roll_up(builder: CandleBuilder, b: Block, i: int, k: int) -> None:
    """CandleBuilder.add_candle for candles [i, k), none of which closes or skips a bucket."""
    if builder._start is None:
        builder.start_bucket(b.open_time[i])
        builder._open, builder._high, builder._low = b.open[i], b.high_list[i], b.low_list[i]
        builder._volume = 0.0
    high, low = builder._high, builder._low
    for j in range(i, k):  # max/min in the same order: equal floats are equal, whichever is kept
        high = max(high, b.high_list[j])
        low = min(low, b.low_list[j])
    builder._high, builder._low = high, low
    builder._close = b.close[k - 1]
    volume = builder._volume
    for v in b.volume[i:k]:  # summed one after another, as add_candle does: the same float
        volume += v
    builder._volume = volume


def guards_run(engine: Engine, run: SymbolRun, symbol: str, close: Decimal, state: MeterState) -> None:
    """MarketEvents.on_candle after the market: the mark, the volatility meter, the throttle (`state`:
    as the run's last candle left them)."""
    engine.state.portfolio.set_mark(symbol, close)
    meter, memory = run.volatility, run.guard
    (meter._last_time, meter._last_price, meter.short, meter.base, meter.samples, meter._alphas, check) = state
    memory.last_margin_check = check


def dispatch_run(
    engine: Engine,
    run: SymbolRun,
    keys: Sequence[DispatchKey],
    prev: Mapping[DispatchKey, tuple[str, ...]],
    cols: Mapping[str, Any],
    j: int,
) -> None:
    """RuleDispatch.dispatch of each key at the run's last candle (index j of `cols`), no rule firing:
    the state, and the prev values (env's prev slots, each key's snapshot) the next candle compares."""
    env = run.market.env
    dispatch = engine.book.dispatch
    for key in keys:
        if dispatch.get((key, run.state)):
            env["state"] = run.state
        names = prev.get(key, ())
        if not names:
            continue
        snapshot = run.prev.get(key)
        if snapshot is None:
            snapshot = run.prev[key] = {}
        for name in names:
            col = cols.get(name)
            if col is None:  # constant over the run: the env holds it
                now = env.get(name, math.nan)
                before = now if j > 0 else snapshot.get(name, now)
            else:
                now = float(col[j])
                before = float(col[j - 1]) if j > 0 else snapshot.get(name, now)
            env[PREV_PREFIX + name] = before
            snapshot[name] = now


def walk_mark(b: Block, i: int, k: int, mark: Decimal | None) -> Decimal | None:
    """The close of the last candle of [i, k) whose walk moved the venue's walk mark (None: none
    did), `mark` the walk mark before candle i (PaperVenue.walk_quietly without a trailing stop).
    A candle's open, high and low are made only for a candle that closed where the one before did."""
    closes, d = b.closes, b.decimal
    for j in range(k - 1, i - 1, -1):
        close = closes[j]
        before = closes[j - 1] if j > i else mark
        if not (close == before and d(OPEN, j) == before and d(HIGH, j) == before and d(LOW, j) == before):
            return close
    return None
