"""The indicators of one timeframe over a window of candles, without touching the live ones.

The candle array path (candle_runs.py) needs each indicator's value at every candle of a window
before it knows how many of them it will jump, and then leaves each live indicator exactly as
stepping the jumped candles would have. Both with the very float operations the live indicator
performs, in the same order, so every value is bitwise the engine's:

- an ema or rma (the common case, and the hot one) runs its recurrence `v += alpha * (x - v)` in
  a plain loop over the window's inputs (no method call per value); catching up sets its value;
- any other indicator is copied (`copy.deepcopy`) and the copy is fed the window the way
  `IndicatorRuntime.on_candle` feeds the live one; catching up takes the copy when the whole
  window was jumped, or feeds the live one the jumped candles.

Only a runtime whose indicators are all ready (published) is modelled: every candle then
updates every candle indicator, and a series one unless its input is NaN or infinite (skipped,
as the runtime skips it), and a dependent one only when its upstream updated.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast

import numpy as np

from rulebot.core.events import CandleClosed
from rulebot.core.indicators import Indicator
from rulebot.core.indicators_averages import Ema, Rma
from rulebot.engine.signals import IndicatorRuntime
from rulebot.feeds.kline_chunks import KlineChunk

_FIELDS = ("open", "high", "low", "close", "volume", "returns")
_DECIMAL_FIELDS = ("open", "high", "low", "close", "volume", "quote_volume", "taker_buy_volume")  # KlineChunk's


class Window:
    """One window's candle columns as Python floats (index 0 is the window's first candle)."""

    __slots__ = ("block", "close", "cols", "high", "low", "n", "open", "open_time", "start", "volume")

    def __init__(self, tf: str, b: Block, i: int, k: int, prev_close: float | None) -> None:
        self.block, self.start, self.n = b, i, k - i
        self.open_time, self.open, self.high = b.open_time[i:k], b.open[i:k], b.high_list[i:k]
        self.low, self.close, self.volume = b.low_list[i:k], b.close[i:k], b.volume[i:k]
        # as SymbolMarket._publish: `close / prev - 1.0 if prev else nan`, the rest from the block's
        returns = [self.close[0] / prev_close - 1.0 if prev_close else math.nan] if k > i else []
        returns += b.returns[i + 1 : k].tolist()
        self.cols: dict[str, list[float]] = dict(
            zip(
                (f"{f}@{tf}" for f in _FIELDS),
                (self.open, self.high, self.low, self.close, self.volume, returns),
                strict=True,
            )
        )


class Series:
    """The window's indicator values, by env key, and what catching up the live runtime needs."""

    __slots__ = ("_copies", "_runtime", "_tf", "_window", "values")

    def __init__(self, runtime: IndicatorRuntime, window: Window, tf: str) -> None:
        """The indicators of timeframe `tf` (the window's candles'): the only ones they update."""
        self._runtime, self._window, self._tf = runtime, window, tf
        self.values: dict[str, list[float]] = {}
        self._copies: dict[int, Indicator] = {}  # live index -> an advanced copy of the whole window
        n = window.n
        cols = window.cols
        updated: dict[str, list[bool]] = {}
        for idx, lv in enumerate(runtime.live):
            if lv.timeframe != tf:
                continue
            impl = lv.impl
            if lv.is_candle:
                flags = [True] * n
                self._candle(idx, impl, lv.keys, lv.pairs)
            else:
                xs = cols.get(lv.input_key)
                column = xs is not None  # a candle column, not another indicator's values
                if xs is None:
                    xs = self.values[lv.input_key]
                up = updated.get(lv.upstream) if lv.upstream is not None else None
                flags = self._series(idx, impl, xs, up, lv.keys, lv.pairs, lv.input_key if column else None)
            updated[lv.name] = flags

    def _candle(self, idx: int, impl: Indicator, keys: list[str], pairs: tuple[tuple[str, str], ...]) -> None:
        w = self._window
        twin = copy.deepcopy(impl)
        out: list[list[float]] = [[] for _ in keys]
        for j in range(w.n):
            twin.update_candle(w.open_time[j], w.high[j], w.low[j], w.close[j], w.volume[j])
            _collect(twin, keys, pairs, out)
        self._copies[idx] = twin
        for key, vals in zip(keys, out, strict=True):
            self.values[key] = vals

    def _series(
        self,
        idx: int,
        impl: Indicator,
        xs: list[float],
        up: list[bool] | None,
        keys: list[str],
        pairs: tuple[tuple[str, str], ...],
        column: str | None = None,
    ) -> list[bool]:
        ema = isinstance(impl, Ema | Rma) and type(impl) in (Ema, Rma)
        if ema and up is None and xs and column is not None:
            vals = self._ema_from_memo(idx, column, cast(Ema | Rma, impl), xs)
            if vals is not None:
                self.values[keys[0]] = vals
                return [True] * len(xs)
        if (up is None or all(up)) and all(map(math.isfinite, xs)):  # no NaN or infinity: every one updates
            flags = [True] * len(xs)
        else:
            flags = [u and x == x and x not in (math.inf, -math.inf) for x, u in _zip(xs, up)]
        if isinstance(impl, Ema | Rma) and ema:
            a: float = impl._alpha
            v = impl.value
            vals = []
            if all(flags):
                for x in xs:
                    v += a * (x - v)
                    vals.append(v)
            else:
                for x, f in zip(xs, flags, strict=True):
                    if f:
                        v += a * (x - v)
                    vals.append(v)
            self.values[keys[0]] = vals
            return flags
        twin = copy.deepcopy(impl)
        out: list[list[float]] = [[] for _ in keys]
        for x, f in zip(xs, flags, strict=True):
            if f:
                twin.update(x)
            _collect(twin, keys, pairs, out)
        self._copies[idx] = twin
        for key, vals in zip(keys, out, strict=True):
            self.values[key] = vals
        return flags

    def _ema_from_memo(self, idx: int, input_key: str, impl: Ema | Rma, xs: list[float]) -> list[float] | None:
        """An ema or rma of a column of the window, all of whose inputs are finite: its values, the
        ones a longer window from the same candle and state already computed taken from the
        block's memo (the window grows by doubling from the same start while nothing is found:
        the same inputs, the same float operations), the rest computed and remembered.
        None: an input is not finite (the caller's general loop handles it)."""
        w = self._window
        a: float = impl._alpha
        v: float = impl.value
        memo = w.block.memo_at(w.start)
        key = (idx, input_key, a.hex(), v.hex(), xs[0].hex())
        done = memo.get(key, ())
        n, m = len(xs), len(done)
        if m >= n:
            return list(done[:n])
        rest = xs[m:]
        if not all(map(math.isfinite, rest)):
            return None
        vals = list(done)
        if m:
            v = vals[-1]
        for x in rest:
            v += a * (x - v)
            vals.append(v)
        memo[key] = vals
        return vals

    def catch_up(self, k: int) -> None:
        """Leave the live indicators and their env values as stepping candles [0, k) would."""
        rt, w = self._runtime, self._window
        env = rt.env
        for idx, lv in enumerate(rt.live):
            if lv.timeframe != self._tf:
                continue
            impl = lv.impl
            twin = self._copies.get(idx)
            if twin is None:  # ema / rma: the value is the whole state once ready
                impl.value = self.values[lv.keys[0]][k - 1]
            elif k == w.n:
                lv.impl = twin
            elif lv.is_candle:
                for j in range(k):
                    impl.update_candle(w.open_time[j], w.high[j], w.low[j], w.close[j], w.volume[j])
            else:
                xs = w.cols.get(lv.input_key) or self.values[lv.input_key]
                up = self._flags_of(lv.upstream)
                for j in range(k):
                    x = xs[j]
                    if (up is None or up[j]) and x == x and x not in (math.inf, -math.inf):
                        impl.update(x)
            for key in lv.keys:
                env[key] = self.values[key][k - 1]

    def _flags_of(self, upstream: str | None) -> list[bool] | None:
        if upstream is None:
            return None
        # Recomputed (rare: a dependent indicator on a window cut short): which candles updated it.
        for lv in self._runtime.live:
            if lv.name == upstream:
                if lv.is_candle:
                    return None
                xs = self._window.cols.get(lv.input_key) or self.values[lv.input_key]
                up = self._flags_of(lv.upstream)
                return [(u if up is not None else True) and x == x and abs(x) != math.inf for x, u in _zip(xs, up)]
        return None


