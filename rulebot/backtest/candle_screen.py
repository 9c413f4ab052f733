"""A rule's condition over a run of candles at once: for each candle, is it *certainly false*?

The candle array path (candle_runs.py) jumps the candles at which no rule of the symbol's state
can fire. It asks this module for a mask: one boolean per candle, True where the condition,
evaluated as the engine's compiled code would evaluate it on that candle's env, is False without
raising. The evaluation runs over numpy float64 columns (one per name the condition reads) with
the very IEEE operations the generated code performs: + - * / of two doubles, comparisons, abs,
min and max give bitwise the same value element by element as Python's floats do, so a value
known here is the value the engine computes.

Sound by construction: each value carries an `ok` mask, False where it could differ from the
engine's or where the engine's code could raise (a NaN or an infinity read or computed, a
division by zero). Anything the engine's code would reach through a value that is not ok is not
ok either, with Python's short-circuits followed exactly (`and`, `or`, chained comparisons,
`x if t else y`): an operand the engine never evaluates cannot spoil a candle. A node this
module does not model (power, round, //, %, a name without a column) makes `compile_screen`
return None: that condition, and so its state, is never jumped (today's path runs it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from rulebot.rulebook import expr_ir as ir
from rulebot.rulebook.expr import PREV_PREFIX

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
# What a compiled screen reads: a column per name (prev values under PREV_PREFIX + name), the
# state, and the number of candles.
Columns = Mapping[str, Floats]
_BIG = float(1 << 53)  # ints below this are floats exactly, and so is their sum, difference, product... checked


class Unsupported(Exception):
    """The condition uses something the array screen does not model."""


@dataclass(slots=True)
class _Num:
    v: Floats
    ok: Bools


@dataclass(slots=True)
class _Bool:
    v: Bools
    ok: Bools


@dataclass(slots=True)
class _Str:
    v: str


class _Unknown:
    """A value the screen has no column for: unknown wherever evaluated, whatever its type."""


_UNKNOWN = _Unknown()
_Val = _Num | _Bool | _Str | _Unknown
Screen = Callable[[Columns, str, int], Bools]


def names_needed(node: ir.Node) -> frozenset[str]:
    """The columns a condition's screen reads (prev values as PREV_PREFIX + name)."""
    out: set[str] = set()
    for n in ir.walk(node):
        if isinstance(n, ir.Cross):
            for r in ir.walk(ir.to_prev(ir.Binary("-", n.a, n.b))):
                if isinstance(r, ir.Ref) and r.prev:
                    out.add(PREV_PREFIX + r.name)
        if isinstance(n, ir.Ref) and n.name != "state":
            out.add(n.name)
    return frozenset(out)


def compile_screen(node: ir.Node) -> Screen | None:
    """A function of (columns, state, n) giving the 'certainly false' mask, or None when the
    condition holds a node the screen does not model. A name without a column may be anything
    (a string, an account value read on demand): it is unknown wherever it is evaluated.
    The tree is walked once here into closures, not matched node by node at every window the
    candle array path screens (as trade_screen.compile_screen does for `on: trade` screens)."""
    try:
        _check(node)
    except Unsupported:
        return None
    root = _compile(node)

    def screen(cols: Columns, state: str, n: int) -> Bools:
        try:
            with np.errstate(all="ignore"):  # once: the operations below never read the error state
                got = root(_Ctx(cols, state, n))
        except Unsupported:
            return np.zeros(n, dtype=np.bool_)
        if not isinstance(got, _Bool):
            return np.zeros(n, dtype=np.bool_)  # `bool(number)` or unknown: never jumped
        return got.ok & ~got.v

    return screen


def _check(node: ir.Node) -> None:
    """Refuse, once, the nodes the evaluation does not model."""
    for n in ir.walk(node):
        match n:
            case ir.Power() | ir.Call(fn="round"):
                raise Unsupported(type(n).__name__)
            case ir.Binary(op="//" | "%"):
                raise Unsupported(n.op)
            case ir.Const(value=v) | ir.Param(value=v):
                if type(v) is int and abs(v) >= _BIG:
                    raise Unsupported("a big int")


class _Ctx:
    """One evaluation: the window's columns, the state, the number of candles."""

    __slots__ = ("_true", "cols", "n", "state")

    def __init__(self, cols: Columns, state: str, n: int) -> None:
        self.cols, self.state, self.n = cols, state, n
        self._true: Bools | None = None

    def ones(self) -> Bools:
        """An all-True mask, made on first use: most conditions (comparisons of columns, and/or of
        them) never need one."""
        t = self._true
        if t is None:
            t = self._true = np.ones(self.n, dtype=np.bool_)
        return t


