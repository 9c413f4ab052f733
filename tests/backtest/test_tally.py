"""The streaming accumulators (backtest/tally.py) give, to the last digit, what the whole-list
computations they replaced gave; and the charts' bounded series (backtest/thinned.py) keeps
what a chart needs in bounded memory.

The whole-list computations are kept here, as they were in stats.py, metrics.py and
sweep/metrics.py before issue 14, as the oracle. Decimals are compared by their text too: a
summary prints them, so 0.050 and 0.05 differ there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal as D
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.backtest.result import BacktestResult, EquityPoint, SymbolPoint
from rulebot.backtest.stats import compute_stats, per_symbol_stats
from rulebot.backtest.tally import ZERO, CurveTally, PriceTally, month_span
from rulebot.backtest.thinned import Thinned

HOUR = 3_600_000
DAY = 86_400_000
T0 = 1_706_659_200_000  # 2024-01-31 00:00 UTC: curves run over month ends, a leap day among them


# ------------------------------------------------------------------ the oracle (the old code)


def old_drawdown(curve: Sequence[EquityPoint]) -> tuple[D, D | None, int | None, int | None]:
    amount, pct, peak_time, trough_time = ZERO, None, None, None
    peak: EquityPoint | None = None
    for point in curve:
        if peak is None or point.equity > peak.equity:
            peak = point
        fall = peak.equity - point.equity
        if fall > amount:
            amount, pct = fall, fall / peak.equity if peak.equity > 0 else None
            peak_time, trough_time = peak.time, point.time
    return amount, pct, peak_time, trough_time


def old_exposure(curve: Sequence[EquityPoint]) -> D | None:
    if len(curve) < 2 or curve[-1].time <= curve[0].time:
        return None
    held = sum(b.time - a.time for a, b in pairwise(curve) if a.position != 0)
    return D(held) / D(curve[-1].time - curve[0].time)


def old_daily_equity(curve: Sequence[EquityPoint], start_equity: D) -> list[D]:
    closes: list[D] = [start_equity]
    day: int | None = None
    for p in curve:
        d = p.time // DAY
        if d != day:
            closes.append(p.equity)
            day = d
        else:
            closes[-1] = p.equity
    return closes


def old_drawdown_spell(
    curve: Sequence[EquityPoint], peak_time: int | None, trough_time: int | None, end_time: int
) -> tuple[int | None, int]:
    if peak_time is None or trough_time is None:
        return None, 0
    peak = next((p.equity for p in curve if p.time == peak_time), None)
    if peak is None:
        return None, 0
    for p in curve:
        if p.time > trough_time and p.equity >= peak:
            return p.time, p.time - peak_time
    return None, end_time - peak_time


def _month_key(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m")


def old_months(curve: Sequence[EquityPoint], start_equity: D, end_equity: D) -> list[tuple[str, D, D, D]]:
    out: list[tuple[str, D, D, D]] = []
    key: str | None = None
    begin = last = peak = start_equity
    worst = ZERO
    for p in curve:
        k = _month_key(p.time)
        if k != key:
            if key is not None:
                out.append((key, begin, last, worst))
                begin = last
            key, peak, worst = k, begin, ZERO
        last = p.equity
        peak = max(peak, last)
        if peak > 0:
            worst = max(worst, (peak - last) / peak)
    if key is not None:
        out.append((key, begin, end_equity, worst))
    return out


def old_price_drawdown(prices: Sequence[D]) -> D | None:
    peak: D | None = None
    worst = ZERO
    for p in prices:
        if peak is None or p > peak:
            peak = p
        if peak > 0:
            worst = max(worst, (peak - p) / peak)
    return worst if peak is not None else None


def old_hourly_returns(curve: Sequence[EquityPoint]) -> list[float]:
    closes: list[float] = []
    hour = None
    for p in curve:
        h = p.time // HOUR
        if h != hour:
            closes.append(float(p.equity))
            hour = h
        else:
            closes[-1] = float(p.equity)
    return [b / a - 1.0 for a, b in pairwise(closes) if a > 0]


# ------------------------------------------------------------------ generated curves

# Amounts of mixed exponents (100, 100.0, 1E+2, 99.99...) and signs: the digits a Decimal
# operation produces depend on them, and the summary prints those digits.
amounts = st.one_of(
    st.decimals(min_value=D(-50), max_value=D(20_000), places=2),
    st.decimals(min_value=D(0), max_value=D(20_000), places=4),
    st.integers(min_value=-5, max_value=300).map(lambda n: D(n).scaleb(2)),
    st.sampled_from([D(100), D("100.0"), D("100.00"), D("1E+2"), D(0), D("-0.00"), D("99.5")]),
)
steps = st.sampled_from([1, 60_000, 60_000, 60_000, HOUR - 1, HOUR, 7 * HOUR, DAY, 9 * DAY, 31 * DAY])


@st.composite
def curves(draw: st.DrawFn, min_size: int = 0) -> list[EquityPoint]:
    """Strictly increasing times (as the runner samples), equity, price and position."""
    n = draw(st.integers(min_value=min_size, max_value=60))
    time = T0 + draw(st.integers(min_value=-3 * DAY, max_value=3 * DAY))
    out = []
    for _ in range(n):
        time += draw(steps)
        position = draw(st.sampled_from([D(0), D(0), D("0.5"), D(-2)]))
        out.append(EquityPoint(time, draw(amounts), draw(amounts), position))
    return out


def same(a: object, b: object) -> bool:
    """Equal, and printed alike (Decimals with the same digits)."""
    return a == b and repr(a) == repr(b)


@settings(max_examples=400, deadline=None)
@given(curve=curves(), start=amounts, end=amounts)
def test_the_account_tally_is_the_whole_list_computation(curve, start, end):
    tally = CurveTally(start)
    for p in curve:
        tally.add(p.time, p.equity, p.position != 0)
    dd = tally.drawdown
    assert same((dd.amount, dd.pct, dd.peak_at, dd.trough_at), old_drawdown(curve))
    end_time = curve[-1].time + 5 if curve else T0
    assert same(dd.spell(end_time), old_drawdown_spell(curve, dd.peak_at, dd.trough_at, end_time))
    assert same(tally.exposure.share(), old_exposure(curve))
    assert same(tally.daily_closes(), old_daily_equity(curve, start))
    rows = [(m.month, m.start_equity, m.end_equity, m.max_drawdown_pct) for m in tally.months.rows(end)]
    assert same(rows, old_months(curve, start, end))
    assert same(tally.hours.returns(), old_hourly_returns(curve))


@settings(max_examples=400, deadline=None)
@given(prices=st.lists(amounts, max_size=60))
def test_buy_and_hold_is_the_whole_list_computation(prices):
    tally = PriceTally()
    for p in prices:
        tally.add(p)
    priced = [p for p in prices if p > 0]
    assert same((tally.first, tally.last), (priced[0], priced[-1]) if priced else (None, None))
    assert same(tally.drawdown(), old_price_drawdown(priced))


@settings(max_examples=200, deadline=None)
@given(btc=curves(min_size=1), eth=curves(min_size=1), start=amounts)
def test_a_result_of_lists_gets_the_numbers_the_old_stats_computed(btc, eth, start):
    """compute_stats on a result made of lists (a test's, the web page's) feeds the same tally:
    each symbol's drawdown and exposure are those of its own PnL curve, the account's exposure
    counts a sample held if any symbol held then."""
    times = sorted({p.time for p in btc} | {p.time for p in eth})
    r = BacktestResult("t", "v", "BTCUSDT", "USDT", times[0], times[-1], start if start > 0 else D(1), len(times))
    r.symbols = ("BTCUSDT", "ETHUSDT")
    r.symbol_curves = {
        "BTCUSDT": [SymbolPoint(p.time, p.price, p.position, p.equity) for p in btc],
        "ETHUSDT": [SymbolPoint(p.time, p.price, p.position, p.equity) for p in eth],
    }
    held = {t: any(p.position != 0 for c in (btc, eth) for p in c if p.time == t) for t in times}
    r.equity_curve = [EquityPoint(t, D(t % 997), D(1), D(1 if held[t] else 0)) for t in times]
    r.end_equity = r.equity_curve[-1].equity
    stats = compute_stats(r)
    assert same(
        (stats.max_drawdown, stats.max_drawdown_pct, stats.drawdown_peak_time, stats.drawdown_trough_time),
        old_drawdown(r.equity_curve),
    )
    assert same(stats.exposure, old_exposure(r.equity_curve))
    for s, own in per_symbol_stats(r).items():
        pnl_curve = [EquityPoint(p.time, r.start_equity + p.pnl, p.price, p.position) for p in r.symbol_curves[s]]
        assert same(
            (own.max_drawdown, own.max_drawdown_pct, own.drawdown_peak_time, own.drawdown_trough_time),
            old_drawdown(pnl_curve),
        )
        assert same(own.exposure, old_exposure(pnl_curve))


@given(ms=st.integers(min_value=0, max_value=4_102_444_800_000))  # 1970 to 2100
def test_a_month_span_holds_exactly_the_times_of_its_key(ms):
    key, lo, hi = month_span(ms)
    assert lo <= ms < hi and key == _month_key(ms) == _month_key(lo) == _month_key(hi - 1) != _month_key(hi)


# ------------------------------------------------------------------ the bounded series


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.tuples(st.integers(-50, 50), st.one_of(st.none(), st.integers(0, 9))), max_size=400),
    buckets=st.integers(min_value=1, max_value=8),
)
def test_the_series_keeps_the_ends_and_the_extremes_in_bounded_room(values, buckets):
    series = Thinned(buckets)
    for i, keys in enumerate(values):
        series.add(i, keys)
    rows = series.rows()
    assert series.samples == len(values)
    assert rows == sorted(set(rows)), "kept samples are distinct and in the order they came"
    if len(values) <= 2 * buckets:
        assert rows == list(range(len(values))), "a short run keeps every sample"
    if values:
        assert rows[0] == 0 and rows[-1] == len(values) - 1
        for k in (0, 1):
            seen = [v[k] for v in values if v[k] is not None]
            if seen:
                kept = [values[i][k] for i in rows if values[i][k] is not None]
                assert min(kept) == min(seen) and max(kept) == max(seen)
    # At most 2 * buckets buckets, each at most its first, last, and a lowest and highest per key.
    assert len(rows) <= 2 * buckets * (2 + 2 * 2)
