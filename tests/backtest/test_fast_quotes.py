"""On the simulated market the fast path folds quiet index prices and book tops and gives the event
path's answer (backtest/fast_quotes.py).

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
