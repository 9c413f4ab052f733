"""Rows of Binance's archive CSV files (data.binance.vision) parsed into market events.

One file at a time, streamed: zip or plain CSV, with or without a header row. Rows are parsed
with the csv module into `Decimal`s and ints, with no per-row regex or dict, because a replay
is only as fast as these loops. Naming files and merging them is `replay.py`'s job.
"""

from __future__ import annotations

import calendar
import csv
import io
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from itertools import chain
from pathlib import Path
from typing import Protocol, TextIO

from rulebot.core.enums import Market
from rulebot.core.errors import UserError
from rulebot.core.events import (
    BookTop,
    CandleClosed,
    FundingRate,
    IndexPrice,
    MarketEvent,
    MarkPrice,
    PremiumIndex,
    Trade,
)

KLINE_KINDS = ("klines", "markPriceKlines", "indexPriceKlines", "premiumIndexKlines")
KINDS = (*KLINE_KINDS, "aggTrades", "trades", "bookTicker", "fundingRate")

_KLINE_COLUMNS = (
    "open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume",
    "count", "taker_buy_volume", "taker_buy_quote_volume", "ignore",
)  # fmt: skip
# The columns of each kind's rows, in order. COIN-M files name some differently (klines:
# base_volume, taker_buy_base_volume; trades: base_qty for quote_qty) at the same places.
COLUMNS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(KLINE_KINDS, _KLINE_COLUMNS),
    "aggTrades": (
        "agg_trade_id", "price", "quantity", "first_trade_id", "last_trade_id",
        "transact_time", "is_buyer_maker",
    ),
    "trades": ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker"),
    "bookTicker": (
        "update_id", "best_bid_price", "best_bid_qty", "best_ask_price", "best_ask_qty",
        "transaction_time", "event_time",
    ),
    "fundingRate": ("calc_time", "funding_interval_hours", "last_funding_rate"),
}  # fmt: skip
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
_BOOL = {"true": True, "false": False, "True": True, "False": False}
# Milliseconds stay below 1e14 until the year 5138; anything larger is microseconds (the
# spot archive switched to them in 2025).
_MICROS = 100_000_000_000_000
NO_END = 2**62
_MAX_LINE = 65_536  # archive rows are under 200 characters
# No archive row is stamped after 2100; a later one is damage, and would make the engine walk its
# timers through every day up to it.
_LAST_MS = 4_102_444_800_000
# Damaged files fail while rows are read: zip CRC, truncated or bad deflate data, bad UTF-8.
_DAMAGED = (csv.Error, UnicodeError, zipfile.BadZipFile, EOFError, zlib.error)
_ROW_ERRORS = (ValueError, ArithmeticError, KeyError, *_DAMAGED)


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


class _Reader(Protocol):
    """csv.reader's iterator, whose line_num names the line of the row just read."""

    @property
    def line_num(self) -> int: ...

    def __iter__(self) -> Iterator[list[str]]: ...

    def __next__(self) -> list[str]: ...


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
        with archive.open(members[0]) as raw:
            yield io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def parse_file(
    file: ArchiveFile, start: int = 0, end: int = NO_END, floor: int = 0
) -> Generator[MarketEvent, None, int]:
    """Stream a file's events with `start <= time < end`, in file order.

    Rows must not go back in time, nor below `floor` (the last time of the file before it in
    the same series); returns the last time seen, to chain the next file's `floor`.
    Raises ReplayFileError naming the file and line of the first bad row.
    """
    with open_text(file.path) as text:
        reader = csv.reader(_bounded_lines(file.path, text))
        first = _first_row(file, reader)
        if first is None:
            return floor
        parse = _PARSERS[file.kind]
        return (yield from parse(file, reader, chain(first, reader), start, end, floor))


