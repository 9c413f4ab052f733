"""What the summary needs from the sampled curves, kept as the samples come (issue 14: memory flat
in the length of the data).

A backtest samples the account once a minute; a year is 525,600 samples. Keeping them all to
compute a drawdown and a Sharpe ratio at the end cost ~800 bytes a minute, so these accumulators
take each sample once and keep only running values: the peak and the deepest fall from it, the
time spent holding, the last equity of each day and hour, each month's numbers, each symbol's
own. Every number is computed exactly as the whole-list computation did (the same Decimal
operations on the same values, in the same order), so the summary does not change by a digit;
tests/backtest/test_tally.py holds the whole-list computations and proves it on random curves.

Plain values only (times in ms, Decimals, bools): testable without running anything.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rulebot.backtest.result import BacktestResult

ZERO = Decimal(0)
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


@dataclass(slots=True)
class DrawdownTally:
    """The deepest fall from a running peak, and when the value was back at that peak."""

    peak: Decimal | None = None  # the running peak (the first of equal values)
    peak_time: int = 0
    amount: Decimal = ZERO  # the deepest fall so far
    pct: Decimal | None = None  # of the peak it fell from; None when that peak was not above 0
    peak_at: int | None = None  # the deepest fall's peak and trough times
    trough_at: int | None = None
    fell_from: Decimal = ZERO  # the deepest fall's peak value
    recovered_at: int | None = None  # the first time after its trough the value was back at that peak

    def add(self, time: int, value: Decimal) -> None:
        if self.trough_at is not None and self.recovered_at is None and value >= self.fell_from:
            self.recovered_at = time
        peak = self.peak
        if peak is None or value > peak:
            self.peak, self.peak_time = value, time
        elif value < peak:  # at or above the peak the fall is 0, never deeper than one seen
            fall = peak - value
            if fall > self.amount:
                self.amount, self.pct = fall, fall / peak if peak > 0 else None
                self.peak_at, self.trough_at, self.fell_from = self.peak_time, time, peak
                self.recovered_at = None  # a recovery counts after this trough only

    def spell(self, end_time: int) -> tuple[int | None, int]:
        """When the value was back at the deepest fall's peak (None: never), and how long the fall
        lasted: from its peak to that recovery, or to `end_time`."""
        if self.peak_at is None:
            return None, 0
        if self.recovered_at is not None:
            return self.recovered_at, self.recovered_at - self.peak_at
        return None, end_time - self.peak_at


@dataclass(slots=True)
class ExposureTally:
    """Time spent holding a position: each sample holds until the next."""

    count: int = 0
    first: int = 0
    last: int = 0
    held: bool = False  # at the last sample
    held_ms: int = 0

    def add(self, time: int, held: bool) -> None:
        if self.count:
            if self.held:
                self.held_ms += time - self.last
        else:
            self.first = time
        self.last, self.held = time, held
        self.count += 1

    def share(self) -> Decimal | None:
        """Of the sampled time; None with fewer than two samples or no time between them."""
        if self.count < 2 or self.last <= self.first:
            return None
        return Decimal(self.held_ms) / Decimal(self.last - self.first)


@dataclass(slots=True)
class Closes:
    """The last value of each period (UTC day, hour) that has a sample, Decimal as sampled."""

    period_ms: int
    closes: list[Decimal] = field(default_factory=list)
    current: int | None = None

    def add(self, time: int, value: Decimal) -> None:
        k = time // self.period_ms
        if k != self.current:
            self.closes.append(value)
            self.current = k
        else:
            self.closes[-1] = value


@dataclass(slots=True)
class FloatCloses:
    """The last value of each period as a float (the sweep's hourly curve): 8 bytes an hour."""

    period_ms: int
    done: array[float] = field(default_factory=lambda: array("d"))
    last: Decimal | None = None  # the open period's last value, converted when it closes
    current: int | None = None

    def add(self, time: int, value: Decimal) -> None:
        k = time // self.period_ms
        if k != self.current:
            if self.last is not None:
                self.done.append(float(self.last))
            self.current = k
        self.last = value

    def closes(self) -> list[float]:
        return [*self.done, float(self.last)] if self.last is not None else []

    def returns(self) -> list[float]:
        """Each period's return over the one before; none after a close at or below zero."""
        closes = self.closes()
        return [b / a - 1.0 for a, b in pairwise(closes) if a > 0]


def month_span(ms: int) -> tuple[str, int, int]:
    """The UTC calendar month of `ms`: its key ("2024-06") and its first and next month's first ms."""
    d = datetime.fromtimestamp(ms / 1000, UTC)
    first = datetime(d.year, d.month, 1, tzinfo=UTC)
    following = datetime(d.year + d.month // 12, d.month % 12 + 1, 1, tzinfo=UTC)
    return d.strftime("%Y-%m"), int(first.timestamp()) * 1000, int(following.timestamp()) * 1000


@dataclass(frozen=True, slots=True)
class MonthRow:
    month: str  # 2024-06
    start_equity: Decimal
    end_equity: Decimal  # the month's last sample; the run's end equity for the last month
    max_drawdown_pct: Decimal  # within the month, from its own running peak; 0 if none


@dataclass(slots=True)
class MonthTally:
    """Each calendar month (UTC) with a sample: equity at its start and end, and its drawdown.

    A month starts at the equity the one before ended at (the start equity for the first), and
    its drawdown runs from that start's peak."""

    start_equity: Decimal
    done: list[MonthRow] = field(default_factory=list)
    key: str | None = None
    lo: int = 0  # the open month's span [lo, hi), so the key is formatted once a month
    hi: int = 0
    begin: Decimal = ZERO
    last: Decimal = ZERO
    peak: Decimal = ZERO
    worst: Decimal = ZERO
    low: Decimal | None = None  # the lowest value since the peak: only a lower one can fall further

    def add(self, time: int, value: Decimal) -> None:
        if not self.lo <= time < self.hi or self.key is None:
            key, self.lo, self.hi = month_span(time)
            if key != self.key:
                if self.key is None:
                    self.begin = self.last = self.start_equity
                else:
                    self.done.append(MonthRow(self.key, self.begin, self.last, self.worst))
                    self.begin = self.last
                self.key, self.peak, self.worst, self.low = key, self.begin, ZERO, None
        self.last = value
        peak = self.peak
        if value > peak:
            self.peak, self.low = value, None
        elif value < peak and peak > 0 and (self.low is None or value < self.low):
            # Decimal subtraction and division round correctly, so (peak - v) / peak cannot grow
            # unless v goes lower: the division is done only then.
            self.low = value
            fall = (peak - value) / peak
            if fall > self.worst:
                self.worst = fall

    def rows(self, end_equity: Decimal) -> list[MonthRow]:
        if self.key is None:
            return list(self.done)
        return [*self.done, MonthRow(self.key, self.begin, end_equity, self.worst)]


@dataclass(slots=True)
class PriceTally:
    """Buy and hold over the samples: the first and last price above 0, and the price's deepest
    fall from its running peak as a fraction. For a COIN-M account, also what a 1x long of the
    inverse contract, valued in the coin, went through: the lowest price and its deepest fall."""

    first: Decimal | None = None
    last: Decimal | None = None
    peak: Decimal | None = None
    worst: Decimal = ZERO
    low: Decimal | None = None  # the lowest price since the peak (see MonthTally.low)
    bottom: Decimal | None = None  # the lowest price before the running peak
    coin_worst: Decimal = ZERO  # the deepest fall of the 1x inverse long before the running peak

    def add(self, price: Decimal) -> None:
        if not price > 0:
            return
        if self.first is None:
            self.first = price
        self.last = price
        peak = self.peak
        if peak is None or price > peak:
            if self.low is not None and peak is not None:
                self.fold_fall(self.first, peak, self.low)
            self.peak, self.low = price, None
        elif price < peak and (self.low is None or price < self.low):
            self.low = price
            fall = (peak - price) / peak
            if fall > self.worst:
                self.worst = fall

    def drawdown(self) -> Decimal | None:
        return self.worst if self.peak is not None else None

    def fold_fall(self, first: Decimal, peak: Decimal, low: Decimal) -> None:
        """Fold a fall that a new peak has ended (from `peak` to the `low` after it) into the
        inverse tallies. Only its lowest point matters: the long's value falls as the price does."""
        if self.bottom is None or low < self.bottom:
            self.bottom = low
        fall = inverse_fall(first, peak, low)
        if fall > self.coin_worst:
            self.coin_worst = fall

    def inverse_hold(self) -> tuple[Decimal, Decimal] | None:
        """The return and deepest fall, in the coin, of a 1x long of an inverse contract from the
        first price to the last: worth 2 - first/price of the coin it started with. At half the
        first price that is nothing, and the long is gone for good (-100%)."""
        first, last, peak = self.first, self.last, self.peak
        if first is None or last is None or peak is None:
            return None
        bottom, worst = self.bottom, self.coin_worst
        if self.low is not None:  # the fall still open at the end
            bottom = self.low if bottom is None or self.low < bottom else bottom
            worst = max(worst, inverse_fall(first, peak, self.low))
        if bottom is not None and bottom * 2 <= first:
            return Decimal(-1), Decimal(1)
        return 1 - first / last, worst


def inverse_fall(first: Decimal, peak: Decimal, low: Decimal) -> Decimal:
    """How far, as a fraction, a 1x long of an inverse contract opened at `first` falls in coin
    terms from the price `peak` to `low`: its value is 2 - first/price; at most all of it."""
    fall = (first / low - first / peak) / (2 - first / peak)
    return min(fall, Decimal(1))


@dataclass(slots=True)
class SymbolTally:
    """One symbol's own curve: the start equity plus its net PnL, and whether it held a position."""

    start_equity: Decimal
    drawdown: DrawdownTally = field(default_factory=DrawdownTally)
    exposure: ExposureTally = field(default_factory=ExposureTally)

    def add(self, time: int, position: Decimal, pnl: Decimal) -> None:
        self.drawdown.add(time, self.start_equity + pnl)
        self.exposure.add(time, position != 0)

    def add_run(self, times: Sequence[int], position: Decimal, pnl: Decimal) -> None:
        """`add` at each of `times` for a position and PnL that stand (CurveTally.add_run)."""
        self.add(times[0], position, pnl)
        _exposure_run(self.exposure, times)


@dataclass(slots=True)
class CurveTally:
    """The account's sampled equity (and whether any symbol held a position), each symbol's
    own PnL curve, and each symbol's price: all the summary reads of the samples."""

    start_equity: Decimal
    samples: int = 0
    drawdown: DrawdownTally = field(default_factory=DrawdownTally)
    exposure: ExposureTally = field(default_factory=ExposureTally)
    days: Closes = field(default_factory=lambda: Closes(DAY_MS))
    hours: FloatCloses = field(default_factory=lambda: FloatCloses(HOUR_MS))
    months: MonthTally = field(init=False)
    symbols: dict[str, SymbolTally] = field(default_factory=dict)
    prices: dict[str, PriceTally] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.months = MonthTally(self.start_equity)

    def add(self, time: int, equity: Decimal, held: bool) -> None:
        self.samples += 1
        self.drawdown.add(time, equity)
        self.exposure.add(time, held)
        self.days.add(time, equity)
        self.hours.add(time, equity)
        self.months.add(time, equity)

    def add_run(self, times: Sequence[int], equity: Decimal, held: bool) -> None:
        """`add(t, equity, held)` at each of `times` (rising) for an equity that stands (the candle
        array path's flat runs): the same tallies. After the first time, the same value changes a
        drawdown or a month's numbers nowhere, a period's close only when the period changes, and the
        exposure adds up time held as one span."""
        self.add(times[0], equity, held)
        if len(times) > 1:
            self.samples += len(times) - 1
            _exposure_run(self.exposure, times)
            hour, day, months = times[0] // HOUR_MS, times[0] // DAY_MS, self.months
            for t in times[1:]:
                if t // HOUR_MS != hour:  # a day, and so a month, changes only with an hour
                    hour = t // HOUR_MS
                    self.hours.add(t, equity)
                    if t // DAY_MS != day:
                        day = t // DAY_MS
                        self.days.add(t, equity)
                        if not months.lo <= t < months.hi:
                            months.add(t, equity)

    def symbol(self, name: str) -> SymbolTally:
        tally = self.symbols.get(name)
        if tally is None:
            tally = self.symbols[name] = SymbolTally(self.start_equity)
        return tally

    def price(self, name: str) -> PriceTally:
        tally = self.prices.get(name)
        if tally is None:
            tally = self.prices[name] = PriceTally()
        return tally

    def daily_closes(self) -> list[Decimal]:
        """The start equity, then the last sampled equity of each UTC day that has a sample."""
        return [self.start_equity, *self.days.closes]


def _exposure_run(tally: ExposureTally, times: Sequence[int]) -> None:
    """ExposureTally.add at times[1:] with the flag its last add took: one span held, or none."""
    if len(times) > 1:
        if tally.held:
            tally.held_ms += times[-1] - tally.last
        tally.last = times[-1]
        tally.count += len(times) - 1


def drawdown_of(points: Iterable[tuple[int, Decimal]]) -> DrawdownTally:
    tally = DrawdownTally()
    for time, value in points:
        tally.add(time, value)
    return tally


def exposure_of(points: Iterable[tuple[int, bool]]) -> ExposureTally:
    tally = ExposureTally()
    for time, held in points:
        tally.add(time, held)
    return tally


def tally_of(result: BacktestResult) -> CurveTally:
    """The result's tally: the runner's, kept as it sampled; or, for a result made of lists (a
    test's, the web page's), the same tally fed from its curves."""
    if result.tally is not None:
        return result.tally
    tally = CurveTally(result.start_equity)
    symbols = result.all_symbols
    # Several symbols: the account holds at a sample time if any symbol's own curve does.
    held: dict[int, bool] = {}
    for curve in result.symbol_curves.values():
        for p in curve:
            held[p.time] = held.get(p.time, False) or p.position != 0
    several = len(symbols) > 1
    for e in result.equity_curve:
        tally.add(e.time, e.equity, held.get(e.time, False) if several else e.position != 0)
    for s in symbols:
        own = result.symbol_curves.get(s) or []
        mine = tally.symbol(s)
        for p in own:
            mine.add(p.time, p.position, p.pnl)
        price = tally.price(s)
        for q in own or (result.equity_curve if s == result.symbol else ()):
            price.add(q.price)
    return tally
