"""Sharpe, Sortino, CAGR, Calmar, drawdown duration, trade durations, months and buy-and-hold:
a worked example by hand, and properties over generated curves."""

from __future__ import annotations

import math
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.backtest.metrics import CONVENTION, benchmarks, daily_equity, daily_returns, sharpe, sortino
from rulebot.backtest.result import BacktestResult, EquityPoint, FillRecord
from rulebot.backtest.stats import compute_stats
from rulebot.backtest.summary import summary_dict, summary_rows

DAY = 86_400_000
HOUR = 3_600_000
T0 = 1_717_027_200_000  # 2024-05-30 00:00 UTC: the four days run over a month's end


def worked_example() -> BacktestResult:
    """Four days. Equity at each day's last sample: 110, 104.5, 114.95, 114.95 from a start of 100.

    daily returns      r = +0.10, -0.05, +0.10, 0.00
    mean               0.15 / 4 = 0.0375
    sample stdev       deviations +0.0625 -0.0875 +0.0625 -0.0375; squares sum 0.016875;
                       / 3 = 0.005625; sqrt = 0.075
    Sharpe             0.0375 / 0.075 * sqrt(365) = 0.5 * 19.10497 = 9.55249
    downside deviation sqrt((-0.05)^2 / 4) = sqrt(0.000625) = 0.025
    Sortino            0.0375 / 0.025 * sqrt(365) = 1.5 * 19.10497 = 28.65746
    CAGR               1.1495 ** (365 / 4) - 1 (the period is exactly 4 days)
    max drawdown       110 -> 104.5 = 5.5 (5%), peak day 1 12:00, back at 114.95 on day 3
                       12:00: lasted 2 days
    Calmar             CAGR / 0.05
    trades             three round trips of 1 h, 2 h and 6 h: average 3 h, median 2 h, max 6 h
    months             May (days 1-2): 100 -> 104.5, +4.5, 4.5%, drawdown 5%, 1 trade closed;
                       June (days 3-4): 104.5 -> 114.95, +10.45, 10%, no drawdown, 2 closed
    buy and hold       price 200 -> 230: +15%; its drawdown 210 -> 190 = 20/210
    """
    closes = [D(110), D("104.5"), D("114.95"), D("114.95")]
    prices = [D(210), D(190), D(220), D(230)]
    r = BacktestResult("worked", "v", "BTCUSDT", "USDT", T0, T0 + 4 * DAY, D(100), 10)
    r.equity_curve = [EquityPoint(T0, D(100), D(200), D(0))]
    r.equity_curve += [
        EquityPoint(T0 + d * DAY + 12 * HOUR, e, p, D(0)) for d, (e, p) in enumerate(zip(closes, prices, strict=True))
    ]
    r.end_equity = D("114.95")
    fills = []
    for n, (start, hours) in enumerate([(T0 + 2 * HOUR, 1), (T0 + 2 * DAY + HOUR, 2), (T0 + 3 * DAY, 6)]):
        fills.append(FillRecord(start, "BTCUSDT", "BUY", D(1), D(200), D(0), D(0), False, "entry", "go", f"a{n}"))
        fills.append(
            FillRecord(start + hours * HOUR, "BTCUSDT", "SELL", D(1), D(200), D(0), D(0), True, "exit", "go", f"b{n}")
        )
    r.fills = fills
    return r


def test_the_worked_example_by_hand():
    stats = compute_stats(worked_example())
    m = stats.metrics
    assert m is not None
    assert m.daily_returns == (0.1, -0.05, 0.1, 0.0)
    assert math.isclose(m.sharpe, 0.5 * math.sqrt(365), rel_tol=1e-9) and round(m.sharpe, 5) == 9.55249
    assert math.isclose(m.sortino, 1.5 * math.sqrt(365), rel_tol=1e-9) and round(m.sortino, 5) == 28.65746
    assert math.isclose(m.cagr, 1.1495 ** (365 / 4) - 1, rel_tol=1e-9)
    assert stats.max_drawdown == D("5.5") and stats.max_drawdown_pct == D("0.05")
    assert m.drawdown_duration_ms == 2 * DAY and m.drawdown_recovery_time == T0 + 2 * DAY + 12 * HOUR
    assert math.isclose(m.calmar, m.cagr / 0.05, rel_tol=1e-12)
    d = m.trade_durations
    assert (d.average_ms, d.median_ms, d.max_ms) == (3 * HOUR, 2 * HOUR, 6 * HOUR)
    may, june = m.months
    assert (may.month, may.start_equity, may.end_equity, may.pnl, may.ret) == (
        "2024-05",
        D(100),
        D("104.5"),
        D("4.5"),
        D("0.045"),
    )
    assert (may.trades, may.max_drawdown_pct) == (1, D("0.05"))
    assert (june.month, june.pnl, june.ret, june.trades, june.max_drawdown_pct) == (
        "2024-06",
        D("10.45"),
        D("0.1"),
        2,
        None,
    )
    (bench,) = m.benchmarks
    assert bench.ret == D("0.15") and bench.max_drawdown_pct == D(20) / D(210)


