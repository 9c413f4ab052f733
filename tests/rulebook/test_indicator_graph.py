"""Indicator definitions: each call checked where it is written, before the graph is ordered."""

from __future__ import annotations

import pytest

from rulebot.rulebook.compiler import compile_text
from rulebot.rulebook.errors import RulebookError

BOOK = """\
rulebook: t
market: usdm
symbols: [BTCUSDT]
timeframes: [15m]
params: {fast: 12, slow: 10}
indicators:
  x: DEFINITION
rules:
  - name: r
    on: candle_close 15m
    when: x.line > 0
    do: [{log: "x"}]
"""


def errors(definition: str) -> list[tuple[int, str, str | None]]:
    text = BOOK.replace("DEFINITION", definition)
    if not definition.startswith("macd"):
        text = text.replace("x.line", "x")
    with pytest.raises(RulebookError) as info:
        compile_text(text)
    return [(d.span.column if d.span else 0, d.message, d.hint) for d in info.value.diagnostics if d.is_error]


@pytest.mark.parametrize(
    ("definition", "message", "hint"),
    [
        (
            "macd(close@15m, 26, 12, 9)",
            "macd's fast length 26 is not below its slow length 12",
            "swap them: macd(close@15m, 12, 26, 9)",
        ),
        ("macd(close@15m, 12, 12)", "macd's fast length 12 is not below its slow length 12", None),
        (
            "macd(close@15m, 12, slow)",
            "macd's fast length 12 is not below its slow length slow = 10",
            "swap them: macd(close@15m, slow, 12)",
        ),
        (
            "macd(close@15m, fast, slow, 9)",
            "macd's fast length fast = 12 is not below its slow length slow = 10",
            "swap them: macd(close@15m, slow, fast, 9)",
        ),
        ("macd(close@15m, 30)", "macd's fast length 30 is not below its slow length 26 (the default)", None),
    ],
)
def test_a_macd_whose_fast_length_is_not_below_its_slow_one_is_an_error(definition, message, hint):
    """macd(x, 26, 12) compiled: its line is the usual one upside down, and at 12, 12 always 0."""
    [(column, got, got_hint)] = errors(definition)
    assert (column, got) == (6, message)
    if hint is not None:
        assert got_hint == hint
    else:
        assert got_hint is not None and "fast" in got_hint


@pytest.mark.parametrize(
    ("definition", "message", "hint"),
    [
        (
            "ema(close@15m 20)",
            "ema takes 1 argument(s) after its input, got 0",
            "a comma is missing: ema(close@15m, 20)?",
        ),
        ("ema(close@15m, 20,)", "ema has an empty argument", "remove the extra comma: ema(close@15m, 20)"),
        ("ema(, close@15m, 20)", "ema has an empty argument", "remove the extra comma: ema(close@15m, 20)"),
    ],
)
def test_a_missing_or_extra_comma_is_called_one(definition, message, hint):
    """`ema(close@15m 20)` was "got 0" arguments and `ema(close@15m, 20,)` "got 2": counts that do
    not match what the user sees, with nothing about the comma."""
    [(_, got, got_hint)] = errors(definition)
    assert (got, got_hint) == (message, hint)


@pytest.mark.parametrize(("param", "kind"), [("on: true", "true or false"), ('tag: "x"', "text")])
def test_a_length_given_a_param_that_is_not_a_number_says_what_the_param_is(param, kind):
    """A bool param was "not a number or a numeric parameter; did you mean 'on'?": itself, since
    True is an int to Python."""
    name = param.split(":")[0]
    text = BOOK.replace("params: {fast: 12, slow: 10}", f"params: {{{param}}}").replace(
        "DEFINITION", f"ema(close@15m, {name})"
    )
    with pytest.raises(RulebookError) as info:
        compile_text(text.replace("x.line", "x"))
    [(message, hint)] = [(d.message, d.hint) for d in info.value.diagnostics if d.is_error]
    assert message == f"param '{name}' is {kind}, not a number"
    assert hint == "(n of ema)"


@pytest.mark.parametrize("number", ["1e400", "-1e400"])
def test_a_length_too_large_for_a_float_is_an_error_at_its_place_not_an_internal_error(number):
    """`ema(close@15m, 1e400)` reads as infinity: `rulebot validate` answered "internal error ...
    this is a bug" (exit 70, OverflowError), and a hot reload of it a message with no place."""
    ((column, message, _),) = errors(f"ema(close@15m, {number})")
    assert column == 21 and message == f"n of ema must be a finite number, got {number}"
