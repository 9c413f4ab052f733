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


def diagnostics(text: str) -> list[tuple[int, int, str, str | None]]:
    with pytest.raises(RulebookError) as info:
        compile_text(text)
    return [(d.span.line, d.span.column, d.message, d.hint) for d in info.value.diagnostics if d.span and d.is_error]


@pytest.mark.parametrize(("item", "got"), [("null", "nothing"), ("3", "3"), ("[x]", "a list"), ("exit", "'exit'")])
def test_a_rule_that_is_not_a_mapping_is_called_one_with_the_keys_a_rule_has(item, got):
    """`rules: [null]` said "expected model, got nothing": 'model' is the schema library's word."""
    text = RULEBOOK.split("rules:")[0] + f"rules:\n  - {item}\n"
    [(line, column, message, hint)] = diagnostics(text)
    assert (line, column, message) == (6, 5, f"expected a mapping, got {got}")
    assert hint is not None and hint.startswith("a rule's keys: name, on, in, when, do")


def test_a_param_whose_name_is_a_number_is_pointed_at_its_name():
    """`params: {1: 3}` said "expected string, got 3" under the value 3, which is fine: the name
    1 is the number YAML reads it as."""
    text = RULEBOOK.replace("VALUE", "3").replace("rules:", "params:\n  1: 3\nrules:")
    [(line, column, message, _)] = diagnostics(text)
    assert (line, column, message) == (6, 3, "expected a string, got 1")


@pytest.mark.parametrize(
    ("old", "new", "hint"),
    [
        ("do: [{set_leverage: VALUE}]", "do: [{stop_loss: 3%}]", "keys of 'stop_loss': price, distance,"),
        ("rules:", "account: 3\nrules:", "keys of 'account': margin, position_mode, leverage"),
        ("rules:", "states:\n  flat: 3\nrules:", "a state's keys: position, timeout, then"),
    ],
)
def test_a_section_that_is_not_a_mapping_gets_its_own_keys_as_the_hint(old, new, hint):
    [(_, _, message, got)] = diagnostics(RULEBOOK.replace(old, new).replace("VALUE", "3"))
    assert message.startswith("expected a mapping, got ") and got is not None and got.startswith(hint), got


def test_a_fraction_where_a_whole_number_goes_says_so_in_the_words_of_the_others():
    """`set_leverage: {to: 2.5}` gave pydantic's own "Input should be a valid integer, got a number
    with a fractional part", unlike every other message."""
    (message,) = messages("{to: 2.5}")
    assert message == "expected a whole number, got 2.5"


def test_a_declared_param_without_a_default_is_told_the_key_it_misses():
    """`fast: {min: 10}` said "invalid value a mapping: expected a number or a whole number or a
    string or true or false": the mapping is right, its default is what is missing."""
    text = RULEBOOK.replace("VALUE", "3").replace("rules:", "params:\n  fast: {min: 10}\nrules:")
    [(line, _, message, _)] = diagnostics(text)
    assert (line, message) == (6, "missing required key 'default' in 'fast'")


def test_a_param_of_no_type_lists_each_kind_once():
    text = RULEBOOK.replace("VALUE", "3").replace("rules:", "params:\n  x: null\nrules:")
    [(_, _, message, _)] = diagnostics(text)
    assert message == "invalid value nothing: expected a number or a string or true or false"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("rules:", "risk:\n  stale_after: 5\nrules:"),
        ("rules:", "states:\n  flat: {position: none, timeout: 90}\nrules:"),
    ],
)
def test_a_bare_number_where_a_duration_goes_is_asked_for_a_unit(old, new):
    """`stale_after: 5` said "expected a string, got 5": the user wrote seconds, and the fix is
    the unit, not quotes."""
    [(_, _, message, hint)] = diagnostics(RULEBOOK.replace(old, new).replace("VALUE", "3"))
    assert message.startswith("expected a duration like 15m, got ")
    assert hint == "a number and a unit s, m, h, d or w, e.g. 90s, 15m, 2h"
