"""Rows of Binance's archive CSV files (data.binance.vision) parsed into market events.

One file at a time, streamed: zip or plain CSV, with or without a header row. `parse_file` reads
a file a chunk at a time with pyarrow (`columnar.py`); a file the columnar parser will not vouch
for is read again by the csv-module row parser (`row_parsers.py`), which gives the same events up
to the first bad row and names its line and fault. What the files hold and the messages about
them are `archive_format.py`'s; naming files and merging them is `replay.py`'s job.
"""

from __future__ import annotations

import csv
from collections.abc import Generator, Iterator
from itertools import islice

from rulebot.core.events import MarketEvent
from rulebot.feeds.archive_format import (
    COLUMNS,
    KINDS,
    KLINE_KINDS,
    NO_END,
    ArchiveFile,
    ReplayFileError,
    bounded_lines,
    first_row,
    open_text,
)
from rulebot.feeds.columnar import event_batches
from rulebot.feeds.kline_chunks import KlineChunk
from rulebot.feeds.row_parsers import parse_rows

__all__ = [
    "COLUMNS",
    "KINDS",
    "KLINE_KINDS",
    "NO_END",
    "ArchiveFile",
    "ReplayFileError",
    "check_head",
    "file_batches",
    "open_text",
    "parse_file",
    "parse_rows",
]


def parse_file(
    file: ArchiveFile, start: int = 0, end: int = NO_END, floor: int = 0
) -> Generator[MarketEvent, None, int]:
    """Stream a file's events with `start <= time < end`, in file order.

    Rows must not go back in time, nor below `floor` (the last time of the file before it in
    the same series); returns the last time seen, to chain the next file's `floor`.
    Raises ReplayFileError naming the file and line of the first bad row.
    """
    batches = file_batches(file, start, end, floor)
    while True:
        try:
            events = next(batches)
        except StopIteration as finished:
            last: int = finished.value
            return last
        assert not isinstance(events, KlineChunk)  # not asked for
        yield from events


def check_head(file: ArchiveFile) -> None:
    """Raise the ReplayFileError a replay would raise on opening `file`: no zip directory (a
    truncated download), not one CSV member, a member named for another file, a header of another
    kind, a first row that is not CSV text. Reads the first rows only: damage further in is found
    when the replay reaches it."""
    with open_text(file.path) as text:
        first_row(file, csv.reader(bounded_lines(file.path, text)))


def file_batches(
    file: ArchiveFile, start: int = 0, end: int = NO_END, floor: int = 0, chunks: bool = False
) -> Generator[Iterator[MarketEvent] | KlineChunk, None, int]:
    """`parse_file`'s events as iterators of a block each, to be consumed in turn (each before the
    next is asked for); returns the last time seen. A replay chains them with
    `itertools.chain.from_iterable`, so that no Python frame is entered per event on the way.
    `chunks`: a kline file's blocks the columnar parser vouches for come as `KlineChunk`s."""
    done = 0
    batches = event_batches(file, start, end, floor, chunks)
    try:
        while True:
            try:
                events, count = next(batches)
            except StopIteration as finished:
                last: int = finished.value
                return last
            except Exception:  # any doubt at all: the row parser decides, and names the fault
                break
            yield events
            done += count
    finally:
        batches.close()
    # The row parser gives the events already given first: skip them, then let it go on (and fail
    # where the file is bad, with the line and the reason).
    rows = parse_rows(file, start, end, floor)
    for _ in islice(rows, done):
        pass
    returned: list[int] = []
    yield _keep_return(rows, returned)
    return returned[0]


def _keep_return(rows: Generator[MarketEvent, None, int], returned: list[int]) -> Iterator[MarketEvent]:
    returned.append((yield from rows))
