"""The contract every incremental indicator keeps with the engine, and the rolling-window state
that several of them share.

An indicator takes one input at a time (`update(x)` for a series, `update_candle(...)` for a
candle), costs O(1) amortised per input, and exposes `value` (`math.nan` until `ready`),
`ready` and `warmup`. `ready` turns True on exactly the `warmup`-th input (the session vwap: on
the first candle that opens a UTC day) and never turns back.
"""

from __future__ import annotations

import math
from collections import deque

DAY_MS = 86_400_000


class Indicator:
    """Base of every indicator: `value`, `ready`, `warmup`, and the two update entry points.

    A series indicator overrides `update`; a candle indicator overrides `update_candle`. The
    other entry point raises TypeError, so the engine, which knows the spec's `input` kind, gets
    a loud error instead of a silently stale value if it ever calls the wrong one.
    Inputs must be finite: a NaN fed in poisons the exponential averages for good.
    """

    __slots__ = ("ready", "value", "warmup")

    def __init__(self, warmup: int) -> None:
        self.value: float = math.nan
        self.ready: bool = False
        self.warmup: int = warmup

    def update(self, x: float) -> None:
        """Feed the next value of the input series."""
        raise TypeError(
            f"{type(self).__name__.lower()} reads whole candles: call "
            "update_candle(open_time, high, low, close, volume)"
        )

    def update_candle(self, open_time: int, high: float, low: float, close: float, volume: float) -> None:
        """Feed the next closed candle (open_time in ms UTC)."""
        raise TypeError(f"{type(self).__name__.lower()} reads a series: call update(x)")

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(value={self.value!r}, ready={self.ready}, warmup={self.warmup})"


class RollingSum:
    """Sum of the last n values, O(1) amortised per push.

    A running sum that adds the new value and subtracts the old one keeps the rounding error of
    every value that ever passed through it; after a spike leaves the window the error can
    dwarf what is left (think sma over returns or a MACD histogram). Re-summing the window with
    `math.fsum` every n removals bounds the error by the last 2n values, for O(1) amortised.
    """

    __slots__ = ("_removed", "n", "total", "window")

    def __init__(self, n: int) -> None:
        self.n = n
        self.total = 0.0
        self.window: deque[float] = deque()
        self._removed = 0

    def push(self, x: float) -> None:
        w = self.window
        w.append(x)
        if len(w) <= self.n:
            self.total += x
            return
        old = w.popleft()
        self._removed += 1
        if self._removed >= self.n:
            self.total = math.fsum(w)
            self._removed = 0
        else:
            self.total += x - old

    @property
    def full(self) -> bool:
        return len(self.window) == self.n


class RollingMoments:
    """Mean and population variance of the last n values, O(1) amortised per push.

    Welford's add/remove update keeps the sum of squared deviations (`m2`) relative to the
    current mean, so it does not suffer the catastrophic cancellation of sum(x²) - n·mean².
    It runs on values shifted by `shift`, a recent input: prices of 1e5 have an ulp of 1.5e-11,
    and removing a value d away from the mean costs about d·ulp(mean) of m2, which for a jumpy
    short window (n=2, d=60) is 1e-8 of the variance; shifted values near 0 have a tiny ulp, and
    x - shift is exact for values within a factor of two of each other (Sterbenz). Every n
    removals the window is summed again with `fsum` around a fresh shift, which bounds the slow
    drift add/remove accumulates and follows the price wherever it trends. A window of n equal
    values gets exactly mean = x and variance 0 (flat markets are common on quiet 1m candles),
    so z-scores and band widths there are exact instead of rounding noise over rounding noise.
    """

    __slots__ = ("_last", "_m2", "_mean", "_removed", "_run", "n", "shift", "window")

    def __init__(self, n: int) -> None:
        self.n = n
        self.window: deque[float] = deque()
        self.shift = 0.0  # set by the first value
        self._mean = 0.0  # mean of (x - shift) over the window
        self._m2 = 0.0  # sum of squared deviations from the mean
        self._removed = 0
        self._run = 0  # how many of the latest values are equal to the last one
        self._last = math.nan

    def push(self, x: float) -> None:
        n = self.n
        w = self.window
        if x == self._last:
            self._run += 1
        else:
            self._run = 1
            self._last = x
        if not w:
            self.shift = x
        w.append(x)
        xs = x - self.shift
        if len(w) <= n:
            d = xs - self._mean
            self._mean += d / len(w)
            self._m2 += d * (xs - self._mean)
        else:
            old = w.popleft() - self.shift
            self._removed += 1
            if self._removed >= n:
                self._resum()
            else:
                d = xs - old
                m0 = self._mean
                self._mean = m0 + d / n
                self._m2 += d * ((xs - self._mean) + (old - m0))
        if self._run >= n:
            self.shift = x
            self._mean = 0.0
            self._m2 = 0.0

    @property
    def mean(self) -> float:
        return self.shift + self._mean

    def deviation(self, x: float) -> float:
        """x - mean, computed around the shift so that it keeps its small digits."""
        return (x - self.shift) - self._mean

    @property
    def variance(self) -> float:
        """Population variance (divides by n) of the current window; never negative."""
        m2 = self._m2
        return m2 / len(self.window) if m2 > 0.0 else 0.0

    def _resum(self) -> None:
        w = self.window
        shift = self.shift = w[-1]
        mean = math.fsum([v - shift for v in w]) / len(w)
        self._mean = mean
        self._m2 = math.fsum([(v - shift - mean) ** 2 for v in w])
        self._removed = 0
