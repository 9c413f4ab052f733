"""The samples a report draws, bounded however long the run (issue 14).

The summary's numbers are kept as the samples come (tally.py); the charts need the samples
themselves, but not a year of minutes: the report draws 1,000 columns and zooms into 4,000
(report_svg.py). So the samples are grouped into buckets of `stride` consecutive samples, and
each bucket keeps its first and last sample and the ones at the lowest and highest value of each
key (the equity, each symbol's price): no spike disappears. When the buckets reach twice
`buckets`, neighbours merge in pairs and the stride doubles; memory stays bounded without
knowing the run's length first. A run of fewer samples than that keeps every one. With no bucket
(`LastRow`: a run that draws no chart, such as the command line's without --report) only the last
sample is kept, which the summary reads; nothing else is done per sample but counting it.

Rows are opaque to this module (the runner's tuples); keys may be None (a symbol not yet priced).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

BUCKETS = 2048  # 2,048 to 4,096 buckets: a few points per column of the report's zoomed chart

_Extreme = tuple[Any, int, Any] | None  # (value, sample index, row)


def _pick_low(a: _Extreme, b: _Extreme) -> _Extreme:
    return a if b is None or (a is not None and a[0] <= b[0]) else b


def _pick_high(a: _Extreme, b: _Extreme) -> _Extreme:
    return a if b is None or (a is not None and a[0] >= b[0]) else b


class Thinned:
    """Samples in at most 2 * `buckets` buckets; `rows()` gives the kept ones in order."""

    __slots__ = ("_cap", "_done", "_filled", "_open", "samples", "stride")

    def __init__(self, buckets: int = BUCKETS) -> None:
        self._cap = 2 * max(1, buckets)
        self.stride = 1  # samples per bucket
        self.samples = 0  # samples seen
        # A bucket: [(index, row) first, (index, row) last, [lowest per key], [highest per key]].
        self._done: list[list[Any]] = []
        self._open: list[Any] | None = None
        self._filled = 0  # samples in the open bucket

    def add(self, row: object, keys: Sequence[Any]) -> None:
        i = self.samples
        self.samples = i + 1
        bucket = self._open
        if bucket is None or self._filled == self.stride:
            if bucket is not None:
                self._close(bucket)
            entry = (i, row)
            self._open = [entry, entry, [None if v is None else (v, i, row) for v in keys], None]
            self._open[3] = list(self._open[2])
            self._filled = 1
            return
        self._filled += 1
        bucket[1] = (i, row)
        lows, highs = bucket[2], bucket[3]
        for k, v in enumerate(keys):
            if v is None:
                continue
            low = lows[k]
            if low is None:
                lows[k] = highs[k] = (v, i, row)
            elif v < low[0]:
                lows[k] = (v, i, row)
            elif v > highs[k][0]:
                highs[k] = (v, i, row)

    def add_run(
        self,
        n: int,
        row: Callable[[int], object],
        columns: Sequence[Sequence[Any]],
        orders: Sequence[np.ndarray | None] = (),
    ) -> None:
        """`add(row(j), [c[j] for c in columns])` for each j of range(n) (no key None): a bucket's rows
        at once, its lowest and highest value of a key being the first of them (as `add` keeps the
        earlier of equal values; below the lowest is never above the highest). Only the rows kept
        are made (`row(j)` once each). `orders[k]`, if given and not None, orders column k exactly
        (floats, one per value, less and equal exactly where the values are: `exact_order`): a
        bucket's first lowest and highest are numpy's argmin and argmax of it, no Python loop."""
        made: dict[int, object] = {}

        def kept(x: int) -> object:
            r = made.get(x)
            if r is None:
                r = made[x] = row(x)
            return r

        j = 0
        while j < n:
            bucket = self._open
            if bucket is None or self._filled == self.stride:
                self.add(kept(j), [c[j] for c in columns])
                j += 1
                continue
            end = min(n, j + self.stride - self._filled)
            base = self.samples - j  # the sample index of row j is base + j
            lows, highs = bucket[2], bucket[3]
            for k, col in enumerate(columns):
                start = j
                if lows[k] is None:
                    lows[k] = highs[k] = (col[j], base + j, kept(j))
                    start += 1
                if start < end:
                    order = orders[k] if k < len(orders) else None
                    if order is None:
                        at = col.__getitem__
                        x, y = min(range(start, end), key=at), max(range(start, end), key=at)
                    else:  # the first lowest and highest, as min and max find them
                        span = order[start:end]
                        x, y = start + int(span.argmin()), start + int(span.argmax())
                    if col[x] < lows[k][0]:
                        lows[k] = (col[x], base + x, kept(x))
                    if col[y] > highs[k][0]:
                        highs[k] = (col[y], base + y, kept(y))
            bucket[1] = (base + end - 1, kept(end - 1))
            self._filled += end - j
            self.samples += end - j
            j = end

    def _close(self, bucket: list[Any]) -> None:
        done = self._done
        done.append(bucket)
        if len(done) >= self._cap:
            self._done = [self._merge(done[j], done[j + 1]) for j in range(0, len(done) - 1, 2)]
            if len(done) % 2:
                self._done.append(done[-1])
            self.stride *= 2

    @staticmethod
    def _merge(a: list[Any], b: list[Any]) -> list[Any]:
        lows = [_pick_low(x, y) for x, y in zip(a[2], b[2], strict=True)]
        highs = [_pick_high(x, y) for x, y in zip(a[3], b[3], strict=True)]
        return [a[0], b[1], lows, highs]

    def rows(self) -> list[Any]:
        """The kept samples' rows, in the order they came."""
        buckets = self._done + ([self._open] if self._open is not None else [])
        out: list[Any] = []
        for first, last, lows, highs in buckets:
            kept = {first[0]: first[1], last[0]: last[1]}
            for extreme in (*lows, *highs):
                if extreme is not None:
                    kept[extreme[1]] = extreme[2]
            out.extend(kept[i] for i in sorted(kept))
        return out


class LastRow(Thinned):
    """A series of no bucket: the samples counted, the last one's row kept (made when `rows` asks).
    Its keys are not looked at."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self.samples = 0
        self.stride = 0
        self._last: Callable[[], object] | None = None

    def add(self, row: object, keys: Sequence[Any]) -> None:
        self.samples += 1
        self._last = lambda: row

    def add_run(
        self,
        n: int,
        row: Callable[[int], object],
        columns: Sequence[Sequence[Any]],
        orders: Sequence[np.ndarray | None] = (),
    ) -> None:
        if n:
            self.samples += n
            self._last = lambda: row(n - 1)

    def rows(self) -> list[Any]:
        return [] if self._last is None else [self._last()]
