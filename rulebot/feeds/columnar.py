"""Binance archive CSV files parsed a chunk at a time with pyarrow: the same events, in the same
order, as `row_parsers.py`, at a fraction of the cost per row.

pyarrow splits a block of the file (~1 MiB) into string columns in C; numpy then checks the times
and ids of the whole chunk at once (digits only, in order, not after 2100, ids rising), finds the
rows inside [start, end) by binary search, and only those rows cost Python work: their Decimals
and the event. Memory stays flat in the length of the file: one block and its events at a time.

The columnar parser vouches only for chunks that are plainly valid. Anything else (a quote, a
cell that is not plain digits where an integer belongs, a row out of order, a wrong column count,
a long line, an impossible price, a damaged zip...) raises `Unsure`, and `replay_files.parse_file`
hands the file to the row parser, which reads it from the start, gives the same events up to the
bad row and names its line and fault exactly as before. So a bad file fails with the row
parser's message, and a good one never depends on where pyarrow and the csv module would differ.
"""

from __future__ import annotations

import operator
import zipfile
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from decimal import Decimal
from itertools import repeat
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from rulebot.core.events import (
    BookTop,
    FundingRate,
    IndexPrice,
    MarketEvent,
    MarkPrice,
    PremiumIndex,
    Trade,
)
from rulebot.feeds.archive_format import (
    BOOL,
    COLUMNS,
    HUGE,
    MAX_LINE,
    ZERO,
    ArchiveFile,
    is_number,
    misnamed_member,
)
from rulebot.feeds.column_cells import Batch, Columns, Cursor, Unsure, _bar_decimals, _ints, _numpy, _times, _window
from rulebot.feeds.kline_chunks import KlineChunk, kline_chunk, klines_batch

_BLOCK = 1 << 18  # 256 KiB: ~4,000 aggTrades; larger blocks gain little speed for much more memory
# A KlineChunk holds no Python object per row: larger blocks (~20,000 1m candles) save per-block work
# (the parse, the checks, the candle array path's windows restarting at each block); never-trading year
# 2.79/2.86 s CPU (min/median of 5) with 2 MiB blocks, 3.12/3.39 with 256 KiB.
_CHUNK_BLOCK = 1 << 21
_PARSE = pacsv.ParseOptions(ignore_empty_lines=False)  # a blank line is a row, so it is refused
_CONVERT = pacsv.ConvertOptions(
    column_types={f"f{i}": pa.string() for i in range(16)},  # every cell as its text: no type guessing
    strings_can_be_null=False,
    quoted_strings_can_be_null=False,
)


def _blocks(raw: IO[bytes], size: int = _BLOCK) -> Iterator[bytes]:
    """The file's bytes a block of whole lines at a time. Cut here, not by pyarrow's streaming
    reader, which reads dozens of blocks ahead: one block in memory at a time."""
    rest = b""
    while data := raw.read(size):
        if b'"' in data:  # quoting is where pyarrow and the csv module could split a line differently
            raise Unsure("quoted cells")
        data = rest + data
        cut = data.rfind(b"\n") + 1
        if not cut:  # lines that end in a lone CR, or one line longer than a block
            if len(data) > 2 * size:
                raise Unsure("no line break")
            rest = data
            continue
        yield data[:cut]
        rest = data[cut:]
    if rest:
        yield rest + b"\n"  # pyarrow reads no row from a block without a line end


@contextmanager
def _raw(path: Path) -> Iterator[IO[bytes]]:
    if path.suffix.lower() != ".zip":
        with open(path, "rb") as raw:
            yield raw
        return
    with zipfile.ZipFile(path) as archive:
        members = [i for i in archive.infolist() if not i.is_dir()]
        if len(members) != 1 or misnamed_member(path, members[0].filename):
            raise Unsure("not one CSV member named like the zip")  # the row parser says why
        with archive.open(members[0]) as raw:
            yield raw


def _columns(block: bytes, first: bool) -> Columns:
    if not first and block.startswith(b"\xef\xbb\xbf"):
        raise Unsure("a BOM inside the file")  # pyarrow drops one at the start of any block
    read = pacsv.ReadOptions(autogenerate_column_names=True, block_size=len(block) + 1, use_threads=False)
    table = pacsv.read_csv(pa.py_buffer(block), read_options=read, parse_options=_PARSE, convert_options=_CONVERT)
    return [c.combine_chunks() for c in table.columns]


