"""Candles per timeframe, built from trades or rolled up from shorter closed candles.

Binance's kline buckets start at multiples of the interval since the epoch, except weekly
ones, which start on Monday 00:00 UTC. A bucket closes as soon as the input shows it is over:
a trade (or any event) at or past its end, or a shorter candle that ends exactly at its end —
so a 15m candle rolled up from 1m klines closes with its last minute, not with the next one.
Buckets with no trade are emitted too (open = high = low = close = previous close, volume 0),
as Binance does, so that indicators count time, not activity. The market closes trade-built
buckets at each event of the symbol (a mark price, a book ticker: `SymbolMarket.clock_closes`),
so a quiet symbol's candle closes at its first event at or past the bucket's end, not at its next
trade; the builder then remembers where the next bucket starts (`_resume`), for the empty buckets
after it. A trade stamped before that (live, a trade that arrives after a mark price stamped later)
goes into the bucket being built: the one it belonged to has closed.

A candle rolled up from shorter ones is not emitted when its bucket is the builder's first and its
first shorter candle opens after the bucket's start: data starting at 10:20 holds 10:20-10:59 of the
10:00 hour, and a `candle_close 1h` rule or an indicator would take that part for the hour (its
open, high, low and volume). The bucket is built, for its close, and dropped (`skipped` says which).
Live, the market warms each timeframe from REST klines first (`SymbolMarket.warm`) and clears
`first`: its first bucket goes on from them as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from rulebot.core.frozen import fast_init

_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_MONDAY_OFFSET_MS = 4 * 86_400_000  # 1970-01-01 was a Thursday; weekly klines open on Mondays
MAX_EMPTY_CANDLES = 10_000  # a feed gap longer than this many buckets is not filled in


def timeframe_ms(tf: str) -> int:
    """`15m` → 900000."""
    return int(tf[:-1]) * _UNIT_MS[tf[-1]]


@fast_init  # the candle array path builds one per jumped candle for the history (issue 14)
@dataclass(frozen=True, slots=True)
class Candle:
    """A closed candle in floats: what indicators and conditions read."""

    timeframe: str
    open_time: int
    close_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class CandleBuilder:
    """One symbol's candles of one timeframe. `add_*` return the candles they closed."""

    __slots__ = (
        "_close",
        "_high",
        "_low",
        "_open",
        "_partial",
        "_resume",
        "_start",
        "_volume",
        "first",
        "interval",
        "last_close",
        "offset",
        "skipped",
        "timeframe",
    )

    def __init__(self, timeframe: str) -> None:
        self.timeframe = timeframe
        self.interval = timeframe_ms(timeframe)
        self.offset = _MONDAY_OFFSET_MS if timeframe.endswith("w") else 0
        self._start: int | None = None  # open time of the bucket being built
        self._resume: int | None = None  # no bucket being built: where the next one opens (None: not known)
        self._open = self._high = self._low = self._close = 0.0
        self._volume = 0.0
        self.last_close: float | None = None
        self.first = True  # no bucket was rolled up yet, nor any candle before the data's warmed into it
        self._partial = 0  # the bucket being built is a first one that the data starts inside: from then (ms)
        self.skipped: tuple[int, int] | None = None  # (bucket open, data start) of the partial first one dropped

    def bucket(self, time: int) -> int:
        return (time - self.offset) // self.interval * self.interval + self.offset

    def next_end(self) -> int | None:
        """When `advance` next closes a bucket (ms): the end of the one being built, or of the empty one
        after the last closed; None before the first input."""
        start = self._start if self._start is not None else self._resume
        return None if start is None else start + self.interval

    def advance(self, time: int) -> list[Candle]:
        """Close every bucket that ended at or before `time` (ms)."""
        start = self._start
        if start is None:
            start = self._resume  # the last bucket closed: the ones after it had no trade (empty)
            if start is None or time < start + self.interval:
                return []
            out: list[Candle] = []
            nxt = start
        else:
            if time < start + self.interval:
                return []
            out = self._closing()
            nxt = start + self.interval
        target = self.bucket(time)
        if target > nxt:
            # A quiet market still passes time: emit flat candles, but not for an outage of days.
            empties = min((target - nxt) // self.interval, MAX_EMPTY_CANDLES)
            last = self.last_close if self.last_close is not None else 0.0
            for k in range(empties):
                o = target - (empties - k) * self.interval
                out.append(Candle(self.timeframe, o, o + self.interval - 1, last, last, last, last, 0.0))
        self._start = None
        self._resume = target
        return out

    def add_trade(self, time: int, price: float, qty: float) -> list[Candle]:
        start = self._start
        if start is not None and time < start + self.interval:  # the bucket being built (the common case)
            if price > self._high:
                self._high = price
            elif price < self._low:
                self._low = price
            self._close = price
            self._volume += qty
            return []
        closed = self.advance(time) if start is not None or self._resume is not None else []
        start = self.bucket(time)
        resume = self._resume
        if resume is not None and start < resume:
            start = resume  # a trade stamped before the bucket an event opened: into that one
        self._start = start
        self._open = self._high = self._low = self._close = price
        self._volume = qty
        return closed

    def absorb(self, high: float, low: float, close: float, qtys: list[float]) -> None:
        """`add_trade` for trades of the bucket being built, folded by the fast backtest path
        (backtest/fast_trades.py): their highest and lowest price, the last, and their sizes."""
        if high > self._high:
            self._high = high
        if low < self._low:
            self._low = low
        self._close = close
        volume = self._volume
        for qty in qtys:  # one after another, as add_trade sums them: the same float
            volume += qty
        self._volume = volume

    def add_candle(self, c: Candle) -> list[Candle]:
        """Roll a shorter closed candle into this timeframe."""
        closed = self.advance(c.open_time) if self._start is not None else []
        start = self._start
        if start is None:
            start = self.start_bucket(c.open_time)
            self._open, self._high, self._low = c.open, c.high, c.low
            self._volume = 0.0
        else:
            self._high = max(self._high, c.high)
            self._low = min(self._low, c.low)
        self._close = c.close
        self._volume += c.volume
        if c.close_time + 1 >= start + self.interval:
            closed.extend(self._closing())
            self._start = None
        return closed

    def start_bucket(self, open_time: int) -> int:
        """A rolled-up bucket starts with a shorter candle opening at `open_time`: its open time."""
        start = self._start = self.bucket(open_time)
        if self.first:
            self.first = False
            if open_time != start:
                self._partial = open_time
        return start

    def _closing(self) -> list[Candle]:
        """The bucket being built is over: its candle, or none for a partial first bucket (whose
        close is still the last one seen, for flat candles after it)."""
        if not self._partial:
            return [self._emit()]
        assert self._start is not None
        self.last_close = self._close
        self.skipped = (self._start, self._partial)
        self._partial = 0
        return []

    def _emit(self) -> Candle:
        assert self._start is not None
        self.last_close = self._close
        return Candle(
            self.timeframe,
            self._start,
            self._start + self.interval - 1,
            self._open,
            self._high,
            self._low,
            self._close,
            self._volume,
        )
