"""Which `on: trade` rules cannot fire on any trade of a stretch: a condition evaluated over a price range.

Between two candle closes an `on: trade` rule's condition reads the same indicator, candle and
look-back values at every trade; only the trade's price (and, on data with no mark stream, the
mark and index prices that follow it) moves. So the condition can be evaluated once over the
interval of prices a stretch of trades spans: numbers become intervals, comparisons true, false
or unknown. When every rule of the symbol's state is *certainly false* over the interval, no trade
of the stretch fires a rule, journals a decision or counts a rule error, and the fast trade path
(fast_trades.py) may fold those trades into their candle.

Sound by construction, never clever: a value that can change from trade to trade (account and
position values, `time`, the book) or that could raise (a NaN, a missing name, a division by an
interval that holds 0, an overflow) is unknown, and anything unknown that the evaluation reaches
makes the answer "cannot tell", as does a crossover (it keeps a previous value per evaluation).
Interval ends are computed with the same float operations as the condition's code: each one the
language has here is monotone in each argument, and rounding is monotone, so the ends bound every
value the code computes for a price inside the interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from rulebot.engine.env import ACCOUNT_NAMES
from rulebot.rulebook import expr_ir as ir

_UNKNOWN = object()  # may be anything, or raise
Interval = tuple[float, float]
# Market values that change from trade to trade without following the price, or with the clock.
_MOVING = frozenset({"bid", "ask", "funding_rate", "next_funding_in", "time"})
_FOLLOWS_PRICE = frozenset({"mark_price", "index_price"})  # equal to the price when the data has no mark
Screen = Callable[[Mapping[str, Any], str, Interval, bool], Any]  # (env, state, prices, mark follows) -> value


def never_true(
    node: ir.Node,
    env: Mapping[str, Any],
    state: str,
    prices: Interval,
    mark_follows_price: bool,
) -> bool:
    """Is the condition `node` false, without raising, for every trade price in `prices`, with
    every other value as `env` holds it now and the symbol in rule state `state`?"""
    return compile_screen(node)(env, state, prices, mark_follows_price) is False


def compile_screen(node: ir.Node) -> Screen:
    """The screen of `node` as a function: the tree is walked once here, not at every stretch the
    fast path asks about. It gives an Interval, a bool, a str or _UNKNOWN (False: never true)."""
    match node:
        case ir.Const(value=v) | ir.Param(value=v):
            return _constant(_known(v))
        case ir.Ref():
            return _ref(node)
        case ir.Unary(op="not", operand=x):
            f = compile_screen(x)

            def negate(e: Any, s: str, p: Interval, m: bool) -> Any:
                v = f(e, s, p, m)
                return (not v) if type(v) is bool else _UNKNOWN

            return negate
        case ir.Unary(op=op, operand=x):
            f = compile_screen(x)
            plus = op == "+"

            def sign(e: Any, s: str, p: Interval, m: bool) -> Any:
                v = f(e, s, p, m)
                if type(v) is not tuple:
                    return _UNKNOWN
                return v if plus else _checked(-v[1], -v[0])

            return sign
        case ir.Binary(op=op, left=a, right=b):
            fa, fb = compile_screen(a), compile_screen(b)
            return lambda e, s, p, m: _arith(op, fa(e, s, p, m), fb(e, s, p, m))
        case ir.BoolOp(op=op, values=xs):
            return _bool_op(op == "and", tuple(compile_screen(x) for x in xs))
        case ir.Compare(left=a, ops=ops, comparators=xs):
            return _compare_chain(compile_screen(a), tuple(zip(ops, map(compile_screen, xs), strict=True)))
        case ir.IfExp(test=t, body=b, orelse=o):
            ft, fb, fo = compile_screen(t), compile_screen(b), compile_screen(o)

            def pick(e: Any, s: str, p: Interval, m: bool) -> Any:
                test = ft(e, s, p, m)
                if type(test) is not bool:
                    return _UNKNOWN
                return fb(e, s, p, m) if test else fo(e, s, p, m)

            return pick
        case ir.Call(fn="clamp", args=(x, lo, hi)):
            fx, flo, fhi = compile_screen(x), compile_screen(lo), compile_screen(hi)
            return lambda e, s, p, m: _min_max(min, [_min_max(max, [fx(e, s, p, m), flo(e, s, p, m)]), fhi(e, s, p, m)])
        case ir.Call(fn="pct", args=(x,)):
            fx = compile_screen(x)
            return lambda e, s, p, m: _arith("/", fx(e, s, p, m), (100, 100))
        case ir.Call(fn="min" | "max" as fn, args=xs):
            pick_fn = min if fn == "min" else max
            fs = tuple(compile_screen(x) for x in xs)
            return lambda e, s, p, m: _min_max(pick_fn, [f(e, s, p, m) for f in fs])
        case ir.Call(fn="abs", args=(x,)):
            fx = compile_screen(x)

            def absolute(e: Any, s: str, p: Interval, m: bool) -> Any:
                v = fx(e, s, p, m)
                if type(v) is not tuple:
                    return _UNKNOWN
                lo, hi = v
                return (lo, hi) if lo >= 0 else (-hi, -lo) if hi <= 0 else (0, max(-lo, hi))

            return absolute
    return _constant(_UNKNOWN)  # power, round, crossover: not screened


def _constant(value: Any) -> Screen:
    return lambda e, s, p, m: value


def _ref(node: ir.Ref) -> Screen:
    name = node.name
    if node.prev:
        return _constant(_UNKNOWN)
    if name == "price":
        return lambda e, s, p, m: p
    if name in _FOLLOWS_PRICE:  # the price when the data has no mark stream, else moving
        return lambda e, s, p, m: p if m else _UNKNOWN
    if name == "state":
        return lambda e, s, p, m: s  # the dispatch sets env["state"] only when it runs
    if name in _MOVING or name in ACCOUNT_NAMES:
        return _constant(_UNKNOWN)
    # Candle series, indicators, look-backs, params, hour, weekday: fixed until a candle closes.
    return lambda e, s, p, m: _known(e.get(name))  # absent: None, unknown (`get` never computes account values)


def _bool_op(conj: bool, fs: tuple[Screen, ...]) -> Screen:
    def bool_op(e: Any, s: str, p: Interval, m: bool) -> Any:
        # Left to right, as Python short-circuits: the operands after a deciding one never run.
        for f in fs:
            v = f(e, s, p, m)
            if type(v) is not bool:
                return _UNKNOWN
            if v is not conj:
                return v
        return conj

    return bool_op


def _compare_chain(fa: Screen, rest: tuple[tuple[ir.CompareOpName, Screen], ...]) -> Screen:
    def compare(e: Any, s: str, p: Interval, m: bool) -> Any:
        left = fa(e, s, p, m)
        for op, f in rest:
            right = f(e, s, p, m)
            if left is _UNKNOWN or right is _UNKNOWN:
                return _UNKNOWN
            got = _compare(op, left, right)
            if got is not True:
                return got  # False ends a chained comparison (a < b < c), as in Python
            left = right
        return True

    return compare


def _known(v: Any) -> Any:
    if type(v) is bool or type(v) is str:
        return v
    if type(v) is int or type(v) is float:
        return (v, v) if math.isfinite(v) else _UNKNOWN  # a NaN raises in the checked twin
    return _UNKNOWN


def _checked(lo: Any, hi: Any) -> Any:
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else _UNKNOWN


def _arith(op: str, a: Any, b: Any) -> Any:
    if type(a) is not tuple or type(b) is not tuple:
        return _UNKNOWN
    (a0, a1), (b0, b1) = a, b
    if op == "+":
        return _checked(a0 + b0, a1 + b1)
    if op == "-":
        return _checked(a0 - b1, a1 - b0)
    if op == "*":
        corners = (a0 * b0, a0 * b1, a1 * b0, a1 * b1)
    elif op == "/" and (b0 > 0 or b1 < 0):
        corners = (a0 / b0, a0 / b1, a1 / b0, a1 / b1)
    else:
        return _UNKNOWN  # //, %, or a divisor that may be 0
    return _checked(min(corners), max(corners))


def _min_max(fn: Any, vs: list[Any]) -> Any:
    if any(type(v) is not tuple for v in vs):
        return _UNKNOWN
    return fn(v[0] for v in vs), fn(v[1] for v in vs)


def _compare(op: str, a: Any, b: Any) -> Any:
    if type(a) is not tuple or type(b) is not tuple:
        if type(a) is str and type(b) is str and op in ("==", "!="):
            return (a == b) is (op == "==")
        return _UNKNOWN
    (a0, a1), (b0, b1) = a, b
    if op == "<":
        return True if a1 < b0 else False if a0 >= b1 else _UNKNOWN
    if op == "<=":
        return True if a1 <= b0 else False if a0 > b1 else _UNKNOWN
    if op == ">":
        return True if a0 > b1 else False if a1 <= b0 else _UNKNOWN
    if op == ">=":
        return True if a0 >= b1 else False if a1 < b0 else _UNKNOWN
    apart = a1 < b0 or b1 < a0
    same = a0 == a1 == b0 == b1
    if op == "==":
        return True if same else False if apart else _UNKNOWN
    return False if same else True if apart else _UNKNOWN  # !=
