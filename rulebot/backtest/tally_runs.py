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

from bisect import bisect_left
from collections.abc import Sequence
from decimal import Decimal

from rulebot.backtest.tally import (
    Closes,
    CurveTally,
    DrawdownTally,
    ExposureTally,
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


def curve_rows(tally: CurveTally, times: Sequence[int], equities: Sequence[Decimal], helds: Sequence[bool]) -> None:
    """`tally.add(t, e, held)` for each time, equity and flag (rising times): the sampler's own samples,
    committed in a batch (Sampler._flush)."""
    if not times:
        return
    tally.samples += len(times)
    drawdown_run(tally.drawdown, times, equities)
    exposure_rows(tally.exposure, times, helds)
    closes_run(tally.days, times, equities)
    float_closes_run(tally.hours, times, equities)
    month_run(tally.months, times, equities)


def symbol_rows(
    tally: SymbolTally, times: Sequence[int], positions: Sequence[Decimal], pnls: Sequence[Decimal]
) -> None:
    """`tally.add(t, position, pnl)` for each time, position and PnL."""
    if not times:
        return
    start = tally.start_equity
    drawdown_run(tally.drawdown, times, [start + pnl for pnl in pnls])
    exposure_rows(tally.exposure, times, [position != 0 for position in positions])


def exposure_rows(tally: ExposureTally, times: Sequence[int], helds: Sequence[bool]) -> None:
    """ExposureTally.add for each time and flag."""
    count, first, last, held, held_ms = tally.count, tally.first, tally.last, tally.held, tally.held_ms
    for time, flag in zip(times, helds, strict=True):
        if count:
            if held:
                held_ms += time - last
        else:
            first = time
        last, held = time, flag
        count += 1
    tally.count, tally.first, tally.last, tally.held, tally.held_ms = count, first, last, held, held_ms


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
    """Closes.add for each time and value: a period's last value is kept, once per period. The times
    rise, so each period's samples are a stretch found by bisection, and only its last value is read."""
    period, current, closes = tally.period_ms, tally.current, tally.closes
    n, j = len(times), 0
    while j < n:
        k = times[j] // period
        end = n if times[-1] // period == k else bisect_left(times, (k + 1) * period, j + 1, n)
        if k != current:
            closes.append(values[end - 1])
            current = k
        else:
            closes[-1] = values[end - 1]
        j = end
    tally.current = current


def float_closes_run(tally: FloatCloses, times: Sequence[int], values: Sequence[Decimal]) -> None:
    """FloatCloses.add for each time and value, a period's stretch at once (as closes_run)."""
    period, current, last, done = tally.period_ms, tally.current, tally.last, tally.done
    n, j = len(times), 0
    while j < n:
        k = times[j] // period
        end = n if times[-1] // period == k else bisect_left(times, (k + 1) * period, j + 1, n)
        if k != current:
            if last is not None:
                done.append(float(last))
            current = k
        last = values[end - 1]
        j = end
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