def event_batches(
    file: ArchiveFile, start: int, end: int, floor: int, chunks: bool = False
) -> Generator[tuple[Iterator[MarketEvent] | KlineChunk, int], None, int]:
    """The file's events with `start <= time < end` a chunk at a time; returns the last time read.
    `chunks`: a kline file's chunks come as `KlineChunk`s, their candles not made (kline_chunks.py).
    Raises Unsure (or pyarrow's, zipfile's... errors) where the row parser must take over."""
    build: Callable[[ArchiveFile, Columns, Cursor, int, int], tuple[Iterator[MarketEvent] | KlineChunk, int, bool]]
    build = kline_chunk if chunks and file.kind == "klines" else _BUILDERS[file.kind]
    cursor = Cursor(floor)
    with _raw(file.path) as raw:
        for cols in checked_blocks(file, raw, _CHUNK_BLOCK if build is kline_chunk else _BLOCK):
            events, count, stop = build(file, cols, cursor, start, end)
            if count:
                yield events, count
            if stop:
                break
    return cursor.prev


def checked_blocks(file: ArchiveFile, raw: IO[bytes], size: int = _BLOCK) -> Iterator[Columns]:
    """The file's blocks as columns: the header taken off the first, long lines and the column
    count checked (Unsure where the row parser must take over), empty blocks skipped."""
    width = len(COLUMNS[file.kind])
    first = True
    for block in _blocks(raw, size):
        cols = _columns(block, first)
        _refuse_long_lines(cols)
        if first:
            first = False
            cols = _after_header(file, cols)
        if len(cols) != width:
            raise Unsure("column count")
        if len(cols[0]):
            yield cols


def _after_header(file: ArchiveFile, cols: Columns) -> Columns:
    """The first chunk without its header row, if it has one (as `archive_format.first_row`)."""
    if not len(cols[0]):
        return cols
    head = [c[0].as_py() for c in cols]
    if is_number(head[0]):
        return cols  # older archive files have no header row
    expected = COLUMNS[file.kind]
    if len(head) != len(expected) or head[0] != expected[0]:
        raise Unsure("not this kind's header")
    return [c.slice(1) for c in cols]


def _refuse_long_lines(cols: Columns) -> None:
    # The row parser refuses a line of MAX_LINE characters or more; the longest cells of each
    # column bound the longest line (no quotes: a line is its cells and commas).
    bound = len(cols) + sum(pc.max(pc.utf8_length(c)).as_py() or 0 for c in cols)
    if bound >= MAX_LINE - 2:
        raise Unsure("a line may be too long")


def _decimals(col: Any, ok: Callable[[Decimal], bool] | None = None) -> list[Decimal]:
    """Each cell of a column of trades or quotes as a Decimal, made (and checked by `ok`) once per
    distinct text: prices and sizes repeat, and a Decimal is immutable, so rows may share one."""
    encoded = pc.dictionary_encode(col)
    values = [Decimal(text) for text in encoded.dictionary.to_pylist()]
    if ok is not None and not all(map(ok, values)):
        raise Unsure("value")
    return list(map(values.__getitem__, _numpy(encoded.indices).tolist()))


def _bools(col: Any) -> list[bool]:
    encoded = pc.dictionary_encode(col)
    values = [BOOL[text] for text in encoded.dictionary.to_pylist()]  # KeyError: not true or false
    return list(map(values.__getitem__, _numpy(encoded.indices).tolist()))


def _positive(value: Decimal) -> bool:
    return 0 < value < HUGE  # false for zero, negatives and Infinity; raises for NaN


def _not_negative(value: Decimal) -> bool:
    return 0 <= value < HUGE


def _agg_trades(file: ArchiveFile, cols: Columns, cursor: Cursor, start: int, end: int) -> Batch:
    t, ids = _times(cols[5]), _ints(cols[0])
    lo, hi, stop = _window(t, cursor, False, start, end, ids)
    n = hi - lo
    prices, qtys = (
        _decimals(cols[1].slice(lo, n), _positive),
        _decimals(cols[2].slice(lo, n), _positive),
    )
    makers = _bools(cols[6].slice(lo, n))
    firsts, lasts = (
        _ints(cols[3].slice(lo, n)).tolist(),
        _ints(cols[4].slice(lo, n)).tolist(),
    )
    events = map(
        Trade,
        repeat(file.symbol, n),
        prices,
        qtys,
        t[lo:hi].tolist(),
        makers,
        ids[lo:hi].tolist(),
        firsts,
        lasts,
    )
    return events, n, stop


