"""The numbers a trader judges a strategy by, beyond its PnL: risk-adjusted returns, how long
drawdowns and trades last, month by month, and what simply holding the symbol would have done.

Conventions (said in the summary too): Sharpe and Sortino are annualised from daily returns
of equity with 365 days a year (crypto trades every day) and a risk-free rate of 0. A day's
return is its last equity (UTC) over the one before (the start equity before the first day);
the last day may be partial. CAGR compounds the return over the period's length in 365-day
years. Money stays Decimal; the ratios are floats.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from typing import Protocol

from rulebot.backtest.result import BacktestResult

DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS
ANNUALISE = math.sqrt(365)
CONVENTION = "annualised from daily equity returns, 365 days a year, risk-free rate 0"
ZERO = Decimal(0)


class _Point(Protocol):
    @property
    def time(self) -> int: ...


class _EquityLike(_Point, Protocol):
    @property
    def equity(self) -> Decimal: ...


class _PriceLike(_Point, Protocol):
    @property
    def price(self) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class TradeDurations:
    average_ms: int
    median_ms: int
    max_ms: int


@dataclass(frozen=True, slots=True)
class Month:
    month: str  # 2024-06
    start_equity: Decimal
    end_equity: Decimal
    trades: int  # round trips closed in the month
    max_drawdown_pct: Decimal | None  # within the month, from the month's own running peak

    @property
    def pnl(self) -> Decimal:
        return self.end_equity - self.start_equity

    @property
    def ret(self) -> Decimal | None:
        return self.pnl / self.start_equity if self.start_equity > 0 else None


@dataclass(frozen=True, slots=True)
class Benchmark:
    """Buying the symbol at the first price and holding it to the last, without fees or leverage."""

    symbol: str
    first_price: Decimal
    last_price: Decimal
    max_drawdown_pct: Decimal | None  # of the price

    @property
    def ret(self) -> Decimal:
        return self.last_price / self.first_price - 1


@dataclass(frozen=True, slots=True)
class Metrics:
    daily_returns: tuple[float, ...]
    sharpe: float | None
    sortino: float | None
    cagr: float | None
    calmar: float | None
    drawdown_recovery_time: int | None  # when equity was back at the max drawdown's peak; None: never
    drawdown_duration_ms: int  # the max drawdown's peak to its recovery, or to the end
    trade_durations: TradeDurations | None
    months: tuple[Month, ...]
    benchmarks: tuple[Benchmark, ...]

    @property
    def benchmark_return(self) -> Decimal | None:
        """An equal-weight hold of every symbol: the mean of their returns."""
        if not self.benchmarks:
            return None
        return sum((b.ret for b in self.benchmarks), ZERO) / len(self.benchmarks)


def day_of(ms: int) -> int:
    return ms // DAY_MS


def daily_equity(curve: Sequence[_EquityLike], start_equity: Decimal) -> list[Decimal]:
    """The start equity, then the last sampled equity of each UTC day that has a sample."""
    closes: list[Decimal] = [start_equity]
    day: int | None = None
    for p in curve:
        d = day_of(p.time)
        if d != day:
            closes.append(p.equity)
            day = d
        else:
            closes[-1] = p.equity
    return closes


def daily_returns(closes: Sequence[Decimal]) -> list[float]:
    """Each day's return; a day that starts at or below zero equity has none (the account was gone)."""
    return [float(b / a - 1) for a, b in pairwise(closes) if a > 0]


def sharpe(returns: Sequence[float]) -> float | None:
    """mean / sample standard deviation, times sqrt(365); None with fewer than two days or no spread."""
    if len(returns) < 2:
        return None
    sd = statistics.stdev(returns)
    if not sd > 0:
        return None
    return statistics.fmean(returns) / sd * ANNUALISE


def sortino(returns: Sequence[float]) -> float | None:
    """mean / downside deviation (root mean square of the losing days, over all days, target 0),
    times sqrt(365); None with fewer than two days or no losing day."""
    if len(returns) < 2:
        return None
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    if not downside > 0:
        return None
    return statistics.fmean(returns) / downside * ANNUALISE


def cagr(start_equity: Decimal, end_equity: Decimal, duration_ms: int) -> float | None:
    """(end / start) ** (1 / years) - 1; -1 when the account is gone; None for no time, or a
    period so short that the compounding overflows a float."""
    if start_equity <= 0 or duration_ms <= 0:
        return None
    if end_equity <= 0:
        return -1.0
    exponent = math.log(float(end_equity / start_equity)) * YEAR_MS / duration_ms
    if exponent > 700:  # e**700 is near the largest float
        return None
    return math.exp(exponent) - 1


