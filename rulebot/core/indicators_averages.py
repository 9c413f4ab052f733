"""Moving averages of a series: sma, ema, rma (Wilder) and wma, each O(1) per update.

Warm-up: all four are ready on exactly the n-th value. ema and rma are seeded with the simple
average of their first n values (TradingView's `ta.rma` seed; `ta.ema` seeds with the first
value instead, which only differs during the first few multiples of n bars), so an ema is
never shown from a seed that is a single price.
"""

from __future__ import annotations

import math
from collections import deque

from rulebot.core.indicators_base import Indicator, RollingSum


class Sma(Indicator):
    """Simple moving average: the mean of the last n values."""

    __slots__ = ("_n", "_sum")

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self._n = n
        self._sum = RollingSum(n)

    def update(self, x: float) -> None:
        s = self._sum
        s.push(x)
        if self.ready:
            self.value = s.total / self._n
        elif len(s.window) == self._n:
            self.ready = True
            self.value = s.total / self._n


class _Exponential(Indicator):
    """value += alpha · (x - value), seeded with the mean of the first n values."""

    __slots__ = ("_alpha", "_count", "_n", "_seed")

    def __init__(self, n: int, alpha: float) -> None:
        super().__init__(n)
        self._n = n
        self._alpha = alpha
        self._count = 0
        self._seed = 0.0

    def update(self, x: float) -> None:
        if self.ready:
            self.value += self._alpha * (x - self.value)
            return
        self._count += 1
        self._seed += x
        if self._count == self._n:
            self.value = self._seed / self._n
            self.ready = True


class Ema(_Exponential):
    """Exponential moving average, alpha = 2 / (n + 1)."""

    __slots__ = ()

    def __init__(self, n: int) -> None:
        super().__init__(n, 2.0 / (n + 1))


class Rma(_Exponential):
    """Wilder's moving average (RMA / SMMA), alpha = 1 / n."""

    __slots__ = ()

    def __init__(self, n: int) -> None:
        super().__init__(n, 1.0 / n)


class Wma(Indicator):
    """Linearly weighted moving average: weights 1 (oldest) … n (newest), divided by n(n+1)/2.

    Sliding the window by one lowers every kept weight by one, so the weighted sum becomes
    W - S + n·x with S the plain sum of the old window: O(1) per value. Both sums are
    recomputed from the window every n removals, for the same drift reason as RollingSum.
    """

    __slots__ = ("_denominator", "_n", "_removed", "_sum", "_weighted", "_window")

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self._n = n
        self._denominator = n * (n + 1) / 2.0
        self._window: deque[float] = deque()
        self._sum = 0.0
        self._weighted = 0.0
        self._removed = 0

    def update(self, x: float) -> None:
        w = self._window
        n = self._n
        if len(w) < n:
            w.append(x)
            self._weighted += len(w) * x
            self._sum += x
            if len(w) < n:
                return
            self.ready = True
        else:
            old = w.popleft()
            w.append(x)
            self._removed += 1
            if self._removed >= n:
                self._sum = math.fsum(w)
                self._weighted = math.fsum([i * v for i, v in enumerate(w, 1)])
                self._removed = 0
            else:
                self._weighted += n * x - self._sum
                self._sum += x - old
        self.value = self._weighted / self._denominator
