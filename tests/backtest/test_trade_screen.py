"""The trade screen is sound: a condition it calls never true is false, without raising, at every price.

Generated conditions over the price, indicators, candle values, params and values the screen must
not trust (upnl, time, the book), generated values (NaN among them), and a generated price range:
whenever the screen says "never true", the compiled condition and its NaN-checking twin are run
at the range's ends and at prices inside it, as the engine's dispatch runs them.
"""

from __future__ import annotations

import math

from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from rulebot.backtest.trade_screen import never_true
from rulebot.rulebook.errors import ExprError
from rulebot.rulebook.expr import compile_expr
from rulebot.rulebook.expr_types import ExprType
from rulebot.rulebook.scope import Scope

SCOPE = Scope.build({"k": 2, "band": 0.5}, {"fast": (), "slow": (), "bb": ("upper", "lower")}, ["1m"], ["flat", "long"])
SURE = ("fast", "slow", "bb.upper", "bb.lower", "close@1m", "k", "band", "hour")  # fixed between candles
MOVING = ("price", "mark_price", "upnl", "time", "bid", "equity")

numbers = st.recursive(
    st.one_of(st.sampled_from(SURE + MOVING + ("0", "1", "2.5", "-3", "100", "0.001")), st.just("price")),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "//", "%"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        inner.map(lambda x: f"(-{x})"),
        inner.map(lambda x: f"abs({x})"),
        inner.map(lambda x: f"pct({x})"),
        st.tuples(inner, inner).map(lambda t: f"min({t[0]}, {t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"max({t[0]}, {t[1]})"),
        st.tuples(inner, inner, inner).map(lambda t: f"clamp({t[0]}, {t[1]}, {t[2]})"),
        inner.map(lambda x: f"({x} ** 2)"),
    ),
    max_leaves=6,
)
comparisons = st.one_of(
    st.tuples(numbers, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), numbers).map(" ".join),
    st.tuples(numbers, numbers, numbers).map(lambda t: f"{t[0]} < {t[1]} <= {t[2]}"),
    st.sampled_from(['state == "long"', 'position.side == "long"', "crossover(fast, price)"]),
    # The price on the right of a difference and inside abs(): where a wrong interval end would show.
    st.tuples(numbers, st.sampled_from(["<", ">"]), numbers).map(lambda t: f"({t[0]} - price) {t[1]} {t[2]}"),
    st.tuples(numbers, st.sampled_from(["<", ">"]), numbers).map(lambda t: f"abs(price - {t[0]}) {t[1]} {t[2]}"),
)
conditions = st.recursive(
    comparisons,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda x: f"(not {x})"),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
    ),
    max_leaves=4,
)
prices = st.one_of(st.floats(-200, 200, allow_nan=False), st.integers(-5, 5))
values = st.one_of(prices, prices, prices, prices, st.just(math.nan))  # a NaN now and then


def _env(vals: list[float]) -> dict[str, object]:
    names = ("fast", "slow", "bb.upper", "bb.lower", "close@1m", "upnl", "time", "bid", "equity")
    env: dict[str, object] = dict(zip(names, vals, strict=True))
    env.update(
        {"k": 2, "band": 0.5, "hour": 13, "state": "long", "position.side": "long", "prev:fast": 1.0, "prev:price": 2.0}
    )
    return env


@settings(max_examples=1500, deadline=None)
@given(text=conditions, vals=st.lists(values, min_size=9, max_size=9), a=prices, b=prices, inside=st.floats(0, 1))
def test_a_condition_screened_never_true_is_false_at_every_price_in_the_range(
    text: str, vals: list[float], a: float, b: float, inside: float
) -> None:
    try:
        expr = compile_expr(text, SCOPE, ExprType.BOOL)
    except ExprError:
        assume(False)
        raise
    lo, hi = min(a, b), max(a, b)
    env = _env(vals)
    assert expr.node is not None
    ruled_out = never_true(expr.node, env, "long", (lo, hi), mark_follows_price=True)
    event(f"ruled out: {ruled_out}")
    if not ruled_out:
        return
    for price in (lo, hi, lo + (hi - lo) * inside):
        at = {**env, "price": price, "mark_price": price}
        assert not expr.fn(at), (text, at)
        if expr.reads_nan is not None and expr.reads_nan(at):
            assert expr.nan_checked is not None
            expr.nan_checked(at)  # raises where the engine would count a rule error


def _screen(text: str, lo: float, hi: float, **env: object) -> bool:
    expr = compile_expr(text, SCOPE, ExprType.BOOL)
    assert expr.node is not None
    full = {"fast": 10.0, "slow": 20.0, "bb.upper": 105.0, "bb.lower": 95.0, "hour": 13, **env}
    return never_true(expr.node, full, "long", (lo, hi), mark_follows_price=False)


def test_a_price_threshold_rules_out_a_range_below_it_and_not_one_that_reaches_it() -> None:
    # The shape of a take-profit on a band: folded while prices stay under the band.
    assert _screen("price > bb.upper and upnl > 0", 96.0, 104.9)
    assert not _screen("price > bb.upper and upnl > 0", 96.0, 105.5)
    assert not _screen("upnl > 0 and price > bb.upper", 96.0, 104.9)  # upnl runs first: it is not trusted
    assert _screen("fast > 4 * slow", 1.0, 1e9)  # no price in it: decided once
    assert not _screen("fast < 4 * slow", 1.0, 1e9)
    assert _screen("abs(price - fast) > 20", 0.0, 25.0)  # within 15 of fast
    assert not _screen("abs(price - fast) > 20", -50.0, 20.0)  # 60 below it at -50


def test_what_moves_or_may_fail_is_never_ruled_out() -> None:
    assert not _screen("mark_price > bb.upper", 96.0, 97.0)  # the data has a mark stream of its own
    assert not _screen("price > bb.upper", 96.0, 97.0, **{"bb.upper": math.nan})  # a NaN is a rule error
    assert not _screen("price / (fast - 10) > 1000", 96.0, 97.0)  # may divide by zero
    assert not _screen("crossover(price, bb.upper)", 96.0, 97.0)  # keeps a previous value
    assert not _screen("time > 0 and price > bb.upper", 96.0, 97.0)
    assert _screen('state == "flat" and price > 0', 96.0, 97.0)
