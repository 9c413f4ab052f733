"""Indicators that read whole candles: atr (Wilder) and vwap (session or rolling).

Warm-up: atr(n) is ready on the n-th candle: like TradingView's `ta.atr`, the first candle's
true range is its high - low (there is no previous close yet), and the Wilder average is seeded
with the mean of the first n true ranges. vwap(0), the session VWAP, is ready on the first
candle that opens a UTC day (the first candle when the data starts at 00:00): before it only part
of the day was seen, and its VWAP is not the day's. vwap(n) with n ≥ 1, rolling over the last n
candles, on the n-th.
"""

from __future__ import annotations

from rulebot.core.indicators_base import DAY_MS, Indicator, RollingSum


class Atr(Indicator):
    """Average true range: Wilder's average (alpha 1/n, SMA seed) of the true range."""

    __slots__ = ("_count", "_n", "_prev_close", "_seed")

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self._n = n
        self._count = 0
        self._seed = 0.0
        self._prev_close: float | None = None

    def update_candle(self, open_time: int, high: float, low: float, close: float, volume: float) -> None:
        pc = self._prev_close
        self._prev_close = close
        tr = high - low if pc is None else max(high - low, abs(high - pc), abs(low - pc))
        if self.ready:
            self.value += (tr - self.value) / self._n
            return
        self._count += 1
        self._seed += tr
        if self._count == self._n:
            self.value = self._seed / self._n
            self.ready = True


class Vwap(Indicator):
    """Volume-weighted average of the typical price (high + low + close) / 3.

    n = 0: session VWAP, reset at each 00:00 UTC by the candle's open time (a 15m candle that
    opens at 23:45 belongs to the day it opens in). n ≥ 1: rolling over the last n candles.
    When no volume traded (a dead session start or window), the value is the latest typical
    price: the VWAP is undefined there, and the last price is the best stand-in that keeps
    `ready` meaning "a number a rule can compare".
    """

    __slots__ = ("_count", "_day", "_n", "_pv", "_traded", "_vol", "_window_pv", "_window_vol")

    def __init__(self, n: int) -> None:
        super().__init__(n if n > 0 else 1)
        self._n = n
        self._count = 0
        self._day = -1
        self._pv = 0.0
        self._vol = 0.0
        # Rolling mode: sums of price·volume and volume, plus how many candles in the window
        # traded, so an all-zero window is detected exactly rather than as a rounding residue.
        self._window_pv = RollingSum(max(n, 1))
        self._window_vol = RollingSum(max(n, 1))
        self._traded = 0

    def update_candle(self, open_time: int, high: float, low: float, close: float, volume: float) -> None:
        tp = (high + low + close) / 3.0
        if self._n == 0:
            day = open_time // DAY_MS
            if day != self._day:
                self._day = day
                self._pv = 0.0
                self._vol = 0.0
                if open_time % DAY_MS == 0:
                    self.ready = True
            self._pv += tp * volume
            self._vol += volume
            if not self.ready:
                return  # a session begun after 00:00: part of a day, not the day's VWAP
            self.value = self._pv / self._vol if self._vol > 0.0 else tp
            return
        wv = self._window_vol
        if len(wv.window) == self._n and wv.window[0] > 0.0:
            self._traded -= 1
        if volume > 0.0:
            self._traded += 1
        self._window_pv.push(tp * volume)
        wv.push(volume)
        if not self.ready:
            if len(wv.window) < self._n:
                return
            self.ready = True
        self.value = self._window_pv.total / wv.total if self._traded else tp