def _trades(file: ArchiveFile, cols: Columns, cursor: Cursor, start: int, end: int) -> Batch:
    t, ids = _times(cols[4]), _ints(cols[0])
    lo, hi, stop = _window(t, cursor, False, start, end, ids)
    n = hi - lo
    prices, qtys = (
        _decimals(cols[1].slice(lo, n), _positive),
        _decimals(cols[2].slice(lo, n), _positive),
    )
    makers = _bools(cols[5].slice(lo, n))
    events = map(
        Trade,
        repeat(file.symbol, n),
        prices,
        qtys,
        t[lo:hi].tolist(),
        makers,
        ids[lo:hi].tolist(),
    )
    return events, n, stop


def _book_ticker(file: ArchiveFile, cols: Columns, cursor: Cursor, start: int, end: int) -> Batch:
    t, ids = (
        _times(cols[6]),
        _ints(cols[0]),
    )  # event time (E), when Binance sent the quote
    lo, hi, stop = _window(t, cursor, False, start, end, ids)
    n = hi - lo
    bids, asks = (
        _decimals(cols[1].slice(lo, n), _positive),
        _decimals(cols[3].slice(lo, n), _positive),
    )
    bid_qtys = _decimals(cols[2].slice(lo, n), _not_negative)
    ask_qtys = _decimals(cols[4].slice(lo, n), _not_negative)
    if not all(map(operator.le, bids, asks)):
        raise Unsure("crossed book")
    events = map(
        BookTop,
        repeat(file.symbol, n),
        bids,
        bid_qtys,
        asks,
        ask_qtys,
        t[lo:hi].tolist(),
        ids[lo:hi].tolist(),
    )
    return events, n, stop


def _funding(file: ArchiveFile, cols: Columns, cursor: Cursor, start: int, end: int) -> Batch:
    t = _times(cols[0])
    lo, hi, stop = _window(t, cursor, True, start, end)
    hours = _ints(cols[1].slice(lo, hi - lo)).tolist()
    rates = _decimals(cols[2].slice(lo, hi - lo), lambda rate: -1 < rate < 1)
    if not all(0 < h <= 24 for h in hours):
        raise Unsure("funding interval")
    events = map(FundingRate, repeat(file.symbol), rates, t[lo:hi].tolist(), repeat(None), hours)
    return events, hi - lo, stop


def _price_klines(file: ArchiveFile, cols: Columns, cursor: Cursor, start: int, end: int) -> Batch:
    """Mark, index and premium-index klines: one price event per bar, its close at close time.
    A mark bar's event also carries the bar's open, high and low (the mark walk needs them)."""
    t = _times(cols[6])
    lo, hi, stop = _window(t, cursor, True, start, end)
    n = hi - lo
    o, h, low, c = (_bar_decimals(cols[i].slice(lo, n)) for i in (1, 2, 3, 4))
    floor, huge = (-HUGE if file.kind == "premiumIndexKlines" else ZERO), HUGE  # a premium index is a spread
    for bo, bh, bl, bc in zip(o, h, low, c, strict=True):
        if not (floor < bl <= bo <= bh < huge and bl <= bc <= bh):
            raise Unsure("bar")
    opens = _times(cols[0].slice(lo, n))
    span = file.bar_ms() - 1  # -1: not checked (a month's bars)
    if span >= 0 and n and not bool((t[lo:hi] - opens == span).all()):
        raise Unsure("bar span")  # the row parser names the bar that does not last the file's interval
    times = t[lo:hi].tolist()
    if file.kind == "markPriceKlines":
        opens_at = opens.tolist()
        index, rate, next_funding, received = repeat(None), repeat(None), repeat(None), repeat(0)
        events = map(MarkPrice, repeat(file.symbol), c, times, index, rate, next_funding, received, opens_at, o, h, low)
        return events, n, stop
    return map(_PRICE_EVENTS[file.kind], repeat(file.symbol, n), c, times), n, stop


_PRICE_EVENTS: dict[str, Callable[[str, Decimal, int], MarketEvent]] = {
    "markPriceKlines": MarkPrice,
    "indexPriceKlines": IndexPrice,
    "premiumIndexKlines": PremiumIndex,
}
_BUILDERS: dict[str, Callable[[ArchiveFile, Columns, Cursor, int, int], Batch]] = {
    "klines": klines_batch,
    "markPriceKlines": _price_klines,
    "indexPriceKlines": _price_klines,
    "premiumIndexKlines": _price_klines,
    "aggTrades": _agg_trades,
    "trades": _trades,
    "bookTicker": _book_ticker,
    "fundingRate": _funding,
}
