"""The closed candles a market keeps per timeframe (for a hot reload's re-warm and `status`), made
only when read.

The candle array path (backtest/candle_runs.py) jumps runs of candles; stepping them would append
one `Candle` each to the history, nearly all of which a later candle pushes out unread (a backtest
never reads it). A run is kept here as its block's columns and range instead, and the candles are
made, exactly as stepping would have made them, when the history is read: the deque a timeframe
maps to is then the very deque stepping would have left (the same candles in the same order, the
oldest pushed out by `maxlen`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import ItemsView, Iterable, ValuesView
from typing import TYPE_CHECKING, Any, Protocol

from rulebot.core.events import CandleClosed
from rulebot.engine.candles import Candle
from rulebot.engine.env import MARKET_NAMES
from rulebot.engine.signals import IndicatorRuntime

if TYPE_CHECKING:
    from rulebot.engine.market import SymbolMarket


class CandleColumns(Protocol):
    """A block of candles as lists (backtest/candle_series.Block): candle j of each list."""

    open_time: list[int]
    close_time_list: list[int]
    open: list[float]
    high_list: list[float]
    low_list: list[float]
    close: list[float]
    volume: list[float]


class _Run:
    """Candles [start, stop) of a block, not made yet."""

    __slots__ = ("block", "start", "stop")

    def __init__(self, block: CandleColumns, start: int, stop: int) -> None:
        self.block, self.start, self.stop = block, start, stop

    def candles(self, timeframe: str, skip: int) -> Iterable[Candle]:
        """The run's candles but its first `skip`, as stepping them makes them (SymbolMarket._publish)."""
        b, start, stop = self.block, self.start + skip, self.stop
        return map(
            Candle,
            [timeframe] * (stop - start),
            b.open_time[start:stop],
            b.close_time_list[start:stop],
            b.open[start:stop],
            b.high_list[start:stop],
            b.low_list[start:stop],
            b.close[start:stop],
            b.volume[start:stop],
        )


class CandleHistory(dict[str, deque[Candle]]):
    """timeframe -> its last `maxlen` closed candles, oldest first. Reading it (an item, `get`,
    `items`, `values`) makes what is pending first; `add` and `add_run` only note what comes."""

    def __init__(self, timeframes: Iterable[str], maxlen: int) -> None:
        super().__init__({tf: deque(maxlen=maxlen) for tf in timeframes})
        self.maxlen = maxlen
        # Per timeframe, what came since the deque was last brought up to date, oldest first, and
        # how many candles that is. Only what `maxlen` newer candles do not push out is kept.
        self._pending: dict[str, deque[Candle | _Run]] = {}
        self._counts: dict[str, int] = {}

    def add(self, timeframe: str, candle: Candle) -> None:
        """A candle closed (stepped): appended, or queued behind runs not made yet."""
        pending = self._pending.get(timeframe)
        if pending is None:
            dict.__getitem__(self, timeframe).append(candle)
        else:
            pending.append(candle)
            self._grow(timeframe, pending, 1)

    def add_run(self, timeframe: str, block: CandleColumns, start: int, stop: int) -> None:
        """Candles [start, stop) of `block` closed (a jumped run): queued, not made."""
        if stop <= start:
            return
        pending = self._pending.get(timeframe)
        if pending is None:
            pending = self._pending[timeframe] = deque()
            self._counts[timeframe] = 0
        pending.append(_Run(block, start, stop))
        self._grow(timeframe, pending, stop - start)

    def _grow(self, timeframe: str, pending: deque[Candle | _Run], n: int) -> None:
        count = self._counts[timeframe] + n
        # Drop the oldest items that `maxlen` newer candles push out anyway (memory stays bounded).
        while True:
            first = pending[0]
            size = first.stop - first.start if isinstance(first, _Run) else 1
            if count - size < self.maxlen:
                break
            pending.popleft()
            count -= size
        self._counts[timeframe] = count

    def _make(self, timeframe: str) -> None:
        pending = self._pending.pop(timeframe, None)
        if pending is None:
            return
        count = self._counts.pop(timeframe)
        kept = dict.__getitem__(self, timeframe)
        skip = max(count - self.maxlen, 0)  # candles `maxlen` newer ones push out: never made
        for item in pending:
            if isinstance(item, _Run):
                size = item.stop - item.start
                if skip >= size:
                    skip -= size
                    continue
                kept.extend(item.candles(timeframe, skip))
                skip = 0
            elif skip:
                skip -= 1
            else:
                kept.append(item)

    def _make_all(self) -> None:
        for timeframe in list(self._pending):
            self._make(timeframe)

    def __getitem__(self, timeframe: str) -> deque[Candle]:
        if self._pending:
            self._make(timeframe)
        return dict.__getitem__(self, timeframe)

    def get(self, timeframe: str, default: Any = None) -> Any:
        if self._pending:
            self._make(timeframe)
        return dict.get(self, timeframe, default)

    def items(self) -> ItemsView[str, deque[Candle]]:  # type: ignore[override]
        self._make_all()
        return dict.items(self)

    def values(self) -> ValuesView[deque[Candle]]:  # type: ignore[override]
        self._make_all()
        return dict.values(self)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (and deep-copied) as the candles it holds, all made: no block goes along."""
        return _rebuild, (self.maxlen, {tf: list(candles) for tf, candles in self.items()})

    def __setitem__(self, timeframe: str, candles: deque[Candle]) -> None:
        """Another market's history taken over (a hot reload): what was pending here is dropped."""
        self._pending.pop(timeframe, None)
        self._counts.pop(timeframe, None)
        dict.__setitem__(self, timeframe, candles)


