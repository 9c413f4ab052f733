"""The number columns of the candles the columnar parser made lately, for whoever needs a run of
them as arrays (the backtest's candle array path, `candle_series.Block`).

The parser has each chunk's prices and volumes as float64 arrays anyway (pyarrow reads them from
the same text the Decimals are made from, correctly rounded, so each is exactly `float(Decimal)`
of its candle's field). Building them again from the candle objects cost a `float(Decimal)` per
field and candle, a third of the backtest's floor. `columns(candles)` hands back the arrays of a
list of candles when every one of them is the very object one of the last few chunks made
(checked by identity: a candle is frozen, so its fields are still the arrays' values); otherwise
None, and the caller converts as before. Only the last `_KEEP` chunks are kept (a few thousand
candles, which the backtest holds in its read-ahead anyway).
"""

from __future__ import annotations

import operator
from collections import deque
from dataclasses import dataclass

import numpy as np

from rulebot.core.events import CandleClosed

_KEEP = 4  # chunks of ~2,500 1m candles: the candle array path reads 4,096 ahead, which spans 3


@dataclass(frozen=True, slots=True)
class BarArrays:
    """One chunk's candles and their columns (index i is candles[i])."""

    candles: list[CandleClosed]
    open_time: np.ndarray  # int64
    close_time: np.ndarray  # int64, rising
    open: np.ndarray  # float64, as float(candle.open)
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


_recent: deque[BarArrays] = deque(maxlen=_KEEP)

FIELDS = ("open_time", "close_time", "open", "high", "low", "close", "volume")


def remember(bars: BarArrays) -> None:
    _recent.append(bars)


def forget() -> None:
    _recent.clear()


def columns(candles: list[CandleClosed]) -> dict[str, np.ndarray] | None:
    """The FIELDS of `candles` as arrays, if every one is a candle of a remembered chunk, else None."""
    pieces: list[tuple[BarArrays, int, int]] = []
    pos, n = 0, len(candles)
    while pos < n:
        found = _find(candles[pos])
        if found is None:
            return None
        bars, p = found
        m = min(n - pos, len(bars.candles) - p)
        if not all(map(operator.is_, candles[pos : pos + m], bars.candles[p : p + m])):
            return None
        pieces.append((bars, p, p + m))
        pos += m
    if len(pieces) == 1:
        bars, lo, hi = pieces[0]
        return {f: getattr(bars, f)[lo:hi] for f in FIELDS}
    return {f: np.concatenate([getattr(bars, f)[lo:hi] for bars, lo, hi in pieces]) for f in FIELDS}


def _find(candle: CandleClosed) -> tuple[BarArrays, int] | None:
    t = candle.close_time
    for bars in reversed(_recent):
        ct = bars.close_time
        if len(ct) and ct[0] <= t <= ct[-1]:
            p = int(np.searchsorted(ct, t))
            if bars.candles[p] is candle:
                return bars, p
    return None
