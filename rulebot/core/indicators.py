"""Incremental O(1) indicators and their registry, the one table the rulebook compiler checks
definitions against and the engine creates indicator objects from.

Floats, not Decimal: indicators feed conditions, never money. Every indicator but the session
vwap is ready on exactly `spec.warmup(*params)` inputs (values for a series indicator, candles
for a candle indicator); before that its `value` is NaN:

| indicator | ready on input number |
|---|---|
| sma, ema, rma, wma, stdev, zscore, highest, lowest, bbands (n) | n |
| rsi(n), roc(n) | n + 1 (both need the value before the first of n changes) |
| macd(fast, slow, signal) | max(fast, slow) + signal - 1 |
| atr(n) | n (the first candle's true range is high - low) |
| vwap(TF) / vwap(TF, 0) (session, resets 00:00 UTC) | the first candle that opens a UTC day |
| vwap(TF, n), n ≥ 1 (rolling) | n |
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from rulebot.core.indicators_averages import Ema, Rma, Sma, Wma
from rulebot.core.indicators_base import Indicator
from rulebot.core.indicators_candles import Atr, Vwap
from rulebot.core.indicators_momentum import Macd, Roc, Rsi
from rulebot.core.indicators_windows import Bbands, Highest, Lowest, Stdev, Zscore

__all__ = [
    "INDICATORS",
    "MAX_PERIOD",
    "Atr",
    "Bbands",
    "Ema",
    "Highest",
    "Indicator",
    "IndicatorSpec",
    "Lowest",
    "Macd",
    "ParamSpec",
    "Rma",
    "Roc",
    "Rsi",
    "Sma",
    "Stdev",
    "Vwap",
    "Wma",
    "Zscore",
]

# Bounds the memory of one window (a deque of floats) and, above all, the history a venue must
# replay before the indicator is ready: 10,000 1m candles is a week. Longer views belong on a
# longer timeframe (close@1d, not close@1m).
MAX_PERIOD = 10_000


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One numeric argument after an indicator's input."""

    name: str
    kind: Literal["int", "float"]
    default: float | None  # None = required
    minimum: float
    maximum: float | None

    def check(self, value: float, indicator: str) -> int | float:
        """The value as the indicator takes it (int for "int" params); ValueError if invalid."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{self.name} of {indicator} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{self.name} of {indicator} must be finite, got {value!r}")
        if self.kind == "int" and value != int(value):
            raise ValueError(f"{self.name} of {indicator} must be a whole number, got {value!r}")
        if value < self.minimum or (self.maximum is not None and value > self.maximum):
            bound = f"at least {self.minimum:g}"
            if self.maximum is not None:
                bound += f" and at most {self.maximum:g}"
            raise ValueError(f"{self.name} of {indicator} must be {bound}, got {value!r}")
        return int(value) if self.kind == "int" else float(value)


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """What the compiler needs to check a definition and the engine to build the indicator."""

    name: str
    input: Literal["series", "candles"]
    params: tuple[ParamSpec, ...]  # the arguments after the input
    outputs: tuple[str, ...]  # () when single-valued; else attribute names, value = the first
    description: str  # one line, for --explain and docs
    factory: Callable[..., Indicator] = field(repr=False, compare=False)
    ready_after: Callable[..., int] = field(repr=False, compare=False)

    def resolve(self, *params: float) -> tuple[int | float, ...]:
        """Checked parameters with defaults filled in; ValueError names the bad argument."""
        if len(params) > len(self.params):
            raise ValueError(
                f"{self.name} takes at most {len(self.params)} argument(s) after its input, got {len(params)}"
            )
        values: list[int | float] = []
        for i, spec in enumerate(self.params):
            if i < len(params):
                values.append(spec.check(params[i], self.name))
            elif spec.default is None:
                raise ValueError(f"{self.name} needs its {spec.name} argument")
            else:
                values.append(spec.check(spec.default, self.name))
        return tuple(values)

    def warmup(self, *params: float) -> int:
        """How many inputs (values or candles) until the indicator is ready."""
        return self.ready_after(*self.resolve(*params))

    def create(self, *params: float) -> Indicator:
        """A fresh indicator; ValueError if a parameter is missing or out of range."""
        return self.factory(*self.resolve(*params))


def _period(name: str = "n", default: float | None = None, minimum: float = 1.0) -> ParamSpec:
    return ParamSpec(name, "int", None if default is None else float(default), float(minimum), float(MAX_PERIOD))


def _same(n: int, *_: float) -> int:
    return n


def _one_more(n: int) -> int:
    return n + 1


def _macd_warmup(fast: int, slow: int, signal: int) -> int:
    return max(fast, slow) + signal - 1


def _vwap_warmup(n: int) -> int:
    return n if n > 0 else 1


_SPECS = (
    IndicatorSpec("sma", "series", (_period(),), (), "simple moving average of the last n values", Sma, _same),
    IndicatorSpec(
        "ema",
        "series",
        (_period(),),
        (),
        "exponential moving average, alpha 2/(n+1), seeded with the sma of the first n",
        Ema,
        _same,
    ),
    IndicatorSpec(
        "wma",
        "series",
        (_period(),),
        (),
        "linearly weighted moving average (newest weight n, oldest 1)",
        Wma,
        _same,
    ),
    IndicatorSpec(
        "rma",
        "series",
        (_period(),),
        (),
        "Wilder's moving average, alpha 1/n, seeded with the sma of the first n",
        Rma,
        _same,
    ),
    IndicatorSpec(
        "rsi",
        "series",
        (_period(default=14),),
        (),
        "relative strength index 0..100 with Wilder smoothing (ready after n+1 values)",
        Rsi,
        _one_more,
    ),
    IndicatorSpec(
        "atr",
        "candles",
        (_period(default=14),),
        (),
        "average true range of the timeframe's candles, Wilder smoothing",
        Atr,
        _same,
    ),
    IndicatorSpec(
        "stdev",
        "series",
        (_period(minimum=2),),
        (),
        "population standard deviation of the last n values (as ta.stdev)",
        Stdev,
        _same,
    ),
    IndicatorSpec(
        "zscore",
        "series",
        (_period(minimum=2),),
        (),
        "(x - mean) / stdev over the last n values; 0 when they are all equal",
        Zscore,
        _same,
    ),
    IndicatorSpec("highest", "series", (_period(),), (), "largest of the last n values", Highest, _same),
    IndicatorSpec("lowest", "series", (_period(),), (), "smallest of the last n values", Lowest, _same),
    IndicatorSpec(
        "vwap",
        "candles",
        (_period(default=0, minimum=0),),
        (),
        "volume-weighted typical price: n=0 per UTC day (resets 00:00), else last n candles",
        Vwap,
        _vwap_warmup,
    ),
    IndicatorSpec(
        "macd",
        "series",
        (_period("fast", 12), _period("slow", 26), _period("signal", 9)),
        ("line", "signal", "hist"),
        "ema(fast) - ema(slow) as .line, its ema(signal) as .signal, the gap as .hist",
        Macd,
        _macd_warmup,
    ),
    IndicatorSpec(
        "bbands",
        "series",
        (_period(default=20, minimum=2), ParamSpec("k", "float", 2.0, 0.0, 10.0)),
        ("upper", "mid", "lower"),
        "Bollinger bands: .mid = sma(n), .upper/.lower = mid +/- k population stdevs",
        Bbands,
        _same,
    ),
    IndicatorSpec(
        "roc",
        "series",
        (_period(),),
        (),
        "rate of change as a fraction, x / x[n] - 1 (compare with 2%, ready after n+1)",
        Roc,
        _one_more,
    ),
)

INDICATORS: Mapping[str, IndicatorSpec] = MappingProxyType({s.name: s for s in _SPECS})
