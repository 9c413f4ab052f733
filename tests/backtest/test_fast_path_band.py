"""The candle array path's question for the quiet band (`FastSession.quiet_edges`) goes unanswered,
held, when the engine's clock acts inside the next candle (`_walks_next`): that candle is walked
whatever the band. Differential: the same backtest with and without the shortcut, everything a user
sees equal, the line on the path (how many candles were jumped, walked, and why) included."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulebot.backtest import fast_path
from rulebot.backtest.result import BacktestResult
from rulebot.backtest.runner import BacktestConfig, run_backtest
from rulebot.core.enums import Market
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.rulebook.compiler import compile_text
from tests.backtest.test_fast_path import candles, rulebooks, summary_text

# Always in the market, reversing on an EMA cross (bench/peers.py): a protective-stop deadline
# falls inside the candle after every entry.
ALWAYS_IN = """
rulebook: always-in
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
indicators:
  fast: ema(close@1m, 3)
  slow: ema(close@1m, 8)
rules:
  - name: start-long
    on: candle_close 1m
    in: flat
    when: fast > slow
    priority: 1
    do: [{enter: {side: long, size: 0.01}}, {goto: long}]
  - name: start-short
    on: candle_close 1m
    in: flat
    when: fast < slow
    do: [{enter: {side: short, size: 0.01}}, {goto: short}]
  - name: reverse-to-short
    on: candle_close 1m
    in: long
    when: crossunder(fast, slow)
    do: [exit, {enter: {side: short, size: 0.01}}, {goto: short}]
  - name: reverse-to-long
    on: candle_close 1m
    in: short
    when: crossover(fast, slow)
    do: [exit, {enter: {side: long, size: 0.01}}, {goto: long}]
"""


def run(
    text: str, data: list[Any], shortcut: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[BacktestResult, list[object], int]:
    """The auto path's backtest, its journal records and how many bands were drawn."""
    drawn = [0]
    compute = fast_path.FastSession._compute_band

    def counted(self: fast_path.FastSession) -> Any:
        drawn[0] += 1
        return compute(self)

    with monkeypatch.context() as m:
        m.setattr(fast_path.FastSession, "_compute_band", counted)
        if not shortcut:
            m.setattr(fast_path.FastSession, "_walks_next", lambda self: False)
        records: list[object] = []
        book = compile_text(text, "generated.yaml")
        instruments, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)
        config = BacktestConfig(path="auto", chart_buckets=1 << 20)
        result = run_backtest(book, iter(data), instruments, brackets, config, on_record=records.append)
    return result, records, drawn[0]


def same(a: tuple[BacktestResult, list[object], int], b: tuple[BacktestResult, list[object], int]) -> None:
    (ra, records_a, _), (rb, records_b, _) = a, b
    assert records_a == records_b
    assert ra.fills == rb.fills
    assert ra.equity_curve == rb.equity_curve
    assert summary_text(ra) == summary_text(rb)
    assert (ra.path, ra.path_reason) == (rb.path, rb.path_reason)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    text=rulebooks(),
    seed=st.integers(0, 10_000),
    n=st.integers(60, 400),
    vol=st.sampled_from([0.0005, 0.002, 0.01]),
    jump=st.sampled_from([0.0, 0.05]),
)
def test_generated_rulebooks_give_the_same_backtest_with_and_without_the_shortcut(
    text: str, seed: int, n: int, vol: float, jump: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = candles(seed, n, vol, jump)
    same(run(text, data, True, monkeypatch), run(text, data, False, monkeypatch))


@pytest.mark.parametrize("seed", [3, 11])
def test_a_stop_and_reverse_draws_one_band_a_trade_and_the_same_backtest(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = candles(seed, 1500, 0.002, 0.0)
    with_it, without = run(ALWAYS_IN, data, True, monkeypatch), run(ALWAYS_IN, data, False, monkeypatch)
    same(with_it, without)
    trades = len(with_it[0].fills) // 2
    assert trades > 50
    assert with_it[2] < without[2] - trades // 2  # the band after each entry is no longer drawn
