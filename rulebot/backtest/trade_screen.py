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
from collections.abc import Mapping
from typing import Any

from rulebot.engine.env import ACCOUNT_NAMES
from rulebot.rulebook import expr_ir as ir

_UNKNOWN = object()  # may be anything, or raise
Interval = tuple[float, float]
# Market values that change from trade to trade without following the price, or with the clock.
_MOVING = frozenset({"bid", "ask", "funding_rate", "next_funding_in", "time"})
_FOLLOWS_PRICE = frozenset({"mark_price", "index_price"})  # equal to the price when the data has no mark


def never_true(node: ir.Node, env: Mapping[str, Any], state: str, prices: Interval, mark_follows_price: bool) -> bool:
    """Is the condition `node` false, without raising, for every trade price in `prices`, with
    every other value as `env` holds it now and the symbol in rule state `state`?"""
    return _Screen(env, state, prices, mark_follows_price).value(node) is False


class _Screen:
    __slots__ = ("env", "mark_follows", "prices", "state")

    def __init__(self, env: Mapping[str, Any], state: str, prices: Interval, mark_follows: bool) -> None:
        self.env, self.state, self.prices, self.mark_follows = env, state, prices, mark_follows

    def value(self, node: ir.Node) -> Any:  # an Interval, a bool, a str or _UNKNOWN
        match node:
            case ir.Const(value=v) | ir.Param(value=v):
                return _known(v)
            case ir.Ref():
                return self.ref(node)
            case ir.Unary(op="not", operand=x):
                v = self.value(x)
                return (not v) if type(v) is bool else _UNKNOWN
            case ir.Unary(op=op, operand=x):
                v = self.value(x)
                if type(v) is not tuple:
                    return _UNKNOWN
                return v if op == "+" else _checked(-v[1], -v[0])
            case ir.Binary(op=op, left=a, right=b):
                return _arith(op, self.value(a), self.value(b))
            case ir.BoolOp(op=op, values=xs):
                return self.bool_op(op == "and", xs)
            case ir.Compare(left=a, ops=ops, comparators=xs):
                return self.compare(a, ops, xs)
            case ir.IfExp(test=t, body=b, orelse=o):
                test = self.value(t)
                if type(test) is not bool:
                    return _UNKNOWN
                return self.value(b if test else o)
            case ir.Call(fn="clamp", args=(x, lo, hi)):
                return _min_max(min, [_min_max(max, [self.value(x), self.value(lo)]), self.value(hi)])
            case ir.Call(fn="pct", args=(x,)):
                return _arith("/", self.value(x), (100, 100))
            case ir.Call(fn="min" | "max" as fn, args=xs):
                return _min_max(min if fn == "min" else max, [self.value(x) for x in xs])
            case ir.Call(fn="abs", args=(x,)):
                v = self.value(x)
                if type(v) is not tuple:
                    return _UNKNOWN
                lo, hi = v
                return (lo, hi) if lo >= 0 else (-hi, -lo) if hi <= 0 else (0, max(-lo, hi))
        return _UNKNOWN  # power, round, crossover: not screened

    def ref(self, node: ir.Ref) -> Any:
        name = node.name
        if node.prev:
            return _UNKNOWN
        if name == "price" or (name in _FOLLOWS_PRICE and self.mark_follows):
            return self.prices
        if name == "state":
            return self.state  # the dispatch sets env["state"] only when it runs
        if name in _MOVING or name in _FOLLOWS_PRICE or name in ACCOUNT_NAMES:
            return _UNKNOWN
        # Candle series, indicators, look-backs, params, hour, weekday: fixed until a candle closes.
        return _known(self.env.get(name))  # absent: None, unknown (`get` never computes account values)

    def bool_op(self, conj: bool, xs: tuple[ir.Node, ...]) -> Any:
        # Left to right, as Python short-circuits: the operands after a deciding one never run.
        for x in xs:
            v = self.value(x)
            if type(v) is not bool:
                return _UNKNOWN
            if v is not conj:
                return v
        return conj

    def compare(self, a: ir.Node, ops: tuple[ir.CompareOpName, ...], xs: tuple[ir.Node, ...]) -> Any:
        left = self.value(a)
        for op, x in zip(ops, xs, strict=True):
            right = self.value(x)
            if left is _UNKNOWN or right is _UNKNOWN:
                return _UNKNOWN
            got = _compare(op, left, right)
            if got is not True:
                return got  # False ends a chained comparison (a < b < c), as in Python
            left = right
        return True


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
