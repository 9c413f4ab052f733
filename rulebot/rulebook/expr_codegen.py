"""Checked expression (expr_ir) → Python source → one compiled function.

The function reads the env mapping with plain subscripts (`e['ema_fast']`), the fastest
generic read measured (see bench/expressions.py); params are inlined as constants. Its globals
hold no builtins, only the few functions the language has. The generated source is parsed
back and verified before it is compiled, as a second line behind the checker.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from typing import Any

from rulebot.rulebook import expr_ir as ir
from rulebot.rulebook.expr_functions import num_pow

EnvFn = Callable[[Mapping[str, Any]], Any]

ENV = "e"
PREV_PREFIX = "prev:"


def _read_checked(env: Mapping[str, Any], name: str) -> Any:
    """A name's value, refusing NaN: a comparison with NaN is silently false (or, for `!=`,
    silently true), so a condition that reads one has failed, not decided."""
    value = env[name]
    if value != value:
        raise ValueError(f"{name} is NaN (not a number)")
    return value


_GLOBALS: dict[str, Any] = {
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "_pow": num_pow,
    "_inf": math.inf,
    "_nan": math.nan,
    "_r": _read_checked,
}
_CALLABLE_GLOBALS = frozenset({"abs", "min", "max", "round", "_pow", "_r"})


def generate(node: ir.Node, *, nan_checked: bool = False) -> str:
    """The Python source of `lambda e: ...` for a checked expression.

    `nan_checked` reads every name it evaluates through `_r`, which raises on NaN (previous
    values excepted: before the first bar there is none, and crossover is simply false). The
    engine runs that slower twin only when a condition's inputs hold a NaN, to tell a NaN that
    decided the result from one a short-circuit never evaluated."""
    return f"lambda {ENV}: {_emit(node, nan_checked)}"


def generate_nan_test(names: frozenset[str]) -> str:
    """`lambda e: ...` that is true when any of `names` holds NaN (NaN is the one value not equal
    to itself): the engine's cheap question before it asks the checking twin."""
    tests = " or ".join(f"{ENV}[{n!r}] != {ENV}[{n!r}]" for n in sorted(names))
    return f"lambda {ENV}: {tests or 'False'}"


def build(source: str) -> EnvFn:
    """Verify and compile generated source once; return the function."""
    _verify(source)
    code = compile(source, "<rulebook expression>", "eval")
    fn: EnvFn = eval(code, {"__builtins__": {}, **_GLOBALS})  # verified above; no builtins
    return fn


def _const(value: ir.Value) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "_nan" if math.isnan(value) else ("_inf" if value > 0 else "(-_inf)")
    text = repr(value)
    return f"({text})" if text.startswith("-") else text


def _emit(node: ir.Node, nc: bool = False) -> str:
    match node:
        case ir.Const(value=v) | ir.Param(value=v):
            return _const(v)
        case ir.Ref(name=name, has_prev=has_prev, prev=prev):
            if prev and has_prev:
                return f"{ENV}[{PREV_PREFIX + name!r}]"
            return f"_r({ENV}, {name!r})" if nc else f"{ENV}[{name!r}]"
        case ir.Unary(op=op, operand=x):
            return f"({op} {_emit(x, nc)})" if op == "not" else f"({op}{_emit(x, nc)})"
        case ir.Binary(op=op, left=a, right=b):
            return f"({_emit(a, nc)} {op} {_emit(b, nc)})"
        case ir.Power(base=x, exponent=p):
            # An integral float exponent gives a float and never a complex number, so only a
            # fractional one needs the checking helper.
            if float(p).is_integer():
                return f"({_emit(x, nc)} ** {_const(float(p))})"
            return f"_pow({_emit(x, nc)}, {_const(p)})"
        case ir.BoolOp(op=op, values=xs):
            return "(" + f" {op} ".join(_emit(x, nc) for x in xs) + ")"
        case ir.Compare(left=a, ops=ops, comparators=xs):
            parts = [_emit(a, nc)]
            for cmp, x in zip(ops, xs, strict=True):
                parts += [cmp, _emit(x, nc)]
            return "(" + " ".join(parts) + ")"
        case ir.IfExp(test=t, body=b, orelse=o):
            return f"({_emit(b, nc)} if {_emit(t, nc)} else {_emit(o, nc)})"
        case ir.Call(fn="clamp", args=(x, lo, hi)):
            return f"min(max({_emit(x, nc)}, {_emit(lo, nc)}), {_emit(hi, nc)})"
        case ir.Call(fn="pct", args=(x,)):
            return f"({_emit(x, nc)} / 100)"
        case ir.Call(fn=fn, args=xs) if fn in ("abs", "min", "max", "round"):
            return f"{fn}({', '.join(_emit(x, nc) for x in xs)})"
        case ir.Cross(up=up, a=a, b=b):
            was, now = ("<=", ">") if up else (">=", "<")
            pa, pb = ir.to_prev(a), ir.to_prev(b)
            return f"({_emit(pa, nc)} {was} {_emit(pb, nc)} and {_emit(a, nc)} {now} {_emit(b, nc)})"
    raise AssertionError(f"no code for {node!r}")


_ALLOWED_NODES = (
    ast.Expression,
    ast.Lambda,
    ast.arguments,
    ast.arg,
    ast.Load,
    ast.Constant,
    ast.Name,
    ast.Subscript,
    ast.UnaryOp,
    ast.BinOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.And,
    ast.Or,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
)


def _verify(source: str) -> None:
    tree = ast.parse(source, mode="eval")
    lam = tree.body
    if not isinstance(lam, ast.Lambda) or [a.arg for a in lam.args.args] != [ENV]:
        raise RuntimeError("expression code generator bug: not a one-argument lambda")
    for node in ast.walk(lam.body):
        _require(isinstance(node, _ALLOWED_NODES), f"generated code contains {type(node).__name__}")
        if isinstance(node, ast.Name):
            _require(node.id == ENV or node.id in _GLOBALS, f"generated code reads {node.id}")
        elif isinstance(node, ast.Subscript):
            _require(isinstance(node.value, ast.Name) and node.value.id == ENV)
            _require(isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str))
        elif isinstance(node, ast.Call):
            _require(isinstance(node.func, ast.Name) and node.func.id in _CALLABLE_GLOBALS)
            _require(not node.keywords)
            if isinstance(node.func, ast.Name) and node.func.id == "_r":  # only ever `_r(e, 'name')`
                _require(len(node.args) == 2 and isinstance(node.args[0], ast.Name) and node.args[0].id == ENV)
                _require(isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str))
        elif isinstance(node, ast.Constant):
            _require(isinstance(node.value, bool | int | float | str))


def _require(ok: bool, what: str = "generated code failed verification") -> None:
    # Not `assert`: this check must survive `python -O`.
    if not ok:
        raise RuntimeError(f"expression code generator bug: {what}")
