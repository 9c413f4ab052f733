"""The runner's samples inside a run of candles the candle array path jumps (candle_runs.py).

The runner samples the account once a minute of data, as the first event of a later minute comes.
Inside a jumped run no event comes, so the samples due there are taken here, each with what its
candle left (the close as the last price and the mark, the charted values). A single-symbol run
is sampled in bulk: flat, the equity stands (Sampler.take_run); holding a one-way position, only
the mark moves, and each sample's equity and PnL are valued as the engine values them, without
stepping the engine (Sampler.take_held_run). `tests/backtest/test_sampling.py` compares the bulk
samples with the samples taken one by one.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from decimal import Decimal

import numpy as np

from rulebot.backtest.candle_runs import JumpedCandles
from rulebot.backtest.candle_series import all_true
from rulebot.backtest.sampling import Sampler
from rulebot.backtest.warmup import Warmup
from rulebot.engine.engine import Engine

# (times, prices, charted columns, the prices' exact-order floats or None) -> taken
RunSampler = Callable[[Sequence[int], Sequence[Decimal], list[Sequence[float]], np.ndarray | None], bool]


def take_samples(
    run: JumpedCandles,
    next_sample: int,
    every: int,
    take: Callable[[int], None],
    last_price: dict[str, Decimal],
    engine: Engine,
    bulk: RunSampler | None = None,
) -> int:
    """The runner's samples due inside a jumped run, each taken as the runner takes it (when the next
    candle comes) with what the candle before left: its close as the last price and the mark, its
    charted values; then the run's last candle's, as the engine was caught up. With one symbol they
    go to `bulk` at once (run_sampler), one by one if it cannot take them. The next sample's time."""
    values = run.drawn
    symbol = run.symbol
    env = engine.state.runs[symbol].market.env
    set_mark = engine.state.portfolio.set_mark
    due, next_sample = _due(run.times, run.times_np, next_sample, every)
    if due:
        order = None
        if type(due) is range:  # a stretch of candles: slices
            lo, hi = due.start, due.stop
            times, closes = run.times[lo:hi], run.closes[lo:hi]
            columns: list[Sequence[float]] = [vals[lo:hi] for vals in values.values()]
            order = None if run.close_order is None else run.close_order[lo:hi]
        else:
            times, closes = [run.times[j] for j in due], [run.closes[j] for j in due]
            columns = [[vals[j] for j in due] for vals in values.values()]
        if bulk is None or len(engine.state.runs) != 1 or not bulk(times, closes, columns, order):
            for x, (t, close) in enumerate(zip(times, closes, strict=True)):
                last_price[symbol] = close
                set_mark(symbol, close)
                for key, col in zip(values, columns, strict=True):
                    env[key] = col[x]
                take(t)
    close = run.close
    last_price[symbol] = close
    set_mark(symbol, close)
    for key, vals in values.items():
        env[key] = vals[-1]
    return next_sample


def _due(times: Sequence[int], times_np: np.ndarray, next_sample: int, every: int) -> tuple[Sequence[int], int]:
    """The candles of a run but its last at which a sample is due (the runner's test at each: the close
    time at or after `next_sample`, which then moves to the next multiple of `every` after it), and the
    next sample's time after them. Closes each in a later period of `every` than the one before: every
    candle from the first due one on is due (a range)."""
    n = len(times) - 1
    if n <= 0:
        return (), next_sample
    periods = times_np[:n] // every
    if n == 1 or all_true(periods[1:] > periods[:-1]):  # so the times increase
        lo = bisect_left(times, next_sample, 0, n)
        if lo == n:
            return (), next_sample
        t = times[n - 1]
        return range(lo, n), t - t % every + every
    due: list[int] = []
    for j in range(n):
        t = times[j]
        if t >= next_sample:
            next_sample = t - t % every + every
            due.append(j)
    return due, next_sample


def run_sampler(
    engine: Engine, asset: str, note_day: Callable[[Decimal], None], sampler: Sampler, warm: Warmup
) -> RunSampler:
    """The runner's take_sample at each of `times` of a single-symbol run, in bulk: flat
    (Sampler.take_run), the equity stands and the worst day is noted once (the same day and PnL
    change nothing again); holding a one-way position (Sampler.take_held_run), the worst day is
    noted at each new lowest equity of the run only (Decimal subtraction rounds monotonically: a
    higher equity's PnL is not lower). No name gets ready inside a run (the warm-up's first check
    notes them, the last moves the next). False, and nothing taken, when neither applies."""
    symbol = sampler.symbol

    def bulk(
        times: Sequence[int], prices: Sequence[Decimal], columns: list[Sequence[float]], order: np.ndarray | None
    ) -> bool:
        if engine.position(symbol).amount == 0:
            equity = engine.equity(asset)
            note_day(equity)
            sampler.take_run(times, prices, columns, equity, order)
        else:
            equities = sampler.take_held_run(times, prices, columns, order)
            if equities is None:
                return False
            low = equities[0]
            note_day(low)
            for equity in equities:
                if equity < low:
                    low = equity
                    note_day(equity)
        if warm.pending:
            warm.check(times[0])
            warm.check(times[-1])
        return True

    return bulk
