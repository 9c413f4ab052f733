"""The scores a sweep ranks trials by, from a backtest's result.

Money stays Decimal in the backtest; these are floats because they only rank and plot. Ratios
come from the equity's last sample of each hour (the curve is sampled each minute; the hourly
closes are kept as the run samples, backtest/tally.py) and are annualised over 365 days of
24 hours (futures trade around the clock):
sharpe = mean / stdev of hourly returns * sqrt(8760); sortino uses the downside deviation;
calmar = the return scaled to a year (simple, not compounded: short windows would explode)
over the max drawdown. A ratio that cannot be computed (no variance, no trades) is None, and
None ranks below every number; a profit factor with winning trades and none lost is won / 0,
infinite, and ranks above every number (as None it ranked a run that lost every trade first).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

from rulebot.backtest.result import BacktestResult, EquityPoint
from rulebot.backtest.stats import compute_stats
from rulebot.backtest.tally import FloatCloses, tally_of

METRICS = ("net_pnl", "sharpe", "sortino", "calmar", "profit_factor")
HOUR_MS = 3_600_000
YEAR_MS = 365 * 24 * HOUR_MS
PERIODS_PER_YEAR = YEAR_MS // HOUR_MS


def compute_metrics(result: BacktestResult, inverse_size: Decimal | None) -> dict[str, float | int | None]:
    stats = compute_stats(result, inverse_size)
    returns = tally_of(result).hours.returns()
    dd = _f(stats.max_drawdown_pct)
    ret = _f(stats.return_pct)
    years = stats.duration_ms / YEAR_MS if stats.duration_ms else 0.0
    annual = ret / years if ret is not None and years > 0 else None
    return {
        "net_pnl": float(stats.net_pnl),
        "return_pct": ret,
        "sharpe": sharpe(returns),
        "sortino": sortino(returns),
        "calmar": annual / dd if annual is not None and dd else None,
        "profit_factor": _profit_factor(stats.profit_factor, stats.wins),
        "max_drawdown_pct": dd,
        "trades": stats.closed,  # closed round trips, as the backtest's summary counts them
        "open_trades": len(stats.trades) - stats.closed,
        "win_rate": _f(stats.win_rate),
        "fees": float(stats.fees),
        "fills": stats.fills,
        "liquidations": stats.liquidations,
        "events": stats.events,
    }


def hourly_returns(curve: Sequence[EquityPoint]) -> list[float]:
    """Returns between the last equity of each hour (the first hour starts at the first point)."""
    hours = FloatCloses(HOUR_MS)
    for p in curve:
        hours.add(p.time, p.equity)
    return hours.returns()


def sharpe(returns: Sequence[float]) -> float | None:
    if len(returns) < 2:
        return None
    mean = math.fsum(returns) / len(returns)
    var = math.fsum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    return mean / math.sqrt(var) * math.sqrt(PERIODS_PER_YEAR) if var > 0 else None


def sortino(returns: Sequence[float]) -> float | None:
    if len(returns) < 2:
        return None
    mean = math.fsum(returns) / len(returns)
    down = math.fsum(min(r, 0.0) ** 2 for r in returns) / len(returns)
    return mean / math.sqrt(down) * math.sqrt(PERIODS_PER_YEAR) if down > 0 else None


def _profit_factor(value: Decimal | None, wins: int) -> float | None:
    """Won over lost; nothing lost: infinite when something was won, else None (no trade closed)."""
    if value is None:
        return math.inf if wins else None
    return float(value)


def _f(value: Decimal | None) -> float | None:
    return None if value is None else float(value)
