"""The candle screen as it was before it was compiled into closures: an interpreter over the IR at
each evaluation (candle_screen.py's semantics, written once more the plain way; the support check and
the leaf arithmetic are the module's own, the walk and the masks of and/or/chains/if are not). The property test
in test_candle_runs.py checks the compiled screen gives the very same masks on generated conditions."""

from __future__ import annotations

from typing import Any

import numpy as np

from rulebot.backtest.candle_screen import (
    Bools,
    Columns,
    Screen,
    Unsupported,
    _arith,
    _Bool,
    _check,
    _min_max,
    _Num,
    _Str,
    _Unknown,
)
from rulebot.rulebook import expr_ir as ir
from rulebot.rulebook.expr import PREV_PREFIX

_UNKNOWN = _Unknown()
_Val = _Num | _Bool | _Str | _Unknown


def interpreted_screen(node: ir.Node) -> Screen | None:
    """A function of (columns, state, n) giving the 'certainly false' mask, or None when the
    condition holds a node the screen does not model. A name without a column may be anything
    (a string, an account value read on demand): it is unknown wherever it is evaluated."""
    try:
        _check(node)
    except Unsupported:
        return None

    def screen(cols: Columns, state: str, n: int) -> Bools:
        try:
            with np.errstate(all="ignore"):  # the module's _arith, shared, reads no error state
                got = _Eval(cols, state, n).value(node)
        except Unsupported:
            return np.zeros(n, dtype=np.bool_)
        if not isinstance(got, _Bool):
            return np.zeros(n, dtype=np.bool_)  # `bool(number)` or unknown: never jumped
        return got.ok & ~got.v

    return screen