def _bounded_lines(path: Path, text: TextIO) -> Iterator[str]:
    """The file's lines, refusing one longer than any archive row could be: a file with no line
    break (damage, or a hostile zip that inflates to gigabytes) must not be read whole into
    memory in search of the end of its first line."""
    readline, n = text.readline, 0
    while line := readline(_MAX_LINE):
        n += 1
        if len(line) == _MAX_LINE and not line.endswith("\n"):
            raise ReplayFileError(f"{path}:{n}: a line longer than {_MAX_LINE:,} characters: not a Binance archive CSV")
        yield line


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _first_row(file: ArchiveFile, reader: _Reader) -> list[list[str]] | None:
    """The first data row (as a one-row list to chain), after a header if the file has one."""
    try:
        row = next(reader, None)
        if row and _is_number(row[0]):
            return [row]  # older archive files have no header row
        if row is not None:
            expected = COLUMNS[file.kind]
            if len(row) != len(expected) or row[0] != expected[0]:
                raise ReplayFileError(
                    f"{file.path}:1: header {','.join(row)!r} is not a {file.kind} header; "
                    f"expected {len(expected)} columns {','.join(expected)!r}"
                )
            row = next(reader, None)
    except _DAMAGED as exc:
        where = f"{file.path}:{reader.line_num + 1}"  # the line being read when it failed
        raise ReplayFileError(f"{where}: the file is damaged or not CSV text ({exc})") from None
    return None if row is None else [row]


def _bad_row(file: ArchiveFile, line: int, row: list[str], exc: Exception) -> ReplayFileError:
    """Find what is wrong with a row the fast path choked on (slow, runs once)."""
    columns = COLUMNS[file.kind]
    where = f"{file.path}:{line}"
    if isinstance(exc, _DAMAGED):
        # Failed while reading the next line, which csv has not counted yet.
        return ReplayFileError(f"{file.path}:{line + 1}: the file is damaged or not CSV text ({exc})")
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
            elif kind == "bool" and value not in _BOOL:
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


