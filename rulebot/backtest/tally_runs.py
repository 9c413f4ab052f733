"""The tallies (tally.py) fed a run of samples whose values move, in one call (issue 14).

The candle array path samples a held position's run of candles in bulk (Sampler.take_held_run):
the equity and the PnL move with the mark, sample by sample, so a tally cannot be fed one value
for the run as a flat run's is (CurveTally.add_run). These functions do what `add` at each sample
does, in the same order, with the same Decimal operations and comparisons (so the same values to
the last digit and exponent), in one loop over the run with the tally's state in locals instead of
one method call and a dozen attribute reads per sample. `tests/backtest/test_tally_runs.py` feeds
random runs both ways and compares everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from rulebot.backtest.tally import (
    Closes,
    CurveTally,
    DrawdownTally,
    FloatCloses,
    MonthTally,
    PriceTally,
    SymbolTally,
    _exposure_run,
)


def curve_run(tally: CurveTally, times: Sequence[int], equities: Sequence[Decimal], held: bool) -> None:
    """`tally.add(t, e, held)` for each time and equity (rising times, one `held` for all)."""
    if not times:
        return
    tally.samples += len(times)
    drawdown_run(tally.drawdown, times, equities)
    tally.exposure.add(times[0], held)
    _exposure_run(tally.exposure, times)
    closes_run(tally.days, times, equities)
    float_closes_run(tally.hours, times, equities)
    month_run(tally.months, times, equities)


def symbol_run(tally: SymbolTally, times: Sequence[int], position: Decimal, pnls: Sequence[Decimal]) -> None:
    """`tally.add(t, position, pnl)` for each time and PnL (a position that stands)."""
    if not times:
        return
    start = tally.start_equity
    drawdown_run(tally.drawdown, times, [start + pnl for pnl in pnls])
    tally.exposure.add(times[0], position != 0)
    _exposure_run(tally.exposure, times)


def drawdown_run(tally: DrawdownTally, times: Sequence[int], values: Sequence[Decimal]) -> None:
    """DrawdownTally.add for each time and value."""
    peak, peak_time, amount, fell_from = tally.peak, tally.peak_time, tally.amount, tally.fell_from
    recovering = tally.trough_at is not None and tally.recovered_at is None
    for time, value in zip(times, values, strict=True):
        if recovering and value >= fell_from:
            tally.recovered_at, recovering = time, False
        if peak is None or value > peak:
            peak, peak_time = value, time
        elif value < peak:
            fall = peak - value
            if fall > amount:
                amount, tally.pct = fall, fall / peak if peak > 0 else None
                tally.peak_at, tally.trough_at, fell_from = peak_time, time, peak
                tally.recovered_at, recovering = None, True
    tally.peak, tally.peak_time, tally.amount, tally.fell_from = peak, peak_time, amount, fell_from


def closes_run(tally: Closes, times: Sequence[int], values: Sequence[Decimal]) -> None:
    """Closes.add for each time and value: a period's last value is kept, once per period."""
    period, current, closes = tally.period_ms, tally.current, tally.closes
    for time, value in zip(times, values, strict=True):
        k = time // period
        if k != current:
            closes.append(value)
            current = k
        else:
            closes[-1] = value
    tally.current = current


def float_closes_run(tally: FloatCloses, times: Sequence[int], values: Sequence[Decimal]) -> None:
    """FloatCloses.add for each time and value."""
    period, current, last, done = tally.period_ms, tally.current, tally.last, tally.done
    for time, value in zip(times, values, strict=True):
        k = time // period
        if k != current:
            if last is not None:
                done.append(float(last))
            current = k
        last = value
    tally.current, tally.last = current, last


def month_run(tally: MonthTally, times: Sequence[int], values: Sequence[Decimal]) -> None:
    """MonthTally.add for each time and value: the month's bookkeeping by `add` when a sample leaves
    the open month (or none is open), the value's part here."""
    n, j = len(times), 0
    while j < n:
        if not tally.lo <= times[j] < tally.hi or tally.key is None:
            tally.add(times[j], values[j])
            j += 1
            continue
        hi, peak, worst, low = tally.hi, tally.peak, tally.worst, tally.low
        while j < n and times[j] < hi:
            value = values[j]
            if value > peak:
                peak, low = value, None
            elif value < peak and peak > 0 and (low is None or value < low):
                low = value
                fall = (peak - value) / peak
                if fall > worst:
                    worst = fall
            j += 1
        tally.last, tally.peak, tally.worst, tally.low = values[j - 1], peak, worst, low


def price_run(tally: PriceTally, prices: Sequence[Decimal]) -> None:
    """PriceTally.add for each price."""
    first, last, peak, worst, low = tally.first, tally.last, tally.peak, tally.worst, tally.low
    for price in prices:
        if not price > 0:
            continue
        if first is None:
            first = price
        last = price
        if peak is None or price > peak:
            if low is not None and peak is not None and first is not None:
                tally.fold_fall(first, peak, low)
            peak, low = price, None
        elif price < peak and (low is None or price < low):
            low = price
            fall = (peak - price) / peak
            if fall > worst:
                worst = fall
    tally.first, tally.last, tally.peak, tally.worst, tally.low = first, last, peak, worst, low
