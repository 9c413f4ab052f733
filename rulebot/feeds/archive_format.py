"""What Binance's archive CSV files (data.binance.vision) hold, how to open them, and what to say
about a row that cannot be replayed.

Shared by the two parsers of these files: `columnar.py` (pyarrow, a chunk of rows at a time, the
one replays use) and `row_parsers.py` (the csv module, a row at a time: the reference, and the
one that names the line and the fault of a file the columnar parser will not vouch for).
"""

from __future__ import annotations

import calendar
import csv
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol, TextIO

from rulebot.core.enums import Market
from rulebot.core.errors import UserError
from rulebot.engine.candles import timeframe_ms

KLINE_KINDS = ("klines", "markPriceKlines", "indexPriceKlines", "premiumIndexKlines")
KINDS = (*KLINE_KINDS, "aggTrades", "trades", "bookTicker", "fundingRate")

_KLINE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
# The columns of each kind's rows, in order. COIN-M files name some differently (klines:
# base_volume, taker_buy_base_volume; trades: base_qty for quote_qty) at the same places.
COLUMNS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(KLINE_KINDS, _KLINE_COLUMNS),
    "aggTrades": (
        "agg_trade_id",
        "price",
        "quantity",
        "first_trade_id",
        "last_trade_id",
        "transact_time",
        "is_buyer_maker",
    ),
    "trades": ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker"),
    "bookTicker": (
        "update_id",
        "best_bid_price",
        "best_bid_qty",
        "best_ask_price",
        "best_ask_qty",
        "transaction_time",
        "event_time",
    ),
    "fundingRate": ("calc_time", "funding_interval_hours", "last_funding_rate"),
}
# What each column must parse as; read only to explain a row the fast path rejected.
_INTS = "open_time close_time count agg_trade_id first_trade_id last_trade_id transact_time id"
_INTS += " time update_id transaction_time event_time calc_time funding_interval_hours"
_DECIMALS = "open high low close volume quote_volume taker_buy_volume price quantity qty"
_DECIMALS += " quote_qty best_bid_price best_bid_qty best_ask_price best_ask_qty last_funding_rate"
_TYPES = {
    **dict.fromkeys(_INTS.split(), "int"),
    **dict.fromkeys(_DECIMALS.split(), "decimal"),
    "is_buyer_maker": "bool",
}
BOOL = {"true": True, "false": False, "True": True, "False": False}
# Milliseconds stay below 1e14 until the year 5138; anything larger is microseconds (the
# spot archive switched to them in 2025).
MICROS = 100_000_000_000_000
NO_END = 2**62
MAX_LINE = 65_536  # archive rows are under 200 characters
# No archive row is stamped after 2100; a later one is damage, and would make the engine walk its
# timers through every day up to it.
LAST_MS = 4_102_444_800_000
# Damaged files fail while rows are read: zip CRC, truncated or bad deflate data, bad UTF-8.
DAMAGED = (csv.Error, UnicodeError, zipfile.BadZipFile, EOFError, zlib.error)
ROW_ERRORS = (ValueError, ArithmeticError, KeyError, *DAMAGED)


class ReplayFileError(UserError):
    """A file that cannot be replayed: names the file, the line and what is wrong there."""


@dataclass(frozen=True, slots=True)
class ArchiveFile:
    """One archive file and what it holds (see `replay.describe`)."""

    path: Path
    kind: str
    symbol: str
    market: Market | None = None
    interval: str | None = None  # klines kinds only
    date: str | None = None  # "2025-06-07" (daily file) or "2024-01" (monthly file)

    def bar_ms(self) -> int:
        """How long each bar of a klines file lasts (close time - open time + 1, in ms) by the interval
        its name says; 0 when that is not fixed (a month) or not known. Every bar of Binance's files
        spans exactly its interval; a bar that does not is in a misnamed file, and read as named it
        would make every indicator and rule of that timeframe wrong without a word."""
        try:
            return timeframe_ms(self.interval or "")
        except (KeyError, ValueError, IndexError):  # "1M" (months differ), or no interval
            return 0

    def period(self) -> tuple[int, int] | None:
        """[start, end) in ms of the day or month the file's name covers, if it names one."""
        if self.date is None:
            return None
        year, month, *day = (int(x) for x in self.date.split("-"))
        if day:
            start = calendar.timegm((year, month, day[0], 0, 0, 0))
            return start * 1000, (start + 86_400) * 1000
        start = calendar.timegm((year, month, 1, 0, 0, 0))
        days = calendar.monthrange(year, month)[1]
        return start * 1000, (start + days * 86_400) * 1000