def _disorder(file: ArchiveFile, line: int, time: int, prev: int) -> ReplayFileError:
    if time > _LAST_MS:
        # Not a hypothetical: one row stamped in the year 3e9 sent the engine's timers through
        # every day up to it, and the backtest never ended.
        return ReplayFileError(
            f"{file.path}:{line}: time {time} is after {_stamp(_LAST_MS)}: not a time Binance wrote "
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


def _impossible(file: ArchiveFile, line: int, row: list[str], why: str) -> ReplayFileError:
    return ReplayFileError(f"{file.path}:{line}: {why}: {','.join(row)!r}")


def _repeated_id(file: ArchiveFile, line: int, row: list[str], name: str, ident: int, prev: int) -> ReplayFileError:
    if ident == prev:
        return _impossible(file, line, row, f"{name} {ident} repeats the id of the row before it (a duplicated row?)")
    return _impossible(file, line, row, f"{name} {ident} is below {prev}, the id of the row before it")


Rows = Iterable[list[str]]
Loop = Generator[MarketEvent, None, int]

# The loops below repeat the same shape on purpose: unpacking the row into names, inline time
# checks and positional constructors keep each row to a handful of C calls. A wrong column
# count fails the unpacking, a bad number fails int()/Decimal(); both land in the except
# clause, which names the line. Impossible values are refused with one chained comparison per
# row: `0 < price < _HUGE` is false for zero, negatives and Infinity, and raises for NaN
# (InvalidOperation), which `_bad_row` then names.
_HUGE = Decimal("1e30")
_ZERO = Decimal(0)


def _agg_trades(file: ArchiveFile, reader: _Reader, rows: Rows, start: int, end: int, prev: int) -> Loop:
    symbol, D, is_maker, huge = file.symbol, Decimal, _BOOL, _HUGE
    row: list[str] = []
    prev_id = -1
    try:
        for row in rows:
            agg_id_text, price_text, qty_text, first_id, last_id, t_text, maker = row
            t = int(t_text)
            if t > _MICROS:
                t //= 1000
            if not prev <= t <= _LAST_MS:
                raise _disorder(file, reader.line_num, t, prev)
            prev = t
            agg_id = int(agg_id_text)
            if agg_id <= prev_id:
                raise _repeated_id(file, reader.line_num, row, "agg_trade_id", agg_id, prev_id)
            prev_id = agg_id
            if t < start:
                continue
            if t >= end:
                return prev
            price, qty = D(price_text), D(qty_text)
            if not (0 < price < huge and 0 < qty < huge):
                raise _impossible(file, reader.line_num, row, "a trade's price and quantity must be above zero")
            yield Trade(
                symbol, price, qty, t, is_maker[maker], agg_id, int(first_id), int(last_id),
            )  # fmt: skip
    except _ROW_ERRORS as exc:
        raise _bad_row(file, reader.line_num, row, exc) from None
    return prev


def _trades(file: ArchiveFile, reader: _Reader, rows: Rows, start: int, end: int, prev: int) -> Loop:
    symbol, D, is_maker, huge = file.symbol, Decimal, _BOOL, _HUGE
    row: list[str] = []
    prev_id = -1
    try:
        for row in rows:
            id_text, price_text, qty_text, _other_qty, t_text, maker = row
            t = int(t_text)
            if t > _MICROS:
                t //= 1000
            if not prev <= t <= _LAST_MS:
                raise _disorder(file, reader.line_num, t, prev)
            prev = t
            trade_id = int(id_text)
            if trade_id <= prev_id:
                raise _repeated_id(file, reader.line_num, row, "id", trade_id, prev_id)
            prev_id = trade_id
            if t < start:
                continue
            if t >= end:
                return prev
            price, qty = D(price_text), D(qty_text)
            if not (0 < price < huge and 0 < qty < huge):
                raise _impossible(file, reader.line_num, row, "a trade's price and quantity must be above zero")
            yield Trade(symbol, price, qty, t, is_maker[maker], trade_id)
    except _ROW_ERRORS as exc:
        raise _bad_row(file, reader.line_num, row, exc) from None
    return prev


def _book_ticker(file: ArchiveFile, reader: _Reader, rows: Rows, start: int, end: int, prev: int) -> Loop:
    symbol, D, huge = file.symbol, Decimal, _HUGE
    row: list[str] = []
    prev_id = -1
    try:
        for row in rows:
            id_text, bid_text, bid_qty_text, ask_text, ask_qty_text, _transaction_time, t_text = row
            # event time (E), when Binance sent the quote; the files are in its order
            t = int(t_text)
            if t > _MICROS:
                t //= 1000
            if not prev <= t <= _LAST_MS:
                raise _disorder(file, reader.line_num, t, prev)
            prev = t
            update_id = int(id_text)
            if update_id <= prev_id:
                raise _repeated_id(file, reader.line_num, row, "update_id", update_id, prev_id)
            prev_id = update_id
            if t < start:
                continue
            if t >= end:
                return prev
            bid, bid_qty, ask, ask_qty = D(bid_text), D(bid_qty_text), D(ask_text), D(ask_qty_text)
            if not (0 < bid <= ask < huge and 0 <= bid_qty < huge and 0 <= ask_qty < huge):
                why = (
                    "crossed book: the bid is above the ask"
                    if 0 < ask < bid < huge
                    else ("a quote's prices must be above zero and its quantities not negative")
                )
                raise _impossible(file, reader.line_num, row, why)
            yield BookTop(symbol, bid, bid_qty, ask, ask_qty, t, update_id)
    except _ROW_ERRORS as exc:
        raise _bad_row(file, reader.line_num, row, exc) from None
    return prev


def _funding(file: ArchiveFile, reader: _Reader, rows: Rows, start: int, end: int, prev: int) -> Loop:
    symbol = file.symbol
    row: list[str] = []
    try:
        for row in rows:
            t_text, hours_text, rate_text = row
            t = int(t_text)
            if t > _MICROS:
                t //= 1000
            if not prev < t <= _LAST_MS:
                raise _disorder(file, reader.line_num, t, prev)
            prev = t
            if t < start:
                continue
            if t >= end:
                return prev
            rate, hours = Decimal(rate_text), int(hours_text)
            if not (-1 < rate < 1 and 0 < hours <= 24):
                raise _impossible(
                    file, reader.line_num, row, "a funding rate lies between -100% and 100%, every 1 to 24 hours"
                )
            yield FundingRate(symbol, rate, t, None, hours)
    except _ROW_ERRORS as exc:
        raise _bad_row(file, reader.line_num, row, exc) from None
    return prev


def _bad_bar(file: ArchiveFile, line: int, row: list[str], o: Decimal, h: Decimal, lo: Decimal) -> ReplayFileError:
    if h < lo:
        why = f"high {h} is below low {lo}"
    elif not h < _HUGE:
        why = f"high {h} is not a finite price"
    elif lo <= 0 and file.kind != "premiumIndexKlines":
        why = f"low {lo} is not above zero"
    else:
        why = "open and close must lie between low and high"
    return _impossible(file, line, row, f"impossible {file.kind} bar: {why}")


def _klines(file: ArchiveFile, reader: _Reader, rows: Rows, start: int, end: int, prev: int) -> Loop:
    symbol, timeframe, D, zero, huge = file.symbol, file.interval or "", Decimal, _ZERO, _HUGE
    row: list[str] = []
    try:
        for row in rows:
            ot, o_text, h_text, lo_text, c_text, vol_text, ct, quote_vol, count, taker_vol, _tq, _ignore = row
            t = int(ct)  # a candle happens when it closes
            if t > _MICROS:
                t //= 1000
            if not prev < t <= _LAST_MS:
                raise _disorder(file, reader.line_num, t, prev)
            prev = t
            if t < start:
                continue
            if t >= end:
                return prev
            open_time = int(ot)
            if open_time > _MICROS:
                open_time //= 1000
            o, h, lo, c, vol = D(o_text), D(h_text), D(lo_text), D(c_text), D(vol_text)
            if not (zero < lo <= o <= h < huge and lo <= c <= h and zero <= vol and open_time < t):
                if not zero <= vol:
                    raise _impossible(file, reader.line_num, row, f"volume {vol} is negative")
                if not open_time < t:
                    raise _impossible(file, reader.line_num, row, "the bar opens after it closes")
                raise _bad_bar(file, reader.line_num, row, o, h, lo)
            yield CandleClosed(
                symbol, timeframe, open_time, t, o, h, lo, c, vol, D(quote_vol), int(count), D(taker_vol),
            )  # fmt: skip
    except _ROW_ERRORS as exc:
        raise _bad_row(file, reader.line_num, row, exc) from None
    return prev


def _price_klines(file: ArchiveFile, reader: _Reader, rows: Rows, start: int, end: int, prev: int) -> Loop:
    """Mark, index and premium-index klines: one price event per bar, its close at close time.
    A mark bar's event also carries the bar's open, high and low (the mark walk needs them)."""
    make: Callable[[str, Decimal, int], MarketEvent] = _PRICE_EVENTS[file.kind]
    mark = file.kind == "markPriceKlines"
    symbol, D, huge = file.symbol, Decimal, _HUGE
    # A premium index is a spread: zero or negative is a real value; a price is above zero.
    floor = -_HUGE if file.kind == "premiumIndexKlines" else _ZERO
    row: list[str] = []
    try:
        for row in rows:
            ot, o_text, h_text, lo_text, c_text, _vol, ct, _qv, _count, _tv, _tqv, _ignore = row
            t = int(ct)
            if t > _MICROS:
                t //= 1000
            if not prev < t <= _LAST_MS:
                raise _disorder(file, reader.line_num, t, prev)
            prev = t
            if t < start:
                continue
            if t >= end:
                return prev
            o, h, lo, c = D(o_text), D(h_text), D(lo_text), D(c_text)
            if not (floor < lo <= o <= h < huge and lo <= c <= h):
                raise _bad_bar(file, reader.line_num, row, o, h, lo)
            if mark:
                open_time = int(ot)
                if open_time > _MICROS:
                    open_time //= 1000
                yield MarkPrice(symbol, c, t, None, None, None, 0, open_time, o, h, lo)
            else:
                yield make(symbol, c, t)
    except _ROW_ERRORS as exc:
        raise _bad_row(file, reader.line_num, row, exc) from None
    return prev


_PRICE_EVENTS: dict[str, Callable[[str, Decimal, int], MarketEvent]] = {
    "markPriceKlines": MarkPrice,
    "indexPriceKlines": IndexPrice,
    "premiumIndexKlines": PremiumIndex,
}
_PARSERS: dict[str, Callable[[ArchiveFile, _Reader, Rows, int, int, int], Loop]] = {
    "klines": _klines,
    "markPriceKlines": _price_klines,
    "indexPriceKlines": _price_klines,
    "premiumIndexKlines": _price_klines,
    "aggTrades": _agg_trades,
    "trades": _trades,
    "bookTicker": _book_ticker,
    "fundingRate": _funding,
}
