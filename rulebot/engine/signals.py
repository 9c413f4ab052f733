"""The compiled rulebook's indicators, live: fed by closed candles, read by conditions.

Indicators update in dependency order when a candle of their timeframe closes. Each value
is published into the symbol's env under the name conditions use (`ema_fast`, `macd.hist`),
so a condition reads a number the engine already has instead of computing anything.
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping
from typing import Any

from rulebot.core.indicators import INDICATORS, Indicator
from rulebot.engine.candles import Candle
from rulebot.rulebook.compiled import CandleInput, CompiledIndicator, IndicatorInput, SeriesInput


class _Live:
    __slots__ = (
        "compiled",
        "impl",
        "input_key",
        "is_candle",
        "keys",
        "name",
        "outputs",
        "pairs",
        "published",
        "timeframe",
        "upstream",
    )

    def __init__(self, compiled: CompiledIndicator) -> None:
        self.compiled = compiled
        self.impl: Indicator = INDICATORS[compiled.function].create(*compiled.params)
        self.outputs = compiled.outputs
        self.keys = [f"{compiled.name}.{o}" for o in compiled.outputs] if compiled.outputs else [compiled.name]
        self.is_candle = isinstance(compiled.input, CandleInput)
        self.timeframe = compiled.timeframe
        inp = compiled.input
        self.input_key = (
            f"{inp.field}@{inp.timeframe}"
            if isinstance(inp, SeriesInput)
            else inp.name
            if isinstance(inp, IndicatorInput)
            else ""
        )
        # The indicator whose update drives this one (`macd.hist` → `macd`).
        self.upstream = inp.name.split(".")[0] if isinstance(inp, IndicatorInput) else None
        self.name = compiled.name
        self.pairs = tuple(zip(self.keys, self.outputs, strict=True)) if self.outputs else ()
        self.published = False  # its keys were taken out of the not-ready set (ready indicators stay ready)


class IndicatorRuntime:
    """One symbol's indicator instances, in the compiler's dependency order."""

    def __init__(
        self, indicators: tuple[CompiledIndicator, ...], env: MutableMapping[str, Any], not_ready: set[str]
    ) -> None:
        self.env = env
        self.not_ready = not_ready
        self.live = [_Live(c) for c in indicators]
        # Which indicators a candle of each timeframe drives, in update order.
        self.by_timeframe: dict[str, list[_Live]] = {}
        for lv in self.live:
            self.by_timeframe.setdefault(lv.timeframe, []).append(lv)
            for key in lv.keys:
                env[key] = math.nan
                not_ready.add(key)

    def live_defs(self) -> tuple[CompiledIndicator, ...]:
        return tuple(lv.compiled for lv in self.live)

    def on_candle(self, candle: Candle) -> None:
        """Update every indicator this timeframe drives; the env already holds the series."""
        todo = self.by_timeframe.get(candle.timeframe)
        if not todo:
            return
        env = self.env
        updated: list[str] = []  # names updated by this candle (a few: a list is the cheaper set)
        for lv in todo:
            impl = lv.impl
            if lv.is_candle:
                impl.update_candle(candle.open_time, candle.high, candle.low, candle.close, candle.volume)
            else:
                if lv.upstream is not None and lv.upstream not in updated:
                    continue
                x = env.get(lv.input_key, math.nan)
                # NaN would poison exponential averages for good (returns before the second
                # candle, roc over a zero): skip the input rather than feed it.
                if x != x or x in (math.inf, -math.inf):
                    continue
                impl.update(x)
            updated.append(lv.name)
            if impl.ready:
                if lv.pairs:
                    for key, out in lv.pairs:
                        env[key] = getattr(impl, out)
                else:
                    env[lv.keys[0]] = impl.value
                if not lv.published:
                    self.not_ready.difference_update(lv.keys)
                    lv.published = True

    def warmup_candles(self) -> dict[str, int]:
        """How many candles of each timeframe the slowest indicator needs before it is ready."""
        need: dict[str, int] = {}
        for lv in self.live:
            need[lv.timeframe] = max(need.get(lv.timeframe, 0), lv.compiled.total_warmup)
        return need
