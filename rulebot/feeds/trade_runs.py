"""Trades as columnar runs: a backtest walks one by one only the trades that can make something act.

A day of aggTrades is millions of rows; a rulebook on 1m candles acts at most a few times a
minute. `ReplaySource(..., trade_runs=True)` yields, for a trade series, `TradeRun`s instead of
`Trade`s: the trades of one minute (cut again where an event of another series falls between
them), as the columns pyarrow read (times, prices and quantities as floats, the Decimals made
once per distinct text). Whoever consumes a run asks for the `Trade` of any row (`trade(i)`);
`backtest/fast_trades.py` asks only for the rows at which something can act and folds the others
into the candle being built.

The order of the stream is exactly the order `merge` gives the same files as events: a run holds
the trades between two events of the other series, an event of a kind that sorts before trades
at an equal time (prices, funding, the book) comes before them, a candle after. A file the
columnar reader will not vouch for (see `columnar.py`) goes on as `Trade`s from the row parser,
which fails on the bad row with its usual message.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from typing import Any

import numpy as np
import pyarrow.compute as pc

from rulebot.core.events import CandleClosed, MarketEvent, Trade
from rulebot.feeds.archive_format import ArchiveFile
from rulebot.feeds.column_cells import Cursor, Unsure, _ints, _numpy, _times, _window
from rulebot.feeds.columnar import _bools, _positive, _raw, checked_blocks
from rulebot.feeds.row_parsers import parse_rows

TRADE_KINDS = ("aggTrades", "trades")
MINUTE_MS = 60_000
# Runs hold no Python object per row, so a larger block costs little memory and saves per-block work.
_RUN_BLOCK = 1 << 21
# Column of each field per kind: (time, price, qty, maker, id)
_FIELDS = {"aggTrades": (5, 1, 2, 6, 0), "trades": (4, 1, 2, 5, 0)}


@dataclass(slots=True)
class TradeChunk:
    """One block of a trade file, as columns (rows [0, len) are all inside the replay's range)."""

    symbol: str
    kind: str
    times: Any  # numpy int64
    prices: Any  # numpy float64: float(Decimal(text)), what the engine's candles read
    qtys: Any  # numpy float64
    price_values: list[Decimal]  # distinct prices ...
    price_index: Any  # ... and each row's (numpy int)
    qty_values: list[Decimal]
    qty_index: Any
    makers: list[bool]
    ids: Any
    firsts: Any  # aggTrades only (else None)
    lasts: Any

    def trade(self, i: int) -> Trade:
        first = last = None
        if self.firsts is not None:
            first, last = int(self.firsts[i]), int(self.lasts[i])
        return Trade(
            self.symbol,
            self.price_values[self.price_index[i]],
            self.qty_values[self.qty_index[i]],
            int(self.times[i]),
            self.makers[i],
            int(self.ids[i]),
            first,
            last,
        )


@dataclass(slots=True)
class TradeRun:
    """Rows [lo, hi) of a chunk: trades of one minute with no event of another series among them."""

    chunk: TradeChunk
    lo: int
    hi: int
    time: int  # the first trade's, for ordering

    @property
    def symbol(self) -> str:
        return self.chunk.symbol

    def __len__(self) -> int:
        return self.hi - self.lo

    def trades(self) -> Iterator[Trade]:
        trade = self.chunk.trade
        for i in range(self.lo, self.hi):
            yield trade(i)

    def columns(self) -> RunColumns:
        """The run's rows as Python lists (row k of the run is row lo + k of the chunk)."""
        return RunColumns(self)


class RunColumns:
    """A run's columns as lists, for the fast path (backtest/fast_trades.py), which indexes single rows
    and searches short stretches: a list does both several times faster than a numpy array."""

    __slots__ = (
        "_firsts",
        "_ids",
        "_lasts",
        "_makers",
        "_price_index",
        "_price_values",
        "_qty_index",
        "_qty_values",
        "chunk",
        "prices",
        "symbol",
        "times",
    )

    def __init__(self, run: TradeRun) -> None:
        chunk, lo, hi = run.chunk, run.lo, run.hi
        self.chunk, self.symbol = chunk, chunk.symbol
        self.times: list[int] = chunk.times[lo:hi].tolist()
        self.prices: list[float] = chunk.prices[lo:hi].tolist()
        self._price_values: list[Decimal] = chunk.price_values
        self._price_index: list[int] = chunk.price_index[lo:hi].tolist()
        self._qty_values: list[Decimal] = chunk.qty_values
        self._qty_index: list[int] = chunk.qty_index[lo:hi].tolist()
        self._makers = chunk.makers[lo:hi]
        self._ids = chunk.ids[lo:hi].tolist()
        firsts = chunk.firsts
        self._firsts = None if firsts is None else firsts[lo:hi].tolist()
        self._lasts = None if firsts is None else chunk.lasts[lo:hi].tolist()

    def price(self, k: int) -> Decimal:
        return self._price_values[self._price_index[k]]

    def qty(self, k: int) -> Decimal:
        return self._qty_values[self._qty_index[k]]

    def trade(self, k: int) -> Trade:
        """The run's k-th trade: the same `Trade` as `TradeChunk.trade` of its chunk row."""
        firsts = self._firsts
        return Trade(
            self.symbol,
            self._price_values[self._price_index[k]],
            self._qty_values[self._qty_index[k]],
            self.times[k],
            self._makers[k],
            self._ids[k],
            None if firsts is None else firsts[k],
            None if firsts is None else self._lasts[k],  # type: ignore[index]
        )


def _distinct(col: Any) -> tuple[list[Decimal], Any, Any]:
    """Decimals per distinct text (checked positive), each row's index, and each row's float."""
    encoded = pc.dictionary_encode(col)
    values = [Decimal(text) for text in encoded.dictionary.to_pylist()]
    if not all(map(_positive, values)):
        raise Unsure("value")
    index = _numpy(encoded.indices)
    floats = np.array([float(v) for v in values], dtype=np.float64)
    return values, index, floats[index] if len(values) else np.zeros(0)


def _chunk(file: ArchiveFile, cols: list[Any], cursor: Cursor, start: int, end: int) -> tuple[TradeChunk | None, bool]:
    ti, pi, qi, mi, ii = _FIELDS[file.kind]
    t, ids = _times(cols[ti]), _ints(cols[ii])
    lo, hi, stop = _window(t, cursor, False, start, end, ids)
    n = hi - lo
    if n <= 0:
        return None, stop
    price_values, price_index, prices = _distinct(cols[pi].slice(lo, n))
    qty_values, qty_index, qtys = _distinct(cols[qi].slice(lo, n))
    makers = _bools(cols[mi].slice(lo, n))
    firsts = lasts = None
    if file.kind == "aggTrades":
        firsts, lasts = _ints(cols[3].slice(lo, n)), _ints(cols[4].slice(lo, n))
    chunk = TradeChunk(
        file.symbol,
        file.kind,
        t[lo:hi],
        prices,
        qtys,
        price_values,
        price_index,
        qty_values,
        qty_index,
        makers,
        ids[lo:hi],
        firsts,
        lasts,
    )
    return chunk, stop


def file_chunks(file: ArchiveFile, start: int, end: int, floor: int) -> Iterator[TradeChunk | Trade]:
    """The file's trades in [start, end) a chunk at a time; where the columnar reader has doubts,
    the row parser's `Trade`s from the first row not yet given (and its error on a bad row)."""
    done = 0
    cursor = Cursor(floor)
    try:
        with _raw(file.path) as raw:
            for cols in checked_blocks(file, raw, _RUN_BLOCK):
                chunk, stop = _chunk(file, cols, cursor, start, end)
                if chunk is not None:
                    done += len(chunk.times)
                    yield chunk
                if stop:
                    break
        return
    except Exception:  # any doubt at all: the row parser decides, and names the fault
        pass
    rows = parse_rows(file, start, end, floor)
    yield from islice(rows, done, None)


def series_chunks(files: Iterable[ArchiveFile], start: int, end: int) -> Iterator[TradeChunk | Trade]:
    """A series' files one after another (each no earlier than the last time of the one before)."""
    last = 0
    for file in files:
        for item in file_chunks(file, start, end, last):
            last = int(item.times[-1]) if isinstance(item, TradeChunk) else item.time
            yield item


def merge_runs(trades: Iterator[TradeChunk | Trade], others: Iterator[MarketEvent]) -> Iterator[object]:
    """The trade series cut into `TradeRun`s and merged with the other series' events, in the
    order `replay.merge` gives them: at an equal time every other kind but klines goes first."""
    other = next(others, None)
    for item in trades:
        if isinstance(item, Trade):
            while other is not None and _before(other, item.time):
                yield other
                other = next(others, None)
            yield item
            continue
        t = item.times
        pos, hi = 0, len(t)
        while pos < hi:
            first = int(t[pos])
            while other is not None and _before(other, first):
                yield other
                other = next(others, None)
            end = int(np.searchsorted(t, (first // MINUTE_MS + 1) * MINUTE_MS, side="left"))
            if other is not None:
                if type(other) is CandleClosed:
                    end = min(end, int(np.searchsorted(t, other.time, side="right")))
                else:
                    end = min(end, int(np.searchsorted(t, other.time, side="left")))
            end = min(max(end, pos + 1), hi)
            yield TradeRun(item, pos, end, first)
            pos = end
    while other is not None:
        yield other
        other = next(others, None)


def _before(event: MarketEvent, time: int) -> bool:
    """The event of another series comes before a trade at `time` (KIND_PRIORITY: klines after)."""
    if type(event) is CandleClosed:
        return event.time < time
    return event.time <= time
