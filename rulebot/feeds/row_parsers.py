"""Binance archive CSV rows parsed one at a time with the csv module into market events.

The reference parser: `columnar.py` must give exactly its events, and hands a file over to it
whenever a chunk is not plainly valid, so that every bad file fails here, with the line and the
fault named. Rows become `Decimal`s and ints with no per-row regex or dict.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Generator, Iterable
from decimal import Decimal
from itertools import chain

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
from rulebot.feeds.archive_format import (
    BOOL,
    HUGE,
    LAST_MS,
    MICROS,
    NO_END,
    ROW_ERRORS,
    ZERO,
    ArchiveFile,
    Reader,
    bad_bar,
    bad_row,
    bounded_lines,
    disorder,
    first_row,
    impossible,
    open_text,
    repeated_id,
    wrong_span,
)


def parse_rows(
    file: ArchiveFile, start: int = 0, end: int = NO_END, floor: int = 0
) -> Generator[MarketEvent, None, int]:
    """Stream a file's events with `start <= time < end`, in file order.

    Rows must not go back in time, nor below `floor` (the last time of the file before it in
    the same series); returns the last time seen, to chain the next file's `floor`.
    Raises ReplayFileError naming the file and line of the first bad row.
    """
    with open_text(file.path) as text:
        reader = csv.reader(bounded_lines(file.path, text))
        first = first_row(file, reader)
        if first is None:
            return floor
        parse = _PARSERS[file.kind]
        return (yield from parse(file, reader, chain(first, reader), start, end, floor))


Rows = Iterable[list[str]]
Loop = Generator[MarketEvent, None, int]

# The loops below repeat the same shape on purpose: unpacking the row into names, inline time
# checks and positional constructors keep each row to a handful of C calls. A wrong column
# count fails the unpacking, a bad number fails int()/Decimal(); both land in the except
# clause, which names the line. Impossible values are refused with one chained comparison per
# row: `0 < price < HUGE` is false for zero, negatives and Infinity, and raises for NaN
# (InvalidOperation), which `bad_row` then names.


def _agg_trades(file: ArchiveFile, reader: Reader, rows: Rows, start: int, end: int, prev: int) -> Loop:
    symbol, D, is_maker, huge = file.symbol, Decimal, BOOL, HUGE
    row: list[str] = []
    prev_id = -1
    try:
        for row in rows:
            agg_id_text, price_text, qty_text, first_id, last_id, t_text, maker = row
            t = int(t_text)
            if t > MICROS:
                t //= 1000
            if not prev <= t <= LAST_MS:
                raise disorder(file, reader.line_num, t, prev)
            prev = t
            agg_id = int(agg_id_text)
            if agg_id <= prev_id:
                raise repeated_id(file, reader.line_num, row, "agg_trade_id", agg_id, prev_id)
            prev_id = agg_id
            if t < start:
                continue
            if t >= end:
                return prev
            price, qty = D(price_text), D(qty_text)
            if not (0 < price < huge and 0 < qty < huge):
                raise impossible(file, reader.line_num, row, "a trade's price and quantity must be above zero")
            yield Trade(
                symbol,
                price,
                qty,
                t,
                is_maker[maker],
                agg_id,
                int(first_id),
                int(last_id),
            )
    except ROW_ERRORS as exc:
        raise bad_row(file, reader.line_num, row, exc) from None
    return prev


def _trades(file: ArchiveFile, reader: Reader, rows: Rows, start: int, end: int, prev: int) -> Loop:
    symbol, D, is_maker, huge = file.symbol, Decimal, BOOL, HUGE
    row: list[str] = []
    prev_id = -1
    try:
        for row in rows:
            id_text, price_text, qty_text, _other_qty, t_text, maker = row
            t = int(t_text)
            if t > MICROS:
                t //= 1000
            if not prev <= t <= LAST_MS:
                raise disorder(file, reader.line_num, t, prev)
            prev = t
            trade_id = int(id_text)
            if trade_id <= prev_id:
                raise repeated_id(file, reader.line_num, row, "id", trade_id, prev_id)
            prev_id = trade_id
            if t < start:
                continue
            if t >= end:
                return prev
            price, qty = D(price_text), D(qty_text)
            if not (0 < price < huge and 0 < qty < huge):
                raise impossible(file, reader.line_num, row, "a trade's price and quantity must be above zero")
            yield Trade(symbol, price, qty, t, is_maker[maker], trade_id)
    except ROW_ERRORS as exc:
        raise bad_row(file, reader.line_num, row, exc) from None
    return prev


def _book_ticker(file: ArchiveFile, reader: Reader, rows: Rows, start: int, end: int, prev: int) -> Loop:
    symbol, D, huge = file.symbol, Decimal, HUGE
    row: list[str] = []
    prev_id = -1
    try:
        for row in rows:
            id_text, bid_text, bid_qty_text, ask_text, ask_qty_text, _transaction_time, t_text = row
            # event time (E), when Binance sent the quote; the files are in its order
            t = int(t_text)
            if t > MICROS:
                t //= 1000
            if not prev <= t <= LAST_MS:
                raise disorder(file, reader.line_num, t, prev)
            prev = t
            update_id = int(id_text)
            if update_id <= prev_id:
                raise repeated_id(file, reader.line_num, row, "update_id", update_id, prev_id)
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
                raise impossible(file, reader.line_num, row, why)
            yield BookTop(symbol, bid, bid_qty, ask, ask_qty, t, update_id)
    except ROW_ERRORS as exc:
        raise bad_row(file, reader.line_num, row, exc) from None
    return prev


def _funding(file: ArchiveFile, reader: Reader, rows: Rows, start: int, end: int, prev: int) -> Loop:
    symbol = file.symbol
    row: list[str] = []
    try:
        for row in rows:
            t_text, hours_text, rate_text = row
            t = int(t_text)
            if t > MICROS:
                t //= 1000
            if not prev < t <= LAST_MS:
                raise disorder(file, reader.line_num, t, prev)
            prev = t
            if t < start:
                continue
            if t >= end:
                return prev
            rate, hours = Decimal(rate_text), int(hours_text)
            if not (-1 < rate < 1 and 0 < hours <= 24):
                raise impossible(
                    file, reader.line_num, row, "a funding rate lies between -100% and 100%, every 1 to 24 hours"
                )
            yield FundingRate(symbol, rate, t, None, hours)
    except ROW_ERRORS as exc:
        raise bad_row(file, reader.line_num, row, exc) from None
    return prev


def _klines(file: ArchiveFile, reader: Reader, rows: Rows, start: int, end: int, prev: int) -> Loop:
    symbol, timeframe, D, zero, huge = file.symbol, file.interval or "", Decimal, ZERO, HUGE
    span = file.bar_ms() - 1  # close time - open time of each bar; -1: not checked
    row: list[str] = []
    try:
        for row in rows:
            ot, o_text, h_text, lo_text, c_text, vol_text, ct, quote_vol, count, taker_vol, _tq, _ignore = row
            t = int(ct)  # a candle happens when it closes
            if t > MICROS:
                t //= 1000
            if not prev < t <= LAST_MS:
                raise disorder(file, reader.line_num, t, prev)
            prev = t
            if t < start:
                continue
            if t >= end:
                return prev
            open_time = int(ot)
            if open_time > MICROS:
                open_time //= 1000
            o, h, lo, c, vol = D(o_text), D(h_text), D(lo_text), D(c_text), D(vol_text)
            if not (
                zero < lo <= o <= h < huge
                and lo <= c <= h
                and zero <= vol
                and open_time < t
                and span in (-1, t - open_time)
            ):
                if not zero <= vol:
                    raise impossible(file, reader.line_num, row, f"volume {vol} is negative")
                if not open_time < t:
                    raise impossible(file, reader.line_num, row, "the bar opens after it closes")
                if span not in (-1, t - open_time):
                    raise wrong_span(file, reader.line_num, row, open_time, t)
                raise bad_bar(file, reader.line_num, row, o, h, lo)
            yield CandleClosed(
                symbol,
                timeframe,
                open_time,
                t,
                o,
                h,
                lo,
                c,
                vol,
                D(quote_vol),
                int(count),
                D(taker_vol),
            )
    except ROW_ERRORS as exc:
        raise bad_row(file, reader.line_num, row, exc) from None
    return prev


def _price_klines(file: ArchiveFile, reader: Reader, rows: Rows, start: int, end: int, prev: int) -> Loop:
    """Mark, index and premium-index klines: one price event per bar, its close at close time.
    A mark bar's event also carries the bar's open, high and low (the mark walk needs them)."""
    make: Callable[[str, Decimal, int], MarketEvent] = _PRICE_EVENTS[file.kind]
    mark = file.kind == "markPriceKlines"
    symbol, D, huge = file.symbol, Decimal, HUGE
    # A premium index is a spread: zero or negative is a real value; a price is above zero.
    floor = -HUGE if file.kind == "premiumIndexKlines" else ZERO
    span = file.bar_ms() - 1  # close time - open time of each bar; -1: not checked
    row: list[str] = []
    try:
        for row in rows:
            ot, o_text, h_text, lo_text, c_text, _vol, ct, _qv, _count, _tv, _tqv, _ignore = row
            t = int(ct)
            if t > MICROS:
                t //= 1000
            if not prev < t <= LAST_MS:
                raise disorder(file, reader.line_num, t, prev)
            prev = t
            if t < start:
                continue
            if t >= end:
                return prev
            o, h, lo, c = D(o_text), D(h_text), D(lo_text), D(c_text)
            if not (floor < lo <= o <= h < huge and lo <= c <= h):
                raise bad_bar(file, reader.line_num, row, o, h, lo)
            open_time = int(ot)
            if open_time > MICROS:
                open_time //= 1000
            if span not in (-1, t - open_time):
                raise wrong_span(file, reader.line_num, row, open_time, t)
            if mark:
                yield MarkPrice(symbol, c, t, None, None, None, 0, open_time, o, h, lo)
            else:
                yield make(symbol, c, t)
    except ROW_ERRORS as exc:
        raise bad_row(file, reader.line_num, row, exc) from None
    return prev


_PRICE_EVENTS: dict[str, Callable[[str, Decimal, int], MarketEvent]] = {
    "markPriceKlines": MarkPrice,
    "indexPriceKlines": IndexPrice,
    "premiumIndexKlines": PremiumIndex,
}
_PARSERS: dict[str, Callable[[ArchiveFile, Reader, Rows, int, int, int], Loop]] = {
    "klines": _klines,
    "markPriceKlines": _price_klines,
    "indexPriceKlines": _price_klines,
    "premiumIndexKlines": _price_klines,
    "aggTrades": _agg_trades,
    "trades": _trades,
    "bookTicker": _book_ticker,
    "fundingRate": _funding,
}
