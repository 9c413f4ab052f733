"""Two conditions that can never hold at once need no `priority` between their rules.

`exclusive` only spares an error: every pair it calls exclusive must really be, which the
property test checks by evaluating both conditions over many values of their inputs.
"""

from __future__ import annotations

import itertools

import pytest

from rulebot.rulebook.compiler import compile_text
from rulebot.rulebook.errors import RulebookError
from rulebot.rulebook.expr import ExprType, compile_expr
from rulebot.rulebook.expr_exclusive import exclusive
from rulebot.rulebook.scope import Scope

SCOPE = Scope.build(
    params={"level": 50},
    indicators={"fast": (), "slow": (), "rsi": ()},
    timeframes=["1m"],
    states=["flat", "long", "short"],
)


def node(text: str):
    compiled = compile_expr(text, SCOPE, ExprType.BOOL)
    assert compiled.node is not None
    return compiled.node


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("crossover(fast, slow)", "crossunder(fast, slow)"),
        ("crossover(fast, slow)", "crossover(slow, fast)"),
        ("fast > slow", "fast < slow"),
        ("fast > slow", "slow >= fast"),
        ("fast >= slow", "fast < slow"),
        ("fast == slow", "fast != slow"),
        ("crossover(fast, slow) and rsi < 70", "crossunder(fast, slow) and rsi > 30"),
        ("crossover(fast, slow)", "fast < slow"),
        ("rsi < level", "rsi > level"),
        ("fast > slow", "not (fast > slow)"),
        ("rsi < 30 < fast", "30 > fast"),
    ],
)
def test_exclusive_pairs(a, b):
    assert exclusive(node(a), node(b)) and exclusive(node(b), node(a))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("fast > slow", "fast >= slow"),
        ("fast >= slow", "fast <= slow"),  # both hold when equal
        ("fast > slow", "rsi < 30"),
        ("fast > slow or rsi > 70", "fast < slow"),  # an `or` is not read: taken as possibly together
        ("crossover(fast, slow)", "crossover(fast, slow)"),
        ("rsi < 30", "rsi > 70"),  # true, but different thresholds are not compared
    ],
)
def test_pairs_that_may_hold_together_or_are_not_proven_exclusive(a, b):
    assert not exclusive(node(a), node(b))
    assert not exclusive(node(a), None) and not exclusive(None, node(b))


FORMS = [
    "fast > slow",
    "fast < slow",
    "fast >= slow",
    "fast <= slow",
    "fast == slow",
    "fast != slow",
    "slow > fast",
    "slow <= fast",
    "not (fast > slow)",
    "crossover(fast, slow)",
    "crossunder(fast, slow)",
    "crossover(slow, fast)",
    "crossover(fast, slow) and rsi < 50",
    "rsi > 50 and fast < slow",
]
GRID = [1.0, 2.0, 3.0, float("nan")]
ENVS = [
    {"fast": f, "slow": s, "rsi": r, "prev:fast": pf, "prev:slow": ps}
    for f, s, pf, ps in itertools.product(GRID, repeat=4)
    for r in (40.0, 60.0)
]


@pytest.mark.parametrize("a", FORMS)
def test_conditions_called_exclusive_are_never_both_true(a):
    """Every pair of forms, over every combination of values (equal ones and NaN included)."""
    ca = compile_expr(a, SCOPE, ExprType.BOOL)
    for b in FORMS:
        cb = compile_expr(b, SCOPE, ExprType.BOOL)
        if exclusive(ca.node, cb.node):
            both = [env for env in ENVS if ca.fn(env) and cb.fn(env)]
            assert not both, (a, b, both[:1])


BOOK = """\
rulebook: t
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
indicators:
  fast: ema(close@1m, 9)
  slow: ema(close@1m, 30)
rules:
  - name: go-long
    on: candle_close 1m
    in: flat
    when: crossover(fast, slow)
    do: [{enter: {side: long, size: 1%}}, {stop_loss: {distance: 1%}}, {goto: long}]
  - name: go-short
    on: candle_close 1m
    in: flat
    when: WHEN
    do: [{enter: {side: short, size: 1%}}, {stop_loss: {distance: 1%}}, {goto: short}]
  - name: out
    on: candle_close 1m
    in: [long, short]
    when: fast == slow
    do: [exit, {goto: flat}]
"""


def test_crossover_and_crossunder_entries_need_no_priority_but_a_real_race_still_does():
    compile_text(BOOK.replace("WHEN", "crossunder(fast, slow)"))  # compiles: no error
    with pytest.raises(RulebookError) as err:
        compile_text(BOOK.replace("WHEN", "fast < 2 * slow"))
    assert [d.code for d in err.value.diagnostics] == ["opposite-entries"]