class Reader(Protocol):
    """csv.reader's iterator, whose line_num names the line of the row just read."""

    @property
    def line_num(self) -> int: ...

    def __iter__(self) -> Iterator[list[str]]: ...

    def __next__(self) -> list[str]: ...


# SYMBOL-WHAT-DATE, the stem of every archive file (BTCUSDT-1m-2025-06-07, ...-aggTrades-2026-05).
_ARCHIVE_STEM = re.compile(r"^[A-Za-z0-9_]+-[A-Za-z0-9]+-\d{4}-\d{2}(?:-\d{2})?$")


def misnamed_member(path: Path, member: str) -> str | None:
    """Why the zip's one CSV member is not the file the zip's name says (None: it is, or the
    member's name says nothing). Binance names the member like its zip; a zip renamed to another
    symbol or day would otherwise replay one market's prices under another's name."""
    outer = path.name.removesuffix(path.suffix)
    inner = Path(member).name.removesuffix(".csv")
    if inner == outer or not (_ARCHIVE_STEM.match(inner) and _ARCHIVE_STEM.match(outer)):
        return None
    return (
        f"{path}: its CSV member is {Path(member).name}, another file than the zip's name says; "
        f"was the zip renamed? Name it {inner}.zip"
    )


@contextmanager
def open_text(path: Path) -> Iterator[TextIO]:
    """The CSV text of a plain .csv or of the single CSV member of a .zip, streamed."""
    if path.suffix.lower() != ".zip":
        with open(path, encoding="utf-8-sig", newline="") as text:
            yield text
        return
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ReplayFileError(f"{path}: not a readable zip file ({exc})") from None
    with archive:
        members = [i for i in archive.infolist() if not i.is_dir()]
        if len(members) != 1:
            names = ", ".join(i.filename for i in members) or "none"
            raise ReplayFileError(f"{path}: expected one CSV member, found {len(members)} ({names})")
        if problem := misnamed_member(path, members[0].filename):
            raise ReplayFileError(problem)
        with archive.open(members[0]) as raw:
            yield io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def bounded_lines(path: Path, text: TextIO) -> Iterator[str]:
    """The file's lines, refusing one longer than any archive row could be: a file with no line
    break (damage, or a hostile zip that inflates to gigabytes) must not be read whole into
    memory in search of the end of its first line."""
    readline, n = text.readline, 0
    while line := readline(MAX_LINE):
        n += 1
        if len(line) == MAX_LINE and not line.endswith("\n"):
            raise ReplayFileError(f"{path}:{n}: a line longer than {MAX_LINE:,} characters: not a Binance archive CSV")
        yield line


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def first_row(file: ArchiveFile, reader: Reader) -> list[list[str]] | None:
    """The first data row (as a one-row list to chain), after a header if the file has one."""
    try:
        row = next(reader, None)
        if row and is_number(row[0]):
            return [row]  # older archive files have no header row
        if row is not None:
            expected = COLUMNS[file.kind]
            if len(row) != len(expected) or row[0] != expected[0]:
                raise ReplayFileError(
                    f"{file.path}:1: header {','.join(row)!r} is not a {file.kind} header; "
                    f"expected {len(expected)} columns {','.join(expected)!r}"
                )
            row = next(reader, None)
    except DAMAGED as exc:
        raise damaged(file.path, reader.line_num + 1, exc) from None  # the line being read when it failed
    return None if row is None else [row]


def damaged(path: Path, line: int, exc: BaseException) -> ReplayFileError:
    """A file that failed while `line` was read. A wrong zip checksum is found only at the end of the
    member, wherever the damage is: naming the line reached then would send the user to a good row."""
    if isinstance(exc, zipfile.BadZipFile) and "CRC" in str(exc):
        return ReplayFileError(
            f"{path}: the file is damaged: its content does not match the zip's checksum "
            "(a byte changed after the zip was written); download it again"
        )
    return ReplayFileError(f"{path}:{line}: the file is damaged or not CSV text ({exc})")