def test_the_summary_and_json_carry_the_metrics_and_say_the_convention():
    r = worked_example()
    stats = compute_stats(r)
    rows = dict(summary_rows(stats, r))
    assert rows["Sharpe"].startswith("9.55 (from 4 daily returns")
    assert rows["Sortino"].startswith("28.66")
    assert rows["  convention"] == CONVENTION and "365 days" in CONVENTION and "risk-free rate 0" in CONVENTION
    assert rows["buy and hold"].startswith("15.00% (200.00 → 230.00")
    assert rows["trade duration"] == "average 3h 0m · median 2h 0m · longest 6h 0m"
    assert rows["  duration"] == "2d 0h 0m, peak to recovery"
    doc = summary_dict(stats, r)
    assert round(doc["sharpe"], 5) == 9.55249 and doc["ratio_convention"] == CONVENTION
    assert doc["trade_duration_ms"] == {"average": 3 * HOUR, "median": 2 * HOUR, "max": 6 * HOUR}
    assert [m["month"] for m in doc["by_month"]] == ["2024-05", "2024-06"]
    assert doc["by_month"][0]["pnl"] == "4.5" and doc["benchmark"]["return"] == "0.15"
    assert doc["benchmark"]["symbols"]["BTCUSDT"]["first_price"] == "200"


def test_too_little_history_gives_blanks_not_nonsense():
    assert sharpe([]) is None and sharpe([0.01]) is None and sharpe([0.01, 0.01]) is None  # no spread
    assert sortino([0.01, 0.02]) is None  # no losing day: the downside is not defined
    r = BacktestResult("t", "v", "BTCUSDT", "USDT", T0, T0, D(100), 0)
    m = compute_stats(r).metrics
    assert m.sharpe is None and m.cagr is None and m.calmar is None and m.benchmarks == () and m.months == ()
    assert summary_dict(compute_stats(r), r)["benchmark"]["return"] is None


equities = st.lists(st.decimals(min_value=D(1), max_value=D(10_000), places=2), min_size=1, max_size=40)


def curve_of(values: list[D], step: int = DAY // 3) -> list[EquityPoint]:
    return [EquityPoint(T0 + i * step, v, v, D(0)) for i, v in enumerate(values)]


@settings(max_examples=150, deadline=None)
@given(start=st.decimals(min_value=D(1), max_value=D(10_000), places=2), values=equities)
def test_sharpe_and_sortino_take_the_sign_of_the_mean_daily_return(start, values):
    returns = daily_returns(daily_equity(curve_of(values), start))
    mean = math.fsum(returns) / len(returns) if returns else 0.0
    for ratio in (sharpe(returns), sortino(returns)):
        if ratio is not None:
            assert ratio == 0 or (ratio > 0) == (mean > 0), (ratio, mean, returns)


@settings(max_examples=150, deadline=None)
@given(values=equities)
def test_drawdowns_are_fractions_between_0_and_1(values):
    r = BacktestResult("t", "v", "BTCUSDT", "USDT", T0, T0 + (len(values) - 1) * 5 * DAY, values[0], 1)
    r.equity_curve = curve_of(values, DAY * 5)  # days apart: several months
    r.end_equity = values[-1]
    stats = compute_stats(r)
    assert D(0) <= stats.max_drawdown_pct <= 1 if stats.max_drawdown_pct is not None else stats.max_drawdown == 0
    for month in stats.metrics.months:
        assert month.max_drawdown_pct is None or D(0) < month.max_drawdown_pct <= 1
    for bench in stats.metrics.benchmarks:
        assert bench.max_drawdown_pct is not None and D(0) <= bench.max_drawdown_pct <= 1
    assert 0 <= stats.metrics.drawdown_duration_ms <= r.end_time - r.start_time


@settings(max_examples=150, deadline=None)
@given(prices=st.lists(st.decimals(min_value=D("0.0001"), max_value=D(200_000), places=4), min_size=1, max_size=30))
def test_buy_and_hold_is_the_ratio_of_the_last_price_to_the_first(prices):
    r = BacktestResult("t", "v", "BTCUSDT", "USDT", T0, T0 + DAY, D(1000), 1)
    r.equity_curve = [EquityPoint(T0 + i, D(1000), p, D(0)) for i, p in enumerate(prices)]
    (bench,) = benchmarks(r)
    assert bench.ret == prices[-1] / prices[0] - 1
    assert (bench.first_price, bench.last_price) == (prices[0], prices[-1])
    held = bench.first_price * (1 + bench.ret)  # what holding one unit bought at the first price is worth
    assert abs(held - prices[-1]) <= max(prices[0], prices[-1]) * D("1e-26")  # 28 significant digits