def _zip(xs: list[float], up: list[bool] | None) -> Any:
    return zip(xs, up if up is not None else [True] * len(xs), strict=True)


def _collect(impl: Indicator, keys: list[str], pairs: tuple[tuple[str, str], ...], out: list[list[float]]) -> None:
    if pairs:
        for (_, attr), vals in zip(pairs, out, strict=True):
            vals.append(getattr(impl, attr))
    else:
        out[0].append(impl.value)


def modelled(runtime: IndicatorRuntime) -> bool:
    """Every indicator is ready: the window's values are the ones the env would hold."""
    return all(lv.published and lv.impl.ready for lv in runtime.live)


def own_inputs(runtime: IndicatorRuntime, tf: str) -> bool:
    """Every indicator of `tf` reads its own timeframe's series or indicators (as the compiler makes
    them): a candle of `tf` updates them all, in order, and nothing else."""
    tf_of = {lv.name: lv.timeframe for lv in runtime.live}
    return all(
        tf_of.get(lv.upstream) == tf if lv.upstream is not None else lv.input_key.endswith("@" + tf)
        for lv in runtime.live
        if lv.timeframe == tf and not lv.is_candle
    )


def first_false(mask: np.ndarray) -> int:
    """The index of the first False of `mask` (its length: none). One `argmin` (the first lowest: the
    first False, if any) and one look: `mask.all()` and `np.argmin` each pass through a Python wrapper
    of numpy's, several microseconds on the few dozen candles of a window, and a window calls this
    four times (issue 14)."""
    n = len(mask)
    if not n:
        return 0
    j = int(mask.argmin())
    return n if mask[j] else j