_Fn = Callable[[_Ctx], _Val]


def _compile(node: ir.Node) -> _Fn:
    """`node`'s value as a function of one evaluation. Every operand is evaluated, as the masks need
    (a short-circuit is followed per candle through `ok`, not by skipping an operand)."""
    match node:
        case ir.Const(value=v) | ir.Param(value=v):
            return _const(v)
        case ir.Ref(name="state", prev=False):
            return lambda c: _Str(c.state)
        case ir.Ref(name=name, prev=prev):
            return _ref(PREV_PREFIX + name if prev else name)
        case ir.Unary(op="not", operand=x):
            fx = _compile(x)

            def negate(c: _Ctx) -> _Val:
                b = _boolean(c, fx(c))
                return _Bool(~b.v, b.ok)

            return negate
        case ir.Unary(op=op, operand=x):
            fx, plus = _compile(x), op == "+"

            def sign(c: _Ctx) -> _Val:
                a = _num(c, fx(c))
                return a if plus else _Num(-a.v, a.ok)

            return sign
        case ir.Binary(op=op, left=a, right=b):
            fa, fb = _compile(a), _compile(b)
            return lambda c: _arith(op, _num(c, fa(c)), _num(c, fb(c)))
        case ir.BoolOp(op=op, values=xs):
            return _bool_op(op == "and", tuple(_compile(x) for x in xs))
        case ir.Compare(left=a, ops=ops, comparators=xs):
            return _compare_chain(_compile(a), tuple(zip(ops, map(_compile, xs), strict=True)))
        case ir.IfExp(test=t, body=b, orelse=o):
            return _if_exp(_compile(t), _compile(b), _compile(o))
        case ir.Call(fn="clamp", args=(x, lo, hi)):
            fx, flo, fhi = _compile(x), _compile(lo), _compile(hi)
            return lambda c: _min_max(False, [_min_max(True, [_num(c, fx(c)), _num(c, flo(c))]), _num(c, fhi(c))])
        case ir.Call(fn="pct", args=(x,)):
            fx = _compile(x)
            return lambda c: _arith("/", _num(c, fx(c)), _const_num(c, 100.0))
        case ir.Call(fn="min" | "max" as fn, args=xs):
            fs, is_max = tuple(_compile(x) for x in xs), fn == "max"
            return lambda c: _min_max(is_max, [_num(c, f(c)) for f in fs])
        case ir.Call(fn="abs", args=(x,)):
            fx = _compile(x)

            def absolute(c: _Ctx) -> _Val:
                a = _num(c, fx(c))
                return _Num(np.abs(a.v), a.ok)

            return absolute
        case ir.Cross():
            # The cross as the two compares it is (was on one side, now on the other), built once here.
            a, b = node.a, node.b
            was: ir.CompareOpName = "<=" if node.up else ">="
            now: ir.CompareOpName = ">" if node.up else "<"
            pair = (ir.Compare(ir.to_prev(a), (was,), (ir.to_prev(b),)), ir.Compare(a, (now,), (b,)))
            return _bool_op(True, tuple(_compile(x) for x in pair))
    return _raises(type(node).__name__)  # every operand is evaluated: this one at every evaluation


def _raises(what: str) -> _Fn:
    def unsupported(c: _Ctx) -> _Val:
        raise Unsupported(what)

    return unsupported


def _const(v: Any) -> _Fn:
    if type(v) is str:
        s = _Str(v)
        return lambda c: s
    if type(v) is bool:
        return lambda c: _Bool(np.full(c.n, v, dtype=np.bool_), c.ones())
    if type(v) is int or type(v) is float:
        f = float(v)
        return lambda c: _const_num(c, f)
    return _raises(type(v).__name__)


def _const_num(c: _Ctx, v: float) -> _Num:
    return _Num(np.full(c.n, v), c.ones() if np.isfinite(v) else ~c.ones())


def _ref(key: str) -> _Fn:
    def ref(c: _Ctx) -> _Val:
        col = c.cols.get(key)
        if col is None:
            return _UNKNOWN
        return _Num(col, np.isfinite(col))

    return ref


def _boolean(c: _Ctx, got: _Val) -> _Bool:
    if type(got) is _Bool:
        return got
    if type(got) is _Unknown:
        return _Bool(~c.ones(), ~c.ones())
    raise Unsupported("a number or a string as a truth value")