def _rebuild(maxlen: int, kept: dict[str, list[Candle]]) -> CandleHistory:
    history = CandleHistory(kept, maxlen)
    for timeframe, candles in kept.items():
        dict.__getitem__(history, timeframe).extend(candles)
    return history


def rewarm(market: SymbolMarket) -> None:
    """A reloaded market's indicators (SymbolMarket.carry_from): the kept candles replayed, in time order,
    through fresh indicators on a scratch env."""
    scratch: dict[str, Any] = {}
    pending: set[str] = set()
    runtime = IndicatorRuntime(market.indicators.live_defs(), scratch, pending)
    candles = sorted(
        (c for h in market.history.values() for c in h), key=lambda c: (c.close_time, market._tf_ms.get(c.timeframe, 0))
    )
    prev: dict[str, float] = {}
    for c in candles:
        tf = c.timeframe
        k_open, k_high, k_low, k_close, k_volume, k_returns = market._keys[tf]
        scratch.update({k_open: c.open, k_high: c.high, k_low: c.low, k_close: c.close, k_volume: c.volume})
        p = prev.get(tf)
        scratch[k_returns] = c.close / p - 1.0 if p else math.nan
        prev[tf] = c.close
        runtime.on_candle(c)
    for lv in runtime.live:
        for key in lv.keys:
            market.env[key] = scratch.get(key, math.nan)
            if key in pending:
                market.not_ready.add(key)
            else:
                market.not_ready.discard(key)
    runtime.env, runtime.not_ready = market.env, market.not_ready
    market.indicators = runtime


def carry(market: SymbolMarket, old: SymbolMarket) -> None:
    """Take over a running market (SymbolMarket.carry_from): prices, candles being built, history; then
    warm the new market's indicators from that history (`rewarm`)."""
    market.last, market.mark = old.last, old.mark
    market.has_book, market.has_mark, market.has_trades = old.has_book, old.has_mark, old.has_trades
    market.last_data_time, market.price_candle_ms = old.last_data_time, old.price_candle_ms
    market.next_funding_time, market.funding_interval_ms = old.next_funding_time, old.funding_interval_ms
    market._book_from = old._book_from
    for name in MARKET_NAMES:
        market.env[name] = old.env.get(name, math.nan)
        if name not in old.not_ready:
            market.not_ready.discard(name)
    for tf in market.timeframes:
        if tf in old.builders:
            market.builders[tf] = old.builders[tf]
            market.source[tf] = old.source[tf]
            market.history[tf] = old.history[tf]
            if tf in old.prev_close:
                market.prev_close[tf] = old.prev_close[tf]
            for key in market._keys[tf]:
                market.env[key] = old.env.get(key, math.nan)
                if key not in old.not_ready:
                    market.not_ready.discard(key)
    market.sourced = set(old.sourced)
    if market.has_trades:
        market._plan_trade_candles()
        market.next_close = market._next_end()
    rewarm(market)


def backfill(market: SymbolMarket, candles: Iterable[CandleClosed]) -> int:
    """Closed candles from before the oldest `market` keeps (REST klines, for a reload's indicator
    that needs more candles than the running rulebook's did): put in front of its history, and its
    indicators re-warmed from it all. A timeframe with no history yet takes them as a start's
    warm-up does (`SymbolMarket.warm`). Returns how many were taken."""
    by_tf: dict[str, list[CandleClosed]] = {}
    for c in candles:
        by_tf.setdefault(c.timeframe, []).append(c)
    taken, fresh = 0, []
    for tf, got in by_tf.items():
        if tf not in market.timeframes:
            continue
        kept = market.history[tf]
        if not kept:
            fresh.extend(got)
            continue
        room = max((kept.maxlen or 0) - len(kept), 0)
        older = [c for c in got if c.close_time < kept[0].open_time][::-1][:room]  # newest first
        kept.extendleft(
            Candle(c.timeframe, c.open_time, c.close_time, *map(float, (c.open, c.high, c.low, c.close, c.volume)))
            for c in older
        )
        taken += len(older)
    new = market.warm(fresh) if fresh else 0
    if taken:
        rewarm(market)
    return taken + new
