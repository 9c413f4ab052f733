"""A kline file's rows a chunk at a time as columns (`KlineChunk`), its candles made only when asked.

A candle event holds seven Decimals. The backtest's candle array path (backtest/candle_runs.py)
reads a chunk's times, prices and volumes as numpy columns and jumps the candles at which nothing
can act: on a year of 1m candles that trade seldom, nearly every `CandleClosed` and its Decimals
were made for nothing (a third of the run). So a chunk keeps its cells as the text pyarrow read,
checked as the events' constructors would have checked them (every cell a number Decimal reads,
every bar possible: `kline_chunk`), and makes a candle (`candle(j)`), a cell (`decimal`) or the
closes (`closes()`) when asked. `candles()` makes them all, exactly as the events the replay gives
(`klines_batch`, the event stream's builder, is made from it).
"""

from __future__ import annotations

from decimal import Decimal
from itertools import repeat
from typing import Any

import numpy as np
import pyarrow.compute as pc

from rulebot.core.events import CandleClosed
from rulebot.feeds.archive_format import HUGE, ZERO, ArchiveFile
from rulebot.feeds.column_cells import (
    Batch,
    Columns,
    Cursor,
    Unsure,
    _bar_decimals,
    _floats,
    _ints,
    _same,
    _times,
    _window,
)

# The columns of a kline row whose cells become Decimals, in the order of the fields below.
_DECIMAL_COLUMNS = (1, 2, 3, 4, 5, 7, 9)
OPEN, HIGH, LOW, CLOSE, VOLUME, QUOTE_VOLUME, TAKER_VOLUME = range(7)
_HUGE_F = float(HUGE)
# A candle made alone costs ~1.8 times its share of making the chunk's all at once (4.7 against
# 2.7 us a 1m candle, a 2 MiB chunk of ~20,000): all at once pays once more than half are asked for.
# A jumping rulebook asks for a few hundred a chunk (the EMA cross: one in fourteen), never half.
_ONE_BY_ONE = 256


class KlineChunk:
    """Consecutive candles of one kline series as columns (row j is the j-th candle): the times
    (int64), the open, high, low, close and volume as float64 (each exactly `float(Decimal)` of the
    candle's field: pyarrow rounds the same text correctly), and the Decimal fields made on demand."""

    __slots__ = (
        "_all",
        "_asked",
        "_cells",
        "_closes",
        "_counts",
        "_texts",
        "close",
        "close_time",
        "closes_ordered",
        "high",
        "low",
        "open",
        "open_time",
        "symbol",
        "time",
        "timeframe",
        "volume",
    )

    def __init__(
        self,
        symbol: str,
        timeframe: str,
        open_time: np.ndarray,
        close_time: np.ndarray,
        floats: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        texts: tuple[Any, ...],
        counts: np.ndarray,
    ) -> None:
        self.symbol, self.timeframe = symbol, timeframe
        self.open_time, self.close_time = open_time, close_time
        self.open, self.high, self.low, self.close, self.volume = floats
        self._texts, self._counts = texts, counts  # pyarrow string arrays (_DECIMAL_COLUMNS), int64
        self._closes: list[Decimal] | None = None
        self._all: list[CandleClosed] | None = None  # every candle, once many were asked for
        self._asked = 0
        self._cells: list[tuple[np.ndarray, bytes] | None] = [None] * len(texts)  # a column's offsets and bytes
        self.time = int(close_time[0]) if len(close_time) else 0  # the first candle's, for ordering
        # Whether `close` orders the closes exactly (one float less than, or equal to, another where
        # its Decimal is): each close text has at most 15 characters and no exponent, so at most 15
        # significant digits within a double's normal range, which a double keeps apart from any other.
        close_text = texts[CLOSE]
        self.closes_ordered = not len(close_text) or (
            pc.max(pc.utf8_length(close_text)).as_py() <= 15
            and not pc.any(pc.match_substring(close_text, "e", ignore_case=True)).as_py()
        )

    def __len__(self) -> int:
        return len(self.close_time)

    def decimal(self, field: int, j: int) -> Decimal:
        """Field `field` (OPEN... TAKER_VOLUME) of candle j: the Decimal of its text."""
        if field == CLOSE and self._closes is not None:
            return self._closes[j]
        cells = self._cells[field]
        if cells is None:  # the column's text as Arrow holds it: cell j is data[offsets[j]:offsets[j + 1]]
            col = self._texts[field]
            offsets = np.frombuffer(col.buffers()[1], dtype=np.int32, count=len(col) + 1, offset=col.offset * 4)
            cells = self._cells[field] = (offsets, col.buffers()[2].to_pybytes())
        offsets, data = cells
        return Decimal(data[offsets[j] : offsets[j + 1]].decode())

    def closes(self) -> list[Decimal]:
        """Every candle's close, made once."""
        if self._closes is None:
            self._closes = _bar_decimals(self._texts[CLOSE])
        return self._closes

    def candle(self, j: int) -> CandleClosed:
        """Candle j: the very event `candles()[j]` is (equal fields, equal Decimals). Made alone, its
        cells one by one, until more than half of the chunk (and _ONE_BY_ONE) are asked for: then all at
        once, the cheaper way for a chunk stepped candle by candle (a rulebook whose runs cannot be jumped)."""
        made = self._all
        if made is not None:
            return made[j]
        self._asked += 1
        if self._asked > _ONE_BY_ONE and self._asked * 2 > len(self.close_time):
            self._all = made = self.candles()
            return made[j]
        d = self.decimal
        return CandleClosed(
            self.symbol,
            self.timeframe,
            int(self.open_time[j]),
            int(self.close_time[j]),
            *(d(OPEN, j), d(HIGH, j), d(LOW, j), d(CLOSE, j), d(VOLUME, j), d(QUOTE_VOLUME, j)),
            int(self._counts[j]),
            d(TAKER_VOLUME, j),
        )

    def candles(self) -> list[CandleClosed]:
        """Every candle, as the replay's event stream gives them."""
        texts, n = self._texts, len(self)
        h, low, vol, quote_vol, taker_vol = (
            _bar_decimals(texts[f]) for f in (HIGH, LOW, VOLUME, QUOTE_VOLUME, TAKER_VOLUME)
        )
        c = self.closes()
        o = _opens(texts[OPEN], texts[CLOSE], c)
        args = (self.open_time.tolist(), self.close_time.tolist(), o, h, low, c, vol, quote_vol, self._counts.tolist())
        return list(map(CandleClosed, repeat(self.symbol, n), repeat(self.timeframe, n), *args, taker_vol))


