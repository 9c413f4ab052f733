"""Order in Binance's market streams, by the exchange's own sequence numbers: which frames are
new, which are repeats (a 24-hour rollover overlaps two connections; a reconnect replays), and
where a hole lies that REST must fill. Pure: no clock, no I/O; the stream client asks, fetches
what is missing and reports.

    verdict = seq.check(event)          # FRESH, DUPLICATE, a TradeGap or a CandleGap
    ...fetch and `seq.accept_backfill(...)` what the gap lacks...
    seq.accept(event)

Trades are numbered by aggregate trade id, candles by open time, the book by update id; mark
prices and liquidations carry only an event time, so older-or-equal ones are repeats.

A number at or below the newest seen is a repeat only while its time is not later than the
newest's: a repeat is the same frame, with the same time. One numbered below yet stamped more
than `RESTART_MS` later is no repeat but a numbering that started again (an exchange that
restarted: `rulebot fake-exchange` run anew, a testnet reset); taking it as a repeat would drop
every trade and book update of that stream for good while the mark price kept the feed looking
fresh. It is `Seen.RESTARTED`: taken as new, counted from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from rulebot.binance.payloads.market import DepthUpdate, Liquidation
from rulebot.core.events import BookTop, CandleClosed, MarkPrice, Trade


class Seen(Enum):
    FRESH = "fresh"  # newer than anything seen on its stream, with nothing missing before it
    DUPLICATE = "duplicate"  # seen already (or older than what was): drop it
    RESTARTED = "restarted"  # numbered below what was seen yet later than it: a new numbering, take it


@dataclass(frozen=True, slots=True)
class TradeGap:
    """Aggregate trades `first..last` of `symbol` never arrived: the event after them did."""

    symbol: str
    first: int
    last: int


@dataclass(frozen=True, slots=True)
class CandleGap:
    """Candles between `last` (the newest seen) and `upto` (the one that just arrived) are missing."""

    last: CandleClosed
    upto: CandleClosed


Verdict = Seen | TradeGap | CandleGap
# A repeat carries its first delivery's time; the margin keeps a repeat whose time were stamped
# per connection (a rollover's two sockets) from passing for a restart.
RESTART_MS = 1_000


class Sequencer:
    """The newest sequence number seen on each stream, and what a new frame means against it."""

    def __init__(self) -> None:
        self._trade: dict[str, int] = {}
        self._trade_time: dict[str, int] = {}  # the time of the newest trade taken, per symbol
        self._candle: dict[tuple[str, str], CandleClosed] = {}
        self._seq: dict[tuple[type, str], int] = {}
        self._seq_time: dict[tuple[type, str], int] = {}  # the time of the newest numbered frame taken

    def check(self, event: object) -> Verdict:
        """What `event` is against what was seen; changes nothing (call `accept` to take it)."""
        if isinstance(event, Trade):
            last = self._trade.get(event.symbol)
            if last is None:
                return Seen.FRESH
            if event.trade_id <= last:
                return _repeat_or_restart(event.time, self._trade_time.get(event.symbol))
            return TradeGap(event.symbol, last + 1, event.trade_id - 1) if event.trade_id > last + 1 else Seen.FRESH
        if isinstance(event, CandleClosed):
            newest = self._candle.get((event.symbol, event.timeframe))
            if newest is None:
                return Seen.FRESH
            if event.open_time <= newest.open_time:
                return Seen.DUPLICATE
            return CandleGap(newest, event) if event.open_time > newest.close_time + 1 else Seen.FRESH
        key_seq = _key_and_seq(event)
        if key_seq is None:
            return Seen.FRESH
        key, seq, time = key_seq
        if seq > self._seq.get(key, -1):
            return Seen.FRESH
        if key[0] is MarkPrice or key[0] is Liquidation:
            return Seen.DUPLICATE  # numbered by their time: one at or below the newest is a repeat
        return _repeat_or_restart(time, self._seq_time.get(key))

    def accept(self, event: object) -> None:
        """Take `event` as the newest of its stream."""
        if isinstance(event, Trade):
            self._trade[event.symbol] = event.trade_id
            self._trade_time[event.symbol] = event.time
        elif isinstance(event, CandleClosed):
            self._candle[(event.symbol, event.timeframe)] = event
        else:
            key_seq = _key_and_seq(event)
            if key_seq is not None:
                key, self._seq[key], self._seq_time[key] = key_seq

    def accept_trade(self, trade: Trade, first: int, last: int) -> bool:
        """A trade fetched to fill `first..last`: taken (True) when inside the hole and newer
        than what was delivered since; REST may answer with more, or with repeats."""
        if first <= trade.trade_id <= last and trade.trade_id > self._trade.get(trade.symbol, -1):
            self._trade[trade.symbol] = trade.trade_id
            self._trade_time[trade.symbol] = trade.time
            return True
        return False

    def accept_candle(self, candle: CandleClosed, gap: CandleGap) -> bool:
        """A candle fetched to fill `gap`: taken (True) when it opens inside it, after the newest."""
        newest = self._candle[(gap.last.symbol, gap.last.timeframe)]
        inside = gap.last.close_time + 1 <= candle.open_time <= gap.upto.open_time - 1
        if inside and candle.open_time > newest.open_time:
            self._candle[(candle.symbol, candle.timeframe)] = candle
            return True
        return False

    def last_trade_id(self, symbol: str) -> int | None:
        return self._trade.get(symbol)

    def newest_candle(self, symbol: str, timeframe: str) -> CandleClosed | None:
        return self._candle.get((symbol, timeframe))


def _repeat_or_restart(time: int, newest_time: int | None) -> Seen:
    """A frame numbered at or below the newest taken: a repeat, unless it is clearly later."""
    if newest_time is not None and time > newest_time + RESTART_MS:
        return Seen.RESTARTED
    return Seen.DUPLICATE


def _key_and_seq(event: Any) -> tuple[tuple[type, str], int, int] | None:
    """The stream, the number and the time of a frame the sequencer orders by a number."""
    if isinstance(event, BookTop):
        return (BookTop, event.symbol), event.update_id, event.time
    if isinstance(event, DepthUpdate):
        return (DepthUpdate, event.symbol), event.final_update_id, event.time
    if isinstance(event, MarkPrice | Liquidation):
        return (type(event), event.symbol), event.time, event.time
    return None