class _Eval:
    __slots__ = ("cols", "n", "state", "true")

    def __init__(self, cols: Columns, state: str, n: int) -> None:
        self.cols, self.state, self.n = cols, state, n
        self.true = np.ones(n, dtype=np.bool_)

    def value(self, node: ir.Node) -> _Val:
        match node:
            case ir.Const(value=v) | ir.Param(value=v):
                return self.const(v)
            case ir.Ref(name=name, prev=prev):
                if name == "state" and not prev:
                    return _Str(self.state)
                col = self.cols.get(PREV_PREFIX + name if prev else name)
                if col is None:
                    return _UNKNOWN
                return _Num(col, np.isfinite(col))
            case ir.Unary(op="not", operand=x):
                b = self.boolean(self.value(x))
                return _Bool(~b.v, b.ok)
            case ir.Unary(op=op, operand=x):
                a = self.num(x)
                return a if op == "+" else _Num(-a.v, a.ok)
            case ir.Binary(op=op, left=a, right=b):
                return _arith(op, self.num(a), self.num(b))
            case ir.BoolOp(op=op, values=xs):
                return self.bool_op(op == "and", xs)
            case ir.Compare(left=a, ops=ops, comparators=xs):
                return self.compare(a, ops, xs)
            case ir.IfExp(test=t, body=b, orelse=o):
                return self.if_exp(t, b, o)
            case ir.Call(fn="clamp", args=(x, lo, hi)):
                return _min_max(False, [_min_max(True, [self.num(x), self.num(lo)]), self.num(hi)])
            case ir.Call(fn="pct", args=(x,)):
                return _arith("/", self.num(x), self.const_num(100.0))
            case ir.Call(fn="min" | "max" as fn, args=xs):
                return _min_max(fn == "max", [self.num(x) for x in xs])
            case ir.Call(fn="abs", args=(x,)):
                a = self.num(x)
                return _Num(np.abs(a.v), a.ok)
            case ir.Cross():
                return self.bool_op(True, _crossed(node))
        raise Unsupported(type(node).__name__)

    def const(self, v: Any) -> _Val:
        if type(v) is str:
            return _Str(v)
        if type(v) is bool:
            return _Bool(np.full(self.n, v, dtype=np.bool_), self.true)
        if type(v) is int or type(v) is float:
            return self.const_num(float(v))
        raise Unsupported(type(v).__name__)

    def const_num(self, v: float) -> _Num:
        return _Num(np.full(self.n, v), self.true if np.isfinite(v) else ~self.true)

    def boolean(self, got: _Val) -> _Bool:
        if isinstance(got, _Unknown):
            return _Bool(~self.true, ~self.true)
        if not isinstance(got, _Bool):
            raise Unsupported("a number or a string as a truth value")
        return got

    def num(self, node: ir.Node) -> _Num:
        got = self.value(node)
        if isinstance(got, _Unknown):
            return _Num(np.zeros(self.n), ~self.true)
        if not isinstance(got, _Num):
            raise Unsupported("arithmetic on a bool or a string")  # Python allows True + 1: not modelled
        return got

    def bool_op(self, conj: bool, xs: tuple[ir.Node, ...]) -> _Bool:
        # Left to right as Python runs it: `going` marks candles where every operand so far was
        # known and did not decide (all True for `and`); `decided` where one known operand did.
        going = self.true.copy()
        decided = np.zeros(self.n, dtype=np.bool_)
        for x in xs:
            b = self.boolean(self.value(x))
            known = b.ok & going
            stop = known & (b.v != conj)
            decided |= stop
            going &= b.ok & (b.v == conj)
        ok = decided | going
        return _Bool(going if conj else ~going, ok)

    def compare(self, a: ir.Node, ops: tuple[ir.CompareOpName, ...], xs: tuple[ir.Node, ...]) -> _Bool:
        left = self.value(a)
        going = self.true.copy()  # the chain so far is True (known) here
        decided = np.zeros(self.n, dtype=np.bool_)
        for op, x in zip(ops, xs, strict=True):
            right = self.value(x)
            res = _compare(op, left, right, self.n)
            known = res.ok & going
            decided |= known & ~res.v
            going &= res.ok & res.v
            left = right
        return _Bool(going, decided | going)

    def if_exp(self, t: ir.Node, b: ir.Node, o: ir.Node) -> _Val:
        test = self.boolean(self.value(t))
        body, orelse = self.value(b), self.value(o)
        if isinstance(body, _Unknown) or isinstance(orelse, _Unknown):
            return _UNKNOWN
        if isinstance(body, _Num) and isinstance(orelse, _Num):
            return _Num(np.where(test.v, body.v, orelse.v), test.ok & np.where(test.v, body.ok, orelse.ok))
        if isinstance(body, _Bool) and isinstance(orelse, _Bool):
            return _Bool(np.where(test.v, body.v, orelse.v), test.ok & np.where(test.v, body.ok, orelse.ok))
        raise Unsupported("if with branches of two kinds")


def _crossed(node: ir.Cross) -> tuple[ir.Compare, ir.Compare]:
    """A cross as the two compares it is: was on one side, now on the other."""
    a, b = node.a, node.b
    was: ir.CompareOpName = "<=" if node.up else ">="
    now: ir.CompareOpName = ">" if node.up else "<"
    return ir.Compare(ir.to_prev(a), (was,), (ir.to_prev(b),)), ir.Compare(a, (now,), (b,))


def _compare(op: str, a: _Val, b: _Val, n: int) -> _Bool:
    if isinstance(a, _Unknown) or isinstance(b, _Unknown):
        return _Bool(np.zeros(n, dtype=np.bool_), np.zeros(n, dtype=np.bool_))
    if isinstance(a, _Str) or isinstance(b, _Str):
        if isinstance(a, _Str) and isinstance(b, _Str) and op in ("==", "!="):
            return _Bool(np.full(n, (a.v == b.v) is (op == "=="), dtype=np.bool_), np.ones(n, dtype=np.bool_))
        raise Unsupported("a string compared")
    if not (isinstance(a, _Num) and isinstance(b, _Num)):
        raise Unsupported("a bool compared")
    x, y = a.v, b.v
    with np.errstate(invalid="ignore"):
        v = {
            "<": np.less,
            "<=": np.less_equal,
            ">": np.greater,
            ">=": np.greater_equal,
            "==": np.equal,
            "!=": np.not_equal,
        }[op](x, y)
    return _Bool(v, a.ok & b.ok)
