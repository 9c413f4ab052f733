"""The fast paths against the event path on klines with holes, where one kline closes several candles
at once (the 5m bucket the hole ended and the minute after it): each is published and its rules run
before the next (engine/market_events.py), on every path alike."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulebot.backtest.result import BacktestResult
from rulebot.backtest.runner import BacktestConfig, run_backtest
from rulebot.core.enums import Market
from rulebot.core.events import CandleClosed
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.rulebook.compiler import compile_text
from tests.backtest.test_fast_path import MINUTE, both, candles, rulebooks


def with_holes(data: list[CandleClosed], seed: int) -> list[CandleClosed]:
    """`data` with runs of 1 to 12 minutes missing, about one minute in twenty."""
    rng = random.Random(seed)
    out, skip = [], 0
    for c in data:
        if skip:
            skip -= 1
            continue
        if rng.random() < 0.02:
            skip = rng.randint(0, 11)
            continue
        out.append(c)
    return out


def on_five_minutes(text: str) -> str:
    """A generated rulebook whose emas are of 5m closes and whose `arm` rule runs on them."""
    text = text.replace("timeframes: [1m]", "timeframes: [1m, 5m]").replace("ema(close@1m", "ema(close@5m")
    return text.replace("on: candle_close 1m\n    in: flat", "on: candle_close 5m\n    in: flat")


def closes_at_once(data: list[CandleClosed]) -> int:
    """Klines after a hole that also close the 5m bucket the hole ended (two candles at one event)."""
    return sum(
        1
        for a, b in itertools.pairwise(data)
        if b.open_time - a.open_time > MINUTE
        and (a.open_time // (5 * MINUTE)) != (b.open_time // (5 * MINUTE))
        and (a.close_time + 1) % (5 * MINUTE)
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=rulebooks(),
    seed=st.integers(0, 10_000),
    n=st.integers(200, 600),
    vol=st.sampled_from([0.0005, 0.002, 0.01]),
)
def test_generated_rulebooks_on_candles_with_holes_give_the_same_backtest(text: str, seed: int, n: int, vol: float):
    book = compile_text(on_five_minutes(text), "generated.yaml")
    data = with_holes(candles(seed, n, vol, 0.05), seed)
    instruments, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)

    def run(path: str, record: Callable[[object], None]) -> BacktestResult:
        config = BacktestConfig(path=path, record_all_decisions=seed % 3 == 0)
        return run_backtest(book, iter(data), instruments, brackets, config, on_record=record)

    both(run)


def test_the_generated_holes_close_candles_at_once():
    assert all(closes_at_once(with_holes(candles(seed, 300, 0.002, 0.05), seed)) > 0 for seed in range(20))
