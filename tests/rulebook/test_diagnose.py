"""Schema errors turned into messages: each names what is wrong with the value actually written."""

from __future__ import annotations

import pytest

from rulebot.rulebook.compiler import compile_text
from rulebot.rulebook.errors import RulebookError

RULEBOOK = """\
rulebook: t
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
rules:
  - name: lever
    on: candle_close 1m
    do: [{set_leverage: VALUE}]
"""


def messages(value: str) -> list[str]:
    with pytest.raises(RulebookError) as info:
        compile_text(RULEBOOK.replace("VALUE", value))
    return [d.message for d in info.value.diagnostics if d.is_error]


@pytest.mark.parametrize(("value", "bound"), [("1000", "125"), ("0", "1"), ("{to: 1000}", "125"), ("-3", "1")])
def test_a_whole_number_out_of_range_is_called_out_of_range_not_a_wrong_type(value, bound):
    # `set_leverage: 1000` is a whole number: "expected a whole number" sent people looking for
    # a typo that is not there. The message says the range, whichever form was written.
    (message,) = messages(value)
    assert "out of range" in message and bound in message, message
    assert "expected a whole number" not in message


def test_a_value_of_the_wrong_type_still_says_what_was_expected():
    (message,) = messages('"ten"')
    assert "expected" in message and "'ten'" in message, message


GUARDED = """\
rulebook: t
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
params: {k: 1}
risk:
  max_leverage: 5
rules:
  - name: note
    on: candle_close 1m
    do: [{log: "x"}]
"""


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("max_leverage: 5", "max_position_notional: .inf"),  # was taken: 'Infinity' in --explain
        ("max_leverage: 5", "max_position_notional: 1e400"),  # YAML reads it as infinity
        ("max_leverage: 5", "volatility_breaker: .inf"),
        ("max_leverage: 5", "max_margin_ratio: .nan"),  # was "expected a string or a number"
        ("params: {k: 1}", "params: {k: .nan}"),
    ],
)
def test_infinity_and_nan_are_not_numbers_a_rulebook_can_use(old, new):
    with pytest.raises(RulebookError) as info:
        compile_text(GUARDED.replace(old, new))
    (message,) = [d.message for d in info.value.diagnostics if d.is_error]
    assert "is not a finite number" in message, message
