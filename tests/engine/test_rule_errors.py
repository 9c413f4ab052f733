"""A condition that fails at run time (division by zero, a NaN input) is an error the user
sees, never a silent `false`."""

from __future__ import annotations

from decimal import Decimal

from rulebot.engine import records as rec
from rulebot.engine.engine import Engine
from rulebot.rulebook.compiler import compile_text
from tests.engine.conftest import T0, backtest, trades

HEAD = """\
rulebook: t
market: usdm
symbols: [ADAUSDT]
timeframes: [1m]
account: {leverage: 5}
"""


def _rules(when: str, state: str = "flat") -> str:
    return (
        HEAD
        + f"""\
rules:
  - name: probe
    on: trade
    in: {state}
    when: "{when}"
    do: [{{log: "fired"}}]
"""
    )


def _decisions(records):
    return [r for r in records if isinstance(r, rec.Decision)]


def test_a_condition_that_divides_by_zero_is_recorded_as_an_error_not_a_silent_false(usdm):
    _, records = backtest(_rules("price / position.size > 1"), trades([1.0, 1.1, 1.2]), usdm)
    failed = [d for d in _decisions(records) if d.error]
    assert len(failed) == 3 and not any(d.fired for d in failed)
    assert "ZeroDivisionError" in failed[0].error


def test_a_condition_that_reads_nan_is_an_error_naming_the_input(usdm):
    # Flat, `entry_price` is NaN: `price > entry_price` was silently false on every trade.
    _, records = backtest(_rules("price > entry_price"), trades([1.0, 1.1]), usdm)
    failed = [d for d in _decisions(records) if d.error]
    assert len(failed) == 2 and "entry_price is NaN" in failed[0].error


def test_a_nan_that_makes_not_equal_true_does_not_fire_the_rule(usdm):
    _, records = backtest(_rules("entry_price != 5"), trades([1.0]), usdm)
    [d] = _decisions(records)
    assert not d.fired and "entry_price is NaN" in d.error


def test_a_nan_input_that_short_circuit_never_evaluates_is_no_error(usdm):
    _, records = backtest(_rules("position.size > 0 and price > entry_price"), trades([1.0, 1.1]), usdm)
    assert not [d for d in _decisions(records) if d.error]


def test_crossover_before_there_is_a_previous_value_is_no_error(usdm):
    text = (
        HEAD
        + """\
indicators:
  fast: sma(close@1m, 2)
  slow: sma(close@1m, 3)
rules:
  - name: cross
    on: candle_close 1m
    when: crossover(fast, slow)
    do: [{log: "cross"}]
"""
    )
    _, records = backtest(text, trades([1, 2, 3, 2, 1, 2, 3, 4, 5, 6]), usdm)
    assert not [d for d in _decisions(records) if d.error]


def test_a_condition_that_stops_before_an_account_value_does_not_have_them_computed(usdm):
    # The NaN test reads an account value only when the condition did (the env holds them all then):
    # `price < 0 and upnl > 0` on every trade must not value the account for nothing.
    engine = Engine(compile_text(_rules("price < 0 and upnl > 0")), usdm[0], {"USDT": Decimal(10_000)})
    engine.start(T0)
    env = engine.state.runs["ADAUSDT"].market.env
    for trade in trades([1.0, 1.1]):
        step = engine.on_event(trade)
        assert not step.records and not env.filled and "upnl" not in env
    _, records = backtest(_rules("price > 0 and entry_price > 0"), trades([1.0]), usdm)
    [d] = _decisions(records)
    assert "entry_price is NaN" in d.error  # one the condition reaches is still checked
