"""Statistics of the last n values: stdev, zscore, bbands, highest and lowest.

Warm-up: all five are ready on exactly the n-th value. stdev is the population standard
deviation (divides by n), as TradingView's `ta.stdev` and Bollinger's bands use it.
"""

from __future__ import annotations

import math
from collections import deque

from rulebot.core.indicators_base import Indicator, RollingMoments


class Stdev(Indicator):
    """Population standard deviation of the last n values."""

    __slots__ = ("_moments",)

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self._moments = RollingMoments(n)

    def update(self, x: float) -> None:
        m = self._moments
        m.push(x)
        if not self.ready:
            if len(m.window) < self.warmup:
                return
            self.ready = True
        self.value = math.sqrt(m.variance)


class Zscore(Indicator):
    """(x - mean) / stdev over the last n values (x included); 0 when the window is flat.

    A flat window has x equal to its mean, so "no deviation" (0) is the honest reading of 0/0.
    """

    __slots__ = ("_moments",)

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self._moments = RollingMoments(n)

    def update(self, x: float) -> None:
        m = self._moments
        m.push(x)
        if not self.ready:
            if len(m.window) < self.warmup:
                return
            self.ready = True
        sd = math.sqrt(m.variance)
        self.value = m.deviation(x) / sd if sd > 0.0 else 0.0


class Bbands(Indicator):
    """Bollinger bands: mid = sma(n), upper/lower = mid ± k · stdev(n). `value` is upper."""

    __slots__ = ("_k", "_moments", "lower", "mid", "upper")

    def __init__(self, n: int, k: float) -> None:
        super().__init__(n)
        self._k = k
        self._moments = RollingMoments(n)
        self.upper = math.nan
        self.mid = math.nan
        self.lower = math.nan

    def update(self, x: float) -> None:
        m = self._moments
        m.push(x)
        if not self.ready:
            if len(m.window) < self.warmup:
                return
            self.ready = True
        mid = m.mean
        width = self._k * math.sqrt(m.variance)
        self.mid = mid
        self.value = self.upper = mid + width
        self.lower = mid - width


class Highest(Indicator):
    """Largest of the last n values.

    A monotonic deque of (index, value) with values strictly decreasing from the front: a new
    value evicts every smaller-or-equal one behind it (they can never be the maximum again),
    and the front leaves once it is older than n. Each value enters and leaves once: O(1)
    amortised, at most n entries.
    """

    __slots__ = ("_count", "_deque")

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self._deque: deque[tuple[int, float]] = deque()
        self._count = 0

    def update(self, x: float) -> None:
        d = self._deque
        while d and d[-1][1] <= x:
            d.pop()
        i = self._count
        d.append((i, x))
        self._count = i + 1
        if d[0][0] <= i - self.warmup:
            d.popleft()
        if not self.ready:
            if self._count < self.warmup:
                return
            self.ready = True
        self.value = d[0][1]


class Lowest(Indicator):
    """Smallest of the last n values (the mirror of Highest)."""

    __slots__ = ("_count", "_deque")

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self._deque: deque[tuple[int, float]] = deque()
        self._count = 0

    def update(self, x: float) -> None:
        d = self._deque
        while d and d[-1][1] >= x:
            d.pop()
        i = self._count
        d.append((i, x))
        self._count = i + 1
        if d[0][0] <= i - self.warmup:
            d.popleft()
        if not self.ready:
            if self._count < self.warmup:
                return
            self.ready = True
        self.value = d[0][1]