def bad_row(file: ArchiveFile, line: int, row: list[str], exc: Exception) -> ReplayFileError:
    """Find what is wrong with a row the fast path choked on (slow, runs once)."""
    columns = COLUMNS[file.kind]
    where = f"{file.path}:{line}"
    if isinstance(exc, DAMAGED):
        # Failed while reading the next line, which csv has not counted yet.
        return damaged(file.path, line + 1, exc)
    text = ",".join(row)
    if len(row) != len(columns):
        return ReplayFileError(
            f"{where}: {len(row)} columns where a {file.kind} row has {len(columns)} ({','.join(columns)}): {text!r}"
        )
    for name, value in zip(columns, row, strict=True):
        kind = _TYPES.get(name)
        try:
            if kind == "int":
                int(value)
            elif kind == "decimal" and not Decimal(value).is_finite():
                return ReplayFileError(f"{where}: {name} {value!r} is not a finite number: {text!r}")
            elif kind == "bool" and value not in BOOL:
                raise ValueError
        except (ValueError, ArithmeticError):
            what = {"int": "an integer", "decimal": "a number", "bool": "true or false"}[kind or ""]
            return ReplayFileError(f"{where}: {name} {value!r} is not {what}: {text!r}")
    return ReplayFileError(f"{where}: cannot parse {text!r} ({exc})")


def _stamp(ms: int) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    except (OverflowError, OSError, ValueError):  # a time no calendar holds: the message says the number
        return str(ms)


def disorder(file: ArchiveFile, line: int, time: int, prev: int) -> ReplayFileError:
    if time > LAST_MS:
        # Not a hypothetical: one row stamped in the year 3e9 sent the engine's timers through
        # every day up to it, and the backtest never ended.
        return ReplayFileError(
            f"{file.path}:{line}: time {time} is after {_stamp(LAST_MS)}: not a time Binance wrote "
            "(milliseconds or microseconds since 1970 are expected)"
        )
    if time == prev:
        return ReplayFileError(
            f"{file.path}:{line}: time {_stamp(time)} ({time}) repeats the time of the row before it; "
            f"a {file.kind} series has one row per time (is a row duplicated, or do two files overlap?)"
        )
    return ReplayFileError(
        f"{file.path}:{line}: time {_stamp(time)} ({time}) is before {_stamp(prev)}, the time of the row "
        "before it; rows must be in time order (are the rows reversed, or do two files of the same series "
        "overlap, e.g. a monthly file and its daily files?)"
    )


def impossible(file: ArchiveFile, line: int, row: list[str], why: str) -> ReplayFileError:
    return ReplayFileError(f"{file.path}:{line}: {why}: {','.join(row)!r}")


def repeated_id(file: ArchiveFile, line: int, row: list[str], name: str, ident: int, prev: int) -> ReplayFileError:
    if ident == prev:
        return impossible(file, line, row, f"{name} {ident} repeats the id of the row before it (a duplicated row?)")
    return impossible(file, line, row, f"{name} {ident} is below {prev}, the id of the row before it")


def wrong_span(file: ArchiveFile, line: int, row: list[str], open_time: int, close_time: int) -> ReplayFileError:
    span = close_time - open_time + 1
    said = f"{span // 60_000}m" if span % 60_000 == 0 else f"{span} ms"
    return impossible(
        file,
        line,
        row,
        f"the bar lasts {said} (open time {open_time}, close time {close_time}), but the file's name says "
        f"{file.interval} bars: is the file misnamed?",
    )


def bad_bar(file: ArchiveFile, line: int, row: list[str], o: Decimal, h: Decimal, lo: Decimal) -> ReplayFileError:
    if h < lo:
        why = f"high {h} is below low {lo}"
    elif not h < HUGE:
        why = f"high {h} is not a finite price"
    elif lo <= 0 and file.kind != "premiumIndexKlines":
        why = f"low {lo} is not above zero"
    else:
        why = "open and close must lie between low and high"
    return impossible(file, line, row, f"impossible {file.kind} bar: {why}")


# Prices at or above this are damage, not a market (Decimal has no upper bound of its own).
HUGE = Decimal("1e30")
ZERO = Decimal(0)