def _num(c: _Ctx, got: _Val) -> _Num:
    if type(got) is _Num:
        return got
    if type(got) is _Unknown:
        return _Num(np.zeros(c.n), ~c.ones())
    raise Unsupported("arithmetic on a bool or a string")  # Python allows True + 1: not modelled


def _arith(op: str, a: _Num, b: _Num) -> _Num:
    if op == "+":
        v = a.v + b.v
    elif op == "-":
        v = a.v - b.v
    elif op == "*":
        v = a.v * b.v
    elif op == "/":
        v = a.v / b.v  # ZeroDivisionError in Python: not ok below
    else:
        raise Unsupported(op)
    ok = a.ok & b.ok & np.isfinite(v)
    if op == "/":
        ok &= b.v != 0
    return _Num(v, ok)


def _min_max(is_max: bool, xs: list[_Num]) -> _Num:
    v, ok = xs[0].v, xs[0].ok
    for x in xs[1:]:
        # Python's min/max keep the first of equal values: only the sign of a zero can tell
        # them apart, and no comparison or non-raising division here can see it.
        v = np.maximum(v, x.v) if is_max else np.minimum(v, x.v)
        ok = ok & x.ok
    return _Num(v, ok)


def _bool_op(conj: bool, fs: tuple[_Fn, ...]) -> _Fn:
    def bool_op(c: _Ctx) -> _Bool:
        # Left to right as Python runs it: `going` marks candles where every operand so far was
        # known and did not decide (all True for `and`); `decided` where one known operand did.
        # Before the first operand both are known: all True and none (the first's masks stand alone).
        going: Bools | None = None
        decided: Bools | None = None
        for f in fs:
            b = _boolean(c, f(c))
            yes, no = (b.v, ~b.v) if conj else (~b.v, b.v)
            if going is None or decided is None:
                decided, going = b.ok & no, b.ok & yes
            else:
                decided = decided | (going & b.ok & no)
                going = going & b.ok & yes
        if going is None or decided is None:
            going = decided = c.ones()  # no operand: not reached, the language has none
        return _Bool(going if conj else ~going, decided | going)

    return bool_op


def _compare_chain(fa: _Fn, rest: tuple[tuple[ir.CompareOpName, _Fn], ...]) -> _Fn:
    if len(rest) == 1:  # one comparison: the chain below reduces to (ok & v, ok)
        ((op, fb),) = rest
        ufunc = _UFUNCS[op]

        def compare_one(c: _Ctx) -> _Bool:
            res = _compare(ufunc, op, fa(c), fb(c), c.n)
            return _Bool(res.ok & res.v, res.ok)

        return compare_one

    def compare(c: _Ctx) -> _Bool:
        left = fa(c)
        going = c.ones()  # the chain so far is True (known) here
        decided = np.zeros(c.n, dtype=np.bool_)
        for op, f in rest:
            right = f(c)
            res = _compare(_UFUNCS[op], op, left, right, c.n)
            decided = decided | (res.ok & going & ~res.v)
            going = going & res.ok & res.v
            left = right
        return _Bool(going, decided | going)

    return compare


def _if_exp(ft: _Fn, fb: _Fn, fo: _Fn) -> _Fn:
    def pick(c: _Ctx) -> _Val:
        test = _boolean(c, ft(c))
        body, orelse = fb(c), fo(c)
        if type(body) is _Unknown or type(orelse) is _Unknown:
            return _UNKNOWN
        if type(body) is _Num and type(orelse) is _Num:
            return _Num(np.where(test.v, body.v, orelse.v), test.ok & np.where(test.v, body.ok, orelse.ok))
        if type(body) is _Bool and type(orelse) is _Bool:
            return _Bool(np.where(test.v, body.v, orelse.v), test.ok & np.where(test.v, body.ok, orelse.ok))
        raise Unsupported("if with branches of two kinds")

    return pick


_UFUNCS: dict[str, np.ufunc] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


def _compare(ufunc: np.ufunc, op: str, a: _Val, b: _Val, n: int) -> _Bool:
    if type(a) is _Num and type(b) is _Num:
        return _Bool(ufunc(a.v, b.v), a.ok & b.ok)
    if type(a) is _Unknown or type(b) is _Unknown:
        return _Bool(np.zeros(n, dtype=np.bool_), np.zeros(n, dtype=np.bool_))
    if type(a) is _Str or type(b) is _Str:
        if type(a) is _Str and type(b) is _Str and op in ("==", "!="):
            return _Bool(np.full(n, (a.v == b.v) is (op == "=="), dtype=np.bool_), np.ones(n, dtype=np.bool_))
        raise Unsupported("a string compared")
    raise Unsupported("a bool compared")
