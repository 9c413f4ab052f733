"""Momentum of a series: rsi (Wilder), macd (line, signal, hist) and roc (as a fraction).

Warm-up: rsi(n) is ready on the (n+1)-th price (n changes are needed to seed its averages);
macd(fast, slow, signal) on the (max(fast, slow) + signal - 1)-th value (the line exists from
the max(fast, slow)-th value, then the signal ema needs `signal` lines); roc(n) on the
(n+1)-th value (it compares x with the value n steps before).
"""

from __future__ import annotations

import math
from collections import deque

from rulebot.core.indicators_averages import Ema
from rulebot.core.indicators_base import Indicator


def _rsi(gain: float, loss: float) -> float:
    # TradingView's ta.rsi convention: no losses → 100 (also when flat), no gains → 0.
    if loss == 0.0:
        return 100.0
    if gain == 0.0:
        return 0.0
    return 100.0 - 100.0 / (1.0 + gain / loss)


class Rsi(Indicator):
    """Relative strength index on a 0…100 scale, Wilder smoothing (alpha 1/n, SMA seed)."""

    __slots__ = ("_count", "_gain", "_loss", "_n", "_prev")

    def __init__(self, n: int) -> None:
        super().__init__(n + 1)
        self._n = n
        self._prev: float | None = None
        self._count = 0
        self._gain = 0.0
        self._loss = 0.0

    def update(self, x: float) -> None:
        prev = self._prev
        self._prev = x
        if prev is None:
            return
        change = x - prev
        gain = change if change > 0.0 else 0.0
        loss = -change if change < 0.0 else 0.0
        if self.ready:
            self._gain += (gain - self._gain) / self._n
            self._loss += (loss - self._loss) / self._n
        else:
            # During the warm-up the two fields hold sums; the n-th change turns them into means.
            self._count += 1
            self._gain += gain
            self._loss += loss
            if self._count < self._n:
                return
            self._gain /= self._n
            self._loss /= self._n
            self.ready = True
        self.value = _rsi(self._gain, self._loss)


class Macd(Indicator):
    """MACD: line = ema(fast) - ema(slow), signal = ema(line, signal), hist = line - signal.

    `value` is the line. All three outputs stay NaN until the signal is ready, so a rule or a
    downstream indicator never sees a line without its signal.
    """

    __slots__ = ("_fast", "_signal", "_slow", "hist", "line", "signal")

    def __init__(self, fast: int, slow: int, signal: int) -> None:
        super().__init__(max(fast, slow) + signal - 1)
        self._fast = Ema(fast)
        self._slow = Ema(slow)
        self._signal = Ema(signal)
        self.line = math.nan
        self.signal = math.nan
        self.hist = math.nan

    def update(self, x: float) -> None:
        fast = self._fast
        slow = self._slow
        fast.update(x)
        slow.update(x)
        if not (fast.ready and slow.ready):
            return
        line = fast.value - slow.value
        sig = self._signal
        sig.update(line)
        if sig.ready:
            self.ready = True
            self.value = self.line = line
            self.signal = sig.value
            self.hist = line - sig.value


class Roc(Indicator):
    """Rate of change as a fraction: x / x[n] - 1 (0.02 is up 2%, comparable with `2%`).

    NaN when x[n] is 0 (the change is undefined; comparisons with NaN are false, so no rule
    fires on it).
    """

    __slots__ = ("_window",)

    def __init__(self, n: int) -> None:
        super().__init__(n + 1)
        self._window: deque[float] = deque(maxlen=n + 1)

    def update(self, x: float) -> None:
        w = self._window
        w.append(x)
        if not self.ready:
            if len(w) < self.warmup:
                return
            self.ready = True
        base = w[0]
        self.value = x / base - 1.0 if base != 0.0 else math.nan