def calmar(cagr_value: float | None, max_drawdown_pct: Decimal | None) -> float | None:
    if cagr_value is None or not max_drawdown_pct:
        return None
    return cagr_value / float(max_drawdown_pct)


def drawdown_spell(
    curve: Sequence[_EquityLike], peak_time: int | None, trough_time: int | None, end_time: int
) -> tuple[int | None, int]:
    """When equity was back at the peak a drawdown fell from (None: never, by the end), and how
    long the drawdown lasted: from its peak to that recovery, or to the end."""
    if peak_time is None or trough_time is None:
        return None, 0
    peak = next((p.equity for p in curve if p.time == peak_time), None)
    if peak is None:
        return None, 0
    for p in curve:
        if p.time > trough_time and p.equity >= peak:
            return p.time, p.time - peak_time
    return None, end_time - peak_time


def trade_durations(entries_exits: Sequence[tuple[int, int]]) -> TradeDurations | None:
    """Of closed trades: (entry time, exit time) pairs."""
    spans = [b - a for a, b in entries_exits]
    if not spans:
        return None
    return TradeDurations(round(statistics.fmean(spans)), round(statistics.median(spans)), max(spans))


def _month_key(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m")


def months(
    curve: Sequence[_EquityLike], start_equity: Decimal, end_equity: Decimal, exits: Sequence[int]
) -> list[Month]:
    """Each calendar month (UTC) with a sample: equity at its start and end, trades closed, drawdown."""
    out: list[Month] = []
    key: str | None = None
    begin = start_equity
    last = start_equity
    peak = start_equity
    worst = ZERO
    for p in curve:
        k = _month_key(p.time)
        if k != key:
            if key is not None:
                out.append(Month(key, begin, last, 0, worst))
                begin = last
            key, peak, worst = k, begin, ZERO
        last = p.equity
        peak = max(peak, last)
        if peak > 0:
            worst = max(worst, (peak - last) / peak)
    if key is not None:
        out.append(Month(key, begin, end_equity, 0, worst))
    closed: dict[str, int] = {}
    for t in exits:
        closed[_month_key(t)] = closed.get(_month_key(t), 0) + 1
    return [
        Month(m.month, m.start_equity, m.end_equity, closed.get(m.month, 0), m.max_drawdown_pct or None) for m in out
    ]


def price_drawdown(points: Sequence[_PriceLike]) -> Decimal | None:
    peak: Decimal | None = None
    worst = ZERO
    for p in points:
        if peak is None or p.price > peak:
            peak = p.price
        if peak > 0:
            worst = max(worst, (peak - p.price) / peak)
    return worst if peak is not None else None


def benchmarks(result: BacktestResult) -> list[Benchmark]:
    """Buy and hold each symbol over the same samples the strategy was measured on."""
    out = []
    for s in result.all_symbols:
        curve: Sequence[_PriceLike] = result.symbol_curves.get(s) or ()
        if not curve and s == result.symbol:
            curve = result.equity_curve
        priced = [p for p in curve if p.price > 0]
        if priced:
            out.append(Benchmark(s, priced[0].price, priced[-1].price, price_drawdown(priced)))
    return out


def compute_metrics(
    result: BacktestResult,
    curve: Sequence[_EquityLike],
    end_equity: Decimal,
    closed_trades: Sequence[tuple[int, int]],
    max_drawdown: tuple[Decimal | None, int | None, int | None],
) -> Metrics:
    """`curve` is the equity (or, for one symbol, the start plus its PnL) sampled through the
    run; `closed_trades` the (entry, exit) times of the round trips that closed; `max_drawdown`
    the deepest drawdown's fraction, peak time and trough time."""
    returns = daily_returns(daily_equity(curve, result.start_equity))
    dd_pct, peak_time, trough_time = max_drawdown
    recovery, lasted = drawdown_spell(curve, peak_time, trough_time, result.end_time)
    growth = cagr(result.start_equity, end_equity, result.end_time - result.start_time)
    return Metrics(
        daily_returns=tuple(returns),
        sharpe=sharpe(returns),
        sortino=sortino(returns),
        cagr=growth,
        calmar=calmar(growth, dd_pct),
        drawdown_recovery_time=recovery,
        drawdown_duration_ms=lasted,
        trade_durations=trade_durations(closed_trades),
        months=tuple(months(curve, result.start_equity, end_equity, [b for _, b in closed_trades])),
        benchmarks=tuple(benchmarks(result)),
    )
