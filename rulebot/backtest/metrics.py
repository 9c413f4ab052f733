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
from rulebot.backtest.tally import Closes, CurveTally, MonthTally, tally_of

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
    """A 1x long of the symbol from the first price to the last, without fees, valued in the
    account's margin asset. For USDⓈ-M that is buying and holding the coin; for COIN-M (`inverse`)
    it is a long of the inverse contract the size of the equity, valued in the coin, as the
    strategy's own return is: its return is 1 - first/last, not the coin's return in USD."""

    symbol: str
    first_price: Decimal
    last_price: Decimal
    max_drawdown_pct: Decimal | None  # of the price; for inverse, of the long's value in the coin
    inverse: bool = False
    inverse_return: Decimal | None = None  # for inverse: -1 once the price went to half the first

    @property
    def price_return(self) -> Decimal:
        """The price's own move, last over first: holding the coin, in USD."""
        return self.last_price / self.first_price - 1

    @property
    def ret(self) -> Decimal:
        if self.inverse and self.inverse_return is not None:
            return self.inverse_return
        return self.price_return


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
    days = Closes(DAY_MS)
    for p in curve:
        days.add(p.time, p.equity)
    return [start_equity, *days.closes]


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


def trade_durations(entries_exits: Sequence[tuple[int, int]]) -> TradeDurations | None:
    """Of closed trades: (entry time, exit time) pairs."""
    spans = [b - a for a, b in entries_exits]
    if not spans:
        return None
    return TradeDurations(round(statistics.fmean(spans)), round(statistics.median(spans)), max(spans))


def _month_key(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m")


def months(tally: MonthTally, end_equity: Decimal, exits: Sequence[int]) -> list[Month]:
    """Each calendar month (UTC) with a sample: equity at its start and end, trades closed, drawdown."""
    closed: dict[str, int] = {}
    for t in exits:
        closed[_month_key(t)] = closed.get(_month_key(t), 0) + 1
    return [
        Month(m.month, m.start_equity, m.end_equity, closed.get(m.month, 0), m.max_drawdown_pct or None)
        for m in tally.rows(end_equity)
    ]


def benchmarks(result: BacktestResult, tally: CurveTally | None = None) -> list[Benchmark]:
    """Buy and hold each symbol over the same samples the strategy was measured on (Benchmark)."""
    prices = (tally or tally_of(result)).prices
    out = []
    for s in result.all_symbols:
        price = prices.get(s)
        if price is None or price.first is None or price.last is None:
            continue
        held = price.inverse_hold() if result.inverse else None
        if held is None:
            out.append(Benchmark(s, price.first, price.last, price.drawdown()))
        else:
            out.append(Benchmark(s, price.first, price.last, held[1], inverse=True, inverse_return=held[0]))
    return out


def compute_metrics(
    result: BacktestResult, tally: CurveTally, end_equity: Decimal, closed_trades: Sequence[tuple[int, int]]
) -> Metrics:
    """`tally` is what the run kept of its samples (tally.py): the account's equity (or, for one
    symbol, the start plus its PnL) and its deepest drawdown; `closed_trades` the (entry, exit)
    times of the round trips that closed."""
    returns = daily_returns(tally.daily_closes())
    recovery, lasted = tally.drawdown.spell(result.end_time)
    growth = cagr(result.start_equity, end_equity, result.end_time - result.start_time)
    return Metrics(
        daily_returns=tuple(returns),
        sharpe=sharpe(returns),
        sortino=sortino(returns),
        cagr=growth,
        calmar=calmar(growth, tally.drawdown.pct),
        drawdown_recovery_time=recovery,
        drawdown_duration_ms=lasted,
        trade_durations=trade_durations(closed_trades),
        months=tuple(months(tally.months, end_equity, [b for _, b in closed_trades])),
        benchmarks=tuple(benchmarks(result, tally)),
    )
