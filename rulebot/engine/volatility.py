"""Short-term realized volatility against its own baseline, for the volatility breaker.

Prices are sampled at most once a second (the mark price's own pace); each sample's squared
log return feeds two exponentially weighted averages: a short one (half-life one minute) and
a baseline (half-life one hour). The breaker trips while the short-term volatility is more
than `multiple` times the baseline. Returns are scaled by the time between samples, so gaps
in the data read as one long step rather than as a spike.
"""

from __future__ import annotations

import math

SHORT_HALF_LIFE_S = 60.0
BASE_HALF_LIFE_S = 3600.0
WARM_SAMPLES = 300  # five minutes of samples before the baseline means anything
_SAMPLE_MS = 1000


class VolatilityMeter:
    __slots__ = ("_alphas", "_last_price", "_last_time", "base", "samples", "short")

    def __init__(self) -> None:
        self._last_time = -_SAMPLE_MS
        self._last_price = 0.0
        self.short = 0.0  # EWMA of squared log returns per second
        self.base = 0.0
        self.samples = 0
        self._alphas = (0.0, 0.0, 0.0)  # (seconds, a_short, a_base) of the last step: steps repeat

    def update(self, time: int, price: float) -> None:
        if time - self._last_time < _SAMPLE_MS or price <= 0:
            return
        if self._last_price > 0:
            seconds = (time - self._last_time) / 1000
            r2 = math.log(price / self._last_price) ** 2 / seconds  # variance per second
            # Sparse data (one price a minute from candles) would make a one-minute average a
            # single sample: the short window always spans at least five samples.
            cached, a_short, a_base = self._alphas
            if seconds != cached:  # data at a steady pace (a candle a minute) steps by the same time
                a_short = 1 - 0.5 ** (seconds / max(SHORT_HALF_LIFE_S, 5 * seconds))
                a_base = 1 - 0.5 ** (seconds / max(BASE_HALF_LIFE_S, 60 * seconds))
                self._alphas = (seconds, a_short, a_base)
            if self.samples == 0:
                self.short = self.base = r2
            else:
                self.short += a_short * (r2 - self.short)
                self.base += a_base * (r2 - self.base)
            self.samples += 1
        self._last_time = time
        self._last_price = price

    def ratio(self) -> float:
        """Short-term over baseline volatility (not variance); 1.0 until warmed up."""
        if self.samples < WARM_SAMPLES or self.base <= 0:
            return 1.0
        return math.sqrt(self.short / self.base)

    def spiking(self, multiple: float) -> bool:
        return self.ratio() > multiple