def kline_chunk(file: ArchiveFile, cols: Columns, cursor: Cursor, start: int, end: int) -> tuple[KlineChunk, int, bool]:
    """The chunk's candles with `start <= close time < end`, checked as the row parser checks a bar
    (Unsure where it may not be plainly valid), how many, and whether the file ends here."""
    t = _times(cols[6])  # a candle happens when it closes
    lo, hi, stop = _window(t, cursor, True, start, end)
    n = hi - lo
    times, opens_at = t[lo:hi], _times(cols[0].slice(lo, n))
    counts = _ints(cols[8].slice(lo, n))
    texts = tuple(cols[i].slice(lo, n) for i in _DECIMAL_COLUMNS)
    fo, fh, fl, fc, fv, fq, ft = (_floats(text) for text in texts)  # fq, ft: read only to vouch for them
    chunk = KlineChunk(file.symbol, file.interval or "", opens_at, times, (fo, fh, fl, fc, fv), texts, counts)
    # Whatever text pyarrow reads as a number Decimal() reads too (pyarrow takes no form Decimal
    # refuses), and a finite float above 0 comes from an exponent Decimal takes: no Decimal the chunk
    # makes later can fail. Certainly valid where the floats say so: float() never reverses an order,
    # so fa < fb means a < b, and equal texts are equal numbers. The rows left, if any, are checked
    # exactly, their Decimals made here as the events' constructors would make them.
    to, th, tl, tc = texts[:4]
    sure = (fl > 0) & (fh < _HUGE_F) & (fv > 0) & (fv < _HUGE_F) & (opens_at < times)
    sure &= (fq > 0) & (fq < _HUGE_F) & (ft > 0) & (ft < _HUGE_F)
    sure &= ((fl < fo) | _same(tl, to)) & ((fo < fh) | _same(to, th)) & ((fl < fc) | _same(tl, tc))
    sure &= (fc < fh) | _same(tc, th)
    span = file.bar_ms() - 1  # -1: not checked (a month's bars, or no interval known)
    if span >= 0:
        sure &= times - opens_at == span
    zero, huge, d = ZERO, HUGE, chunk.decimal
    for i in np.flatnonzero(~sure).tolist():
        bo, bh, bl, bc, bv = d(OPEN, i), d(HIGH, i), d(LOW, i), d(CLOSE, i), d(VOLUME, i)
        if not (zero < bl <= bo <= bh < huge and bl <= bc <= bh and zero <= bv and opens_at[i] < times[i]):
            raise Unsure("bar")
        if span not in (-1, times[i] - opens_at[i]):
            raise Unsure("bar span")
        d(QUOTE_VOLUME, i), d(TAKER_VOLUME, i)  # numbers Decimal() reads, or it raises here
    return chunk, n, stop


def klines_batch(file: ArchiveFile, cols: Columns, cursor: Cursor, start: int, end: int) -> Batch:
    """The chunk's candles as events (columnar.py's builder for the event stream)."""
    chunk, n, stop = kline_chunk(file, cols, cursor, start, end)
    return iter(chunk.candles()), n, stop


def _opens(opens: Any, closes: Any, close_values: list[Decimal]) -> list[Decimal]:
    """A column of bar opens as Decimals. A bar nearly always opens at the text the bar before closed
    at: it shares that bar's Decimal (immutable), and only the others are made."""
    n = len(opens)
    differ = (np.flatnonzero(~_same(opens.slice(1), closes.slice(0, n - 1))) + 1).tolist() if n else []
    if len(differ) > n // 8:
        return _bar_decimals(opens)
    out = [Decimal(opens[0].as_py()), *close_values[:-1]] if n else []
    for i in differ:
        out[i] = Decimal(opens[i].as_py())
    return out
