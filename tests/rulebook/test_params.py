"""Declared parameters: `--set` and sweeps may only give a parameter a value it allows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rulebot.rulebook.compiler import compile_text
from rulebot.rulebook.errors import RulebookError
from rulebot.rulebook.params import ParamDecl, value_problem

RULES = """\
indicators:
  ema_fast: ema(close@15m, fast)
  ema_slow: ema(close@15m, slow)
rules:
  - name: enter
    on: candle_close 15m
    in: flat
    when: crossover(ema_fast, ema_slow) and mode == "trend"
    do:
      - enter: {side: long, size: "risk * 100%"}
      - stop_loss: {distance: 2%}
      - goto: long
  - name: leave
    on: candle_close 15m
    in: long
    when: ema_fast < ema_slow
    do: [exit, {goto: flat}]
"""
HEAD = "rulebook: t\nmarket: usdm\nsymbols: [BTCUSDT]\ntimeframes: [15m]\n"
DECLARED = (
    HEAD
    + """\
params:
  fast: {default: 12, min: 5, max: 50, description: fast EMA length}
  slow: 55
  risk: {default: 0.02, min: 0.001, max: 0.05}
  mode: {default: trend, choices: [trend, fade]}
"""
    + RULES
)


def errors(text: str, overrides: dict[str, str] | None = None) -> list[tuple[str, str, int | None]]:
    try:
        compile_text(text, "t.yaml", overrides)
    except RulebookError as exc:
        return [(d.code, d.message, d.span.line if d.span else None) for d in exc.diagnostics if d.is_error]
    return []


def test_declared_params_compile_to_their_defaults_and_keep_the_declaration():
    book = compile_text(DECLARED, "t.yaml")
    assert dict(book.params) == {"fast": 12, "slow": 55, "risk": 0.02, "mode": "trend"}
    fast = book.param_decls["fast"]
    assert (fast.kind, fast.min, fast.max, fast.declared, fast.description) == ("int", 5, 50, True, "fast EMA length")
    assert book.param_decls["slow"].declared is False
    assert book.param_decls["mode"].choices == ("trend", "fade")


def test_plain_params_still_compile_and_take_overrides_as_before():
    book = compile_text(
        HEAD + "params: {fast: 12, slow: 55, risk: 0.02, mode: trend}\n" + RULES, "t.yaml", {"fast": "13", "risk": "1"}
    )
    assert book.params["fast"] == 13 and book.params["risk"] == 1


@pytest.mark.parametrize(
    ("name", "raw", "code", "says"),
    [
        ("fast", "60", "param-range", "60 is above the declared max 50"),
        ("fast", "4", "param-range", "4 is below the declared min 5"),
        ("fast", "13.5", "param-type", "13.5 is not an int"),
        ("risk", "0.5", "param-range", "above the declared max 0.05"),
        ("mode", "revert", "param-range", "'revert' is not one of 'trend', 'fade'"),
        ("mode", "3", "param-range", "'3' is not one of 'trend', 'fade'"),  # a text param takes "3" as text
    ],
)
def test_a_set_outside_the_declared_range_or_type_is_one_clear_compile_error(name, raw, code, says):
    found = errors(DECLARED, {name: raw})
    assert len(found) == 1, found
    assert found[0][0] == code and says in found[0][1] and f"--set {name}={raw}" in found[0][1]


def test_a_text_param_takes_text_that_looks_like_a_number_or_a_bool():
    """`--set tag=10` was the number 10, which a text parameter then refused ("10 is not a str")."""
    text = DECLARED.replace(
        "mode: {default: trend, choices: [trend, fade]}", 'mode: {default: trend, choices: [trend, "10", "true"]}'
    )
    assert compile_text(text, "t.yaml", {"mode": "10"}).params["mode"] == "10"
    assert compile_text(text, "t.yaml", {"mode": "true"}).params["mode"] == "true"
    assert compile_text(text, "t.yaml", {"fast": "13"}).params["fast"] == 13  # numbers stay numbers


def test_a_whole_float_for_a_declared_int_becomes_the_int():
    book = compile_text(DECLARED, "t.yaml", {"fast": "13.0"})
    assert book.params["fast"] == 13 and isinstance(book.params["fast"], int)


@pytest.mark.parametrize(
    ("decl", "says", "line"),
    [
        ("{default: 60, min: 5, max: 50}", "the default 60 is above the declared max 50", 7),
        ("{default: 12, min: 50, max: 5}", "max 5 is below min 50", 7),
        ("{default: 12, min: 5.5}", "its min 5.5 is not a whole number", 7),
        ("{default: trend, min: 1}", "applies to numbers only", 7),
        ("{default: 3, choices: [1, 2]}", "the default 3 is not one of its choices", 7),
        ("{default: 3, choices: [3, x]}", "choice 'x' is not an int", 7),
    ],
)
def test_a_declaration_that_contradicts_itself_is_an_error_at_its_line(decl, says, line):
    text = HEAD + "params:\n  slow: 55\n  fast: " + decl + "\n  risk: 0.02\n  mode: trend\n" + RULES
    found = errors(text)
    assert found and says in found[0][1] and found[0][0] == "param-declaration" and found[0][2] == line, found


def test_an_unknown_key_in_a_declaration_is_a_schema_error():
    found = errors(
        HEAD + "params:\n  fast: {default: 12, maximum: 50}\n  slow: 55\n  risk: 0.02\n  mode: trend\n" + RULES
    )
    assert found and "maximum" in " ".join(m for _, m, _ in found)


@given(lo=st.integers(-100, 100), width=st.integers(0, 100), value=st.integers(-300, 300))
def test_a_declared_int_range_admits_exactly_the_values_inside_it(lo, width, value):
    decl = ParamDecl("n", lo, "int", True, lo, lo + width)
    assert (value_problem(decl, value) is None) == (lo <= value <= lo + width)
    assert (value_problem(decl, value + 0.5) is None) is False
