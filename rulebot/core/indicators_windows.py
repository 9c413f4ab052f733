"""Statistics of the last n values: stdev, zscore, bbands, highest and lowest.

Warm-up: all five are ready on exactly the n-th value. stdev is the population standard
deviation (divides by n), as TradingView's `ta.stdev` and Bollinger's bands use it.
"""

from __future__ import annotations

import math
import operator
from collections import deque
from collections.abc import Callable

from rulebot.core.indicators_base import Indicator, RollingMoments


class _Windowed(Indicator):
    """Mean and variance of the last n values, ready on the n-th."""

    __slots__ = ("_moments",)

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self._moments = RollingMoments(n)

    def _push(self, x: float) -> bool:
        """Take `x`; True once the window is full."""
        m = self._moments
        m.push(x)
        if not self.ready:
            if len(m.window) < self.warmup:
                return False
            self.ready = True
        return True


class Stdev(_Windowed):
    """Population standard deviation of the last n values."""

    __slots__ = ()

    def update(self, x: float) -> None:
        if self._push(x):
            self.value = math.sqrt(self._moments.variance)


class Zscore(_Windowed):
    """(x - mean) / stdev over the last n values (x included); 0 when the window is flat.

    A flat window has x equal to its mean, so "no deviation" (0) is the honest reading of 0/0.
    """

    __slots__ = ()

    def update(self, x: float) -> None:
        if self._push(x):
            m = self._moments
            sd = math.sqrt(m.variance)
            self.value = m.deviation(x) / sd if sd > 0.0 else 0.0


class Bbands(_Windowed):
    """Bollinger bands: mid = sma(n), upper/lower = mid ± k · stdev(n). `value` is upper."""

    __slots__ = ("_k", "lower", "mid", "upper")

    def __init__(self, n: int, k: float) -> None:
        super().__init__(n)
        self._k = k
        self.upper = math.nan
        self.mid = math.nan
        self.lower = math.nan

    def update(self, x: float) -> None:
        if self._push(x):
            m = self._moments
            mid = m.mean
            width = self._k * math.sqrt(m.variance)
            self.mid = mid
            self.value = self.upper = mid + width
            self.lower = mid - width


class _Extreme(Indicator):
    """The largest (or smallest) of the last n values.

    A monotonic deque of (index, value), best at the front: a new value evicts every value
    behind it that it beats or equals (they can never be the extreme again), and the front
    leaves once it is older than n. Each value enters and leaves once: O(1) amortised, at
    most n entries.
    """

    __slots__ = ("_count", "_deque", "_evicts")

    def __init__(self, n: int, evicts: Callable[[float, float], bool]) -> None:
        super().__init__(n)
        self._deque: deque[tuple[int, float]] = deque()
        self._count = 0
        self._evicts = evicts  # evicts(older, new): the older value can no longer be the extreme

    def update(self, x: float) -> None:
        d = self._deque
        evicts = self._evicts
        while d and evicts(d[-1][1], x):
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


class Highest(_Extreme):
    """Largest of the last n values."""

    __slots__ = ()

    def __init__(self, n: int) -> None:
        super().__init__(n, operator.le)


class Lowest(_Extreme):
    """Smallest of the last n values."""

    __slots__ = ()

    def __init__(self, n: int) -> None:
        super().__init__(n, operator.ge)
