"""Compiled expressions and simpleeval agree on every well-typed expression and env."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulebot.rulebook.errors import ExprError
from rulebot.rulebook.expr import compile_expr
from rulebot.rulebook.expr_reference import ReferenceEvaluator
from rulebot.rulebook.scope import NameKind, Scope

SCOPE = Scope.build(
    params={"fast": 21, "risk": 0.01, "neg": -2.5, "on": True, "mode": "calm"},
    indicators={"ema_fast": (), "ema_slow": (), "atr": (), "macd": ("line", "signal", "hist")},
    timeframes=["1m", "15m"],
    states=["flat", "armed", "long"],
)
SERIES_NAMES = [n for n, i in SCOPE.names.items() if i.has_prev]
NUM_NAMES = [
    "price",
    "ema_fast",
    "ema_slow",
    "atr",
    "macd.line",
    "close@15m",
    "position.size",
    "equity",
    "hour",
    "fast",
    "risk",
    "neg",
]

numbers = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.floats(-1e6, 1e6, allow_nan=False).map(repr),
    st.sampled_from(["0", "0.0", "1.5%", "50%", "0.05%", "15m", "30s", "2h", "1e3", ".5"]),
)
num_leaves = st.one_of(numbers, st.sampled_from(NUM_NAMES))


def num_compound(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "//", "%"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        inner.map(lambda x: f"(-{x})"),
        st.tuples(inner, st.sampled_from(["2", "3", "-1", "0.5", "0"])).map(lambda t: f"({t[0]} ** {t[1]})"),
        inner.map(lambda x: f"abs({x})"),
        inner.map(lambda x: f"pct({x})"),
        inner.map(lambda x: f"round({x})"),
        st.tuples(inner, st.integers(-2, 3)).map(lambda t: f"round({t[0]}, {t[1]})"),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: f"min({', '.join(xs)})"),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: f"max({', '.join(xs)})"),
        st.tuples(inner, inner, inner).map(lambda t: f"clamp({t[0]}, {t[1]}, {t[2]})"),
        st.tuples(inner, simple_bools, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
    )


compare_ops = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])
simple_nums = st.recursive(
    num_leaves,
    lambda inner: st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})"
    ),
    max_leaves=4,
)
simple_bools = st.one_of(
    st.sampled_from(["true", "false", "on", 'mode == "calm"', 'position.side == "long"', 'state != "flat"']),
    st.tuples(simple_nums, compare_ops, simple_nums).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
)
nums = st.recursive(num_leaves, num_compound, max_leaves=10)


def bool_compound(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda x: f"(not {x})"),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[1]} if {t[0]} else {t[2]})"),
    )


bool_leaves = st.one_of(
    simple_bools,
    st.tuples(nums, compare_ops, nums).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
    st.tuples(nums, compare_ops, nums, compare_ops, nums).map(lambda t: f"({' '.join(t)})"),
    st.tuples(st.sampled_from(["crossover", "crossunder"]), simple_nums, simple_nums).map(
        lambda t: f"{t[0]}({t[1]}, {t[2]})"
    ),
)
bools = st.recursive(bool_leaves, bool_compound, max_leaves=6)

values = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, math.inf, -math.inf, math.nan]),
)


# Few distinct values, so that ties (prev(a) == prev(b), a == b) happen often: that is
# where crossover's `<=` against `<` shows.
tie_values = st.sampled_from([0.0, 1.0, 2.0])
tie_nums = st.recursive(
    st.one_of(st.sampled_from(["0", "1", "2"]), st.sampled_from(NUM_NAMES[:7])),
    lambda inner: st.tuples(inner, st.sampled_from(["+", "-"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
    max_leaves=3,
)


@st.composite
def envs(draw: st.DrawFn, values: st.SearchStrategy[float] = values) -> dict[str, Any]:
    env: dict[str, Any] = {}
    for name, info in SCOPE.names.items():
        if info.kind is NameKind.PARAM:
            continue
        if name == "position.side":
            env[name] = draw(st.sampled_from(["long", "short", "none"]))
        elif name == "state":
            env[name] = draw(st.sampled_from(["flat", "armed", "long"]))
        else:
            env[name] = draw(values)
    for name in SERIES_NAMES:
        if name != "position.side":
            env["prev:" + name] = draw(values)
    return env


def outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "value", fn()
    except (ArithmeticError, ValueError, TypeError) as exc:
        return "raises", type(exc)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


# Codes of refusals for sense, not for failure: the expression computes, but never what was meant.
SENSE_CHECKS = frozenset({"clamp-bounds", "never-crosses", "clock-value"})


def check_agrees(text: str, env: dict[str, Any]) -> None:
    try:
        compiled = compile_expr(text, SCOPE)
    except ExprError as exc:
        if all(i.code in SENSE_CHECKS for i in exc.issues):
            return  # refused as a slip (clamp(x, 2, 1)), though simpleeval computes it: nothing to compare
        # Otherwise only a constant that always fails may be refused; simpleeval must fail on it too.
        assert {i.code for i in exc.issues} == {"constant-error"}, exc.issues  # one for each division by 0
        kind, _ = outcome(lambda: ReferenceEvaluator(text, SCOPE).eval(env))
        assert kind == "raises"
        return
    reference = ReferenceEvaluator(text, SCOPE)
    got = outcome(lambda: compiled.fn(env))
    want = outcome(lambda: reference.eval(env))
    assert got[0] == want[0] and same(got[1], want[1]), (text, got, want)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=nums, env=envs())
def test_numeric_expressions_agree_with_simpleeval(text: str, env: dict[str, Any]) -> None:
    check_agrees(text, env)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=bools, env=envs())
def test_conditions_agree_with_simpleeval(text: str, env: dict[str, Any]) -> None:
    check_agrees(text, env)


@settings(max_examples=300, deadline=None)
@given(
    text=st.tuples(st.sampled_from(["crossover", "crossunder"]), tie_nums, tie_nums).map(
        lambda t: f"{t[0]}({t[1]}, {t[2]})"
    ),
    env=envs(tie_values),
)
def test_crossovers_agree_on_ties(text: str, env: dict[str, Any]) -> None:
    check_agrees(text, env)


@settings(max_examples=100, deadline=None)
@given(text=st.one_of(nums, bools))
def test_constant_is_the_value_with_any_env(text: str) -> None:
    try:
        compiled = compile_expr(text, SCOPE)
    except ExprError:
        return
    if compiled.constant is not None:
        assert same(compiled.fn({}), compiled.constant)
        assert compiled.names == frozenset()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=bools, env=envs())
def test_the_nan_checking_twin_agrees_or_names_the_nan_it_evaluated(text: str, env: dict[str, Any]) -> None:
    """The engine's checking twin of a condition gives the same outcome as the fast function,
    except that it raises where the fast one evaluated a name that holds NaN."""
    try:
        compiled = compile_expr(text, SCOPE)
    except ExprError:
        return
    if compiled.nan_checked is None:
        return
    fast = outcome(lambda: compiled.fn(env))
    try:
        checked: tuple[str, Any] = "value", compiled.nan_checked(env)
    except ValueError as exc:
        if "is NaN" in str(exc):
            name = str(exc).split(" is NaN")[0]
            assert name in compiled.names and math.isnan(env[name]), (text, exc)
            return
        checked = "raises", type(exc)
    except (ArithmeticError, TypeError) as exc:
        checked = "raises", type(exc)
    assert checked[0] == fast[0] and same(checked[1], fast[1]), (text, checked, fast)