def all_true(mask: np.ndarray) -> bool:
    """`bool(mask.all())` for a boolean array, as `first_false` finds it (without numpy's wrapper)."""
    return first_false(mask) == len(mask)


class Block:
    """A block's candles as columns (floats exactly as `float(Decimal)` gives them): a chunk the
    columnar parser made (feeds/kline_chunks.py) lends its arrays, and makes a candle or a Decimal
    field only when asked (`candle`, `decimal`); a list of candles is converted."""

    def __init__(self, bars: list[CandleClosed] | KlineChunk) -> None:
        self.candle: Callable[[int], CandleClosed]
        self.decimal: Callable[[int, int], Decimal]
        if isinstance(bars, KlineChunk):
            self.open_np, self.high_np, self.low_np = bars.open, bars.high, bars.low
            self.close_np, self.volume_np = bars.close, bars.volume
            self.close_time, self.open_time_np = bars.close_time, bars.open_time
            self.ok = True  # the parser's candles are never stamped `received`
            self.candle, self.decimal = bars.candle, bars.decimal
            self.closes = bars.closes()  # as Decimals: the last price, the mark and the samples
            ordered = bars.closes_ordered
        else:
            cs = bars
            self.open_np = np.array([float(c.open) for c in cs])
            self.high_np = np.array([float(c.high) for c in cs])
            self.low_np = np.array([float(c.low) for c in cs])
            self.close_np = np.array([float(c.close) for c in cs])
            self.volume_np = np.array([float(c.volume) for c in cs])
            self.close_time = np.array([c.close_time for c in cs], dtype=np.int64)
            self.open_time_np = np.array([c.open_time for c in cs], dtype=np.int64)
            self.ok = not any(c.received for c in cs)
            self.candle = cs.__getitem__
            self.decimal = lambda field, j: getattr(cs[j], _DECIMAL_FIELDS[field])
            self.closes = [c.close for c in cs]
            ordered = all(
                d.is_finite() and len(d.as_tuple().digits) <= 15 and -300 < d.adjusted() < 300 for d in self.closes
            )
        self.n = len(self.close_time)
        # The closes as floats where those order them exactly (at most 15 significant digits, a normal
        # float's exponent: no two values share a float), for the samples' chart series (Thinned.add_run).
        self.close_order: np.ndarray | None = self.close_np if ordered else None
        self.open = self.open_np.tolist()
        self.high_list = self.high_np.tolist()
        self.low_list = self.low_np.tolist()
        self.close = self.close_np.tolist()
        self.volume = self.volume_np.tolist()
        self.open_time = self.open_time_np.tolist()
        self.close_time_list = self.close_time.tolist()
        hi, lo = self.high_np, self.low_np
        # Every price the walk visits, whatever the order of the four.
        self.band_hi = np.maximum(np.maximum(hi, lo), np.maximum(self.open_np, self.close_np))
        self.band_lo = np.minimum(np.minimum(hi, lo), np.minimum(self.open_np, self.close_np))
        # Each candle's return from the one before (index 0: none), IEEE's float operations as Python's.
        close = self.close_np
        with np.errstate(divide="ignore", invalid="ignore"):
            step = close[1:] / close[:-1] - 1.0
        self.returns = np.concatenate(([math.nan], np.where(close[:-1] != 0.0, step, math.nan)))
        ot = self.open_time_np
        self.contiguous = np.concatenate(([True], ot[1:] == self.close_time[:-1] + 1))
        self._memo: dict[tuple[object, ...], list[float]] = {}
        self._memo_start = -1

    def memo_at(self, start: int) -> dict[tuple[object, ...], list[float]]:
        """The memo of the windows that start at candle `start` (Series._ema_from_memo); an earlier
        start's is dropped: the windows of a block start ever later."""
        if start != self._memo_start:
            self._memo, self._memo_start = {}, start
        return self._memo

    def window(self, market: object, tf: str, i: int, k: int) -> Window:
        return Window(tf, self, i, k, market.prev_close.get(tf))  # type: ignore[attr-defined]
