"""A condition `true_is_clean` (engine/dispatch.py) says has read no NaN when it comes out true does
not need its NaN-checking twin then: on generated conditions and values (NaN among them), whenever
such a condition is true, the twin runs through without raising, so the dispatch's skipped NaN test
changes no decision."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, event, example, given, settings
from hypothesis import strategies as st

from rulebot.engine.dispatch import true_is_clean
from rulebot.rulebook.errors import ExprError
from rulebot.rulebook.expr import compile_expr
from rulebot.rulebook.expr_types import ExprType
from tests.backtest.test_trade_screen import SCOPE, _env, conditions, values

NAMES = ("fast", "slow", "bb.upper", "bb.lower", "close@1m", "k", "price", "upnl", "equity", "bid", "hour")
# Mostly the shapes that are clean, with now and then one that is not, inside them.
numbers = st.recursive(
    st.sampled_from((*NAMES, "0", "1", "2.5", "-3", "0.001")),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "//", "%"]), inner).map(" ".join).map("({})".format),
        inner.map("(-{})".format),
        inner.map("abs({})".format),
        inner.map("pct({})".format),
        st.tuples(inner, inner).map(lambda t: f"max({t[0]}, {t[1]})"),
    ),
    max_leaves=3,
)
comparisons = st.one_of(
    st.tuples(numbers, st.sampled_from(["<", "<=", ">", ">=", "==", "<", ">", "!="]), numbers).map(" ".join),
    st.tuples(numbers, numbers, numbers).map(lambda t: f"{t[0]} < {t[1]} <= {t[2]}"),
)
clean_ish = st.one_of(
    comparisons,
    st.lists(comparisons, min_size=2, max_size=4).map(" and ".join),
    st.tuples(comparisons, comparisons, comparisons).map(lambda t: f"{t[0]} and ({t[1]} or {t[2]})"),
    st.tuples(comparisons, comparisons).map(lambda t: f"{t[0]} and not ({t[1]})"),
)


NAN_FAST = [math.nan, 1.0, 3.0, -1.0, 2.0, 1.0, 5.0, 1.0, 100.0]  # fast is NaN, upnl 1


@settings(max_examples=4000, deadline=None)
# Each shape left out, true with a NaN it read: the twin raises, so calling it clean would lose an error.
@example(text="price > fast or upnl > 0", vals=NAN_FAST, price=1.0)
@example(text="price != fast", vals=NAN_FAST, price=1.0)
@example(text="not (price > fast)", vals=NAN_FAST, price=1.0)
@example(text="max(price, fast) > 0", vals=NAN_FAST, price=1.0)
@example(text="fast ** 0 > 0", vals=NAN_FAST, price=1.0)
@given(text=st.one_of(clean_ish, clean_ish, conditions), vals=st.lists(values, min_size=9, max_size=9), price=values)
def test_a_clean_condition_that_comes_out_true_read_no_nan(text: str, vals: list[float], price: float) -> None:
    try:
        expr = compile_expr(text, SCOPE, ExprType.BOOL)
    except ExprError:
        assume(False)
        raise
    assert expr.node is not None
    if expr.nan_checked is None:
        return  # reads no name
    env = {**_env(vals), "price": price, "mark_price": price}
    clean = true_is_clean(expr.node)
    try:
        result = expr.fn(env)
    except (ArithmeticError, ValueError, TypeError):
        return
    nan = any(isinstance(v, float) and math.isnan(v) for v in env.values())
    event(f"clean={clean} true={bool(result)} nan_in_env={nan}")
    if clean and result:
        expr.nan_checked(env)  # raises where the engine would count a rule error


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("price < bb.lower and upnl > 0", True),
        ("abs(price - fast) / 2 >= pct(slow) * k and price == bid", True),
        ("fast < price < slow", True),
        ("price > fast or upnl > 0", False),  # a NaN `price > fast` is false, and `or` goes on
        ("price != fast", False),  # true when either is NaN
        ("not (price > fast)", False),
        ("max(price, fast) > 0", False),  # max(1, nan) is 1
        ("price ** 2 > 0", False),
        ("crossover(fast, price)", False),
    ],
)
def test_which_conditions_are_clean(text: str, clean: bool) -> None:
    expr = compile_expr(text, SCOPE, ExprType.BOOL)
    assert expr.node is not None
    assert true_is_clean(expr.node) is clean
