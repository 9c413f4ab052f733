"""On the simulated market the fast path folds quiet index prices and book tops, takes quiet mark prices
without the checks that cannot act, and gives the event path's answer (backtest/fast_quotes.py).

Differential, as test_fast_path.py: each run goes through `--path event` (every event to the venue
and the engine) and the default path, and the journal records, fills, equity curve and summary must
be equal. The demo itself, and generated rulebooks (stops, take-profits, trailing stops, limits,
`on: trade` exits, timers, the daily cap, high leverage, a rule on `book`) on each preset's market.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulebot.backtest.api import _with_symbols_and_duration, demo
from rulebot.backtest.result import BacktestResult
from rulebot.backtest.runner import BacktestConfig, run_backtest
from rulebot.core.enums import Market
from rulebot.exchange_sim import FillModel
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.feeds.simulated.config import preset as make_preset
from rulebot.feeds.simulated.market import SimulatedMarket
from rulebot.rulebook.compiler import compile_text
from tests.backtest.test_fast_path import RULES, both, rulebooks


def test_the_demo_gives_the_same_answer_on_both_paths() -> None:
    def run(path: str, record: Callable[[object], None]) -> BacktestResult:
        config = BacktestConfig(path=path, fill_model=FillModel.realistic())
        result, _ = demo(str(RULES / "ema-trend-btc.yaml"), hours=24, config=config, on_record=record)
        return result

    event, fast = both(run, "auto")
    assert event.fills  # the comparison means something: the demo traded
    assert fast.path == "fast", fast.path_reason
    assert "index prices and book tops folded" in fast.path_reason
    assert "mark prices taken quietly" in fast.path_reason
    assert fast.events == event.events
    assert fast.events_by_symbol == event.events_by_symbol


BOOK_RULE = """
  - name: on-book
    on: book
    in: long
    when: bid < ask
    do: [{log: "book {bid} {ask}"}]"""


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=rulebooks(),
    preset=st.sampled_from(["calm", "trending", "volatile", "crash"]),
    seed=st.integers(0, 10_000),
    hours=st.integers(1, 2),
    book_rule=st.booleans(),
    fill=st.sampled_from([FillModel(), FillModel.realistic()]),
)
def test_generated_rulebooks_on_the_simulated_market_give_the_same_backtest(
    text: str, preset: str, seed: int, hours: int, book_rule: bool, fill: FillModel
) -> None:
    rulebook = text.replace("\nrisk:", BOOK_RULE + "\nrisk:", 1) if book_rule else text
    book = compile_text(rulebook, "generated.yaml")
    cfg = _with_symbols_and_duration(make_preset(preset), book, hours)
    cfg = replace(cfg, trade_rate=4.0)  # busier than the demo's: more minutes with fills and stops
    instruments, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)

    def run(path: str, record: Callable[[object], None]) -> BacktestResult:
        config = BacktestConfig(path=path, fill_model=fill, record_all_decisions=seed % 3 == 0)
        return run_backtest(book, SimulatedMarket(cfg, seed=seed), instruments, brackets, config, on_record=record)

    event, fast = both(run, "auto")
    assert fast.events == event.events


TRAILING_ON_MARK = """
rulebook: trailing-on-mark
market: usdm
symbols: [BTCUSDT]
account: {margin: isolated, leverage: 5}
timeframes: [1m]
indicators:
  fast: ema(close@1m, 3)
  slow: ema(close@1m, 8)
states:
  flat: {position: none}
  long: {position: long}
rules:
  - name: go
    on: candle_close 1m
    in: flat
    when: fast > slow
    do: [{enter: {side: long, size: "equity * 0.5 / price", order: market}},
         {trailing_stop: {callback: 0.2%, working_type: mark_price}}, {goto: long}]
risk:
  max_leverage: 10
  daily_loss_cap: 5%
"""


def test_a_trailing_stop_on_the_mark_follows_the_marks_taken_quietly() -> None:
    """Each mark taken quietly still moves a trailing stop that watches the mark (fold_mark): without
    that, the stop of this run's first trade never rose and never triggered (1 fill instead of 123)."""
    book = compile_text(TRAILING_ON_MARK, "trailing-on-mark.yaml")
    cfg = replace(_with_symbols_and_duration(make_preset("volatile"), book, 3), trade_rate=4.0)
    instruments, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)

    def run(path: str, record: Callable[[object], None]) -> BacktestResult:
        return run_backtest(
            book, SimulatedMarket(cfg, seed=3), instruments, brackets, BacktestConfig(path=path), record
        )

    event, fast = both(run, "auto")
    assert len(event.fills) > 100
    assert "mark prices taken quietly" in fast.path_reason
