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

from collections.abc import Callable
from decimal import Decimal

from rulebot.backtest.candle_runs import JumpedCandles
from rulebot.backtest.sampling import Sampler
from rulebot.backtest.warmup import Warmup
from rulebot.engine.engine import Engine

RunSampler = Callable[[list[int], list[Decimal], list[tuple[float, ...]]], bool]


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
    candles, values = run.candles, run.drawn
    symbol = candles[0].symbol
    env = engine.state.runs[symbol].market.env
    set_mark = engine.state.portfolio.set_mark
    due: list[int] = []
    for j in range(len(candles) - 1):
        t = candles[j].close_time
        if t >= next_sample:
            next_sample = t - t % every + every
            due.append(j)
    if due:
        columns = [[vals[j] for j in due] for vals in values.values()]
        rows: list[tuple[float, ...]] = list(zip(*columns, strict=True)) if columns else [()] * len(due)
        times, closes = [candles[j].close_time for j in due], [candles[j].close for j in due]
        if bulk is None or len(engine.state.runs) != 1 or not bulk(times, closes, rows):
            for t, close, row in zip(times, closes, rows, strict=True):
                last_price[symbol] = close
                set_mark(symbol, close)
                for key, v in zip(values, row, strict=True):
                    env[key] = v
                take(t)
    close = candles[-1].close
    last_price[symbol] = close
    set_mark(symbol, close)
    for key, vals in values.items():
        env[key] = vals[-1]
    return next_sample


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

    def bulk(times: list[int], prices: list[Decimal], values: list[tuple[float, ...]]) -> bool:
        if engine.position(symbol).amount == 0:
            equity = engine.equity(asset)
            note_day(equity)
            sampler.take_run(times, prices, values, equity)
        else:
            equities = sampler.take_held_run(times, prices, values)
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
