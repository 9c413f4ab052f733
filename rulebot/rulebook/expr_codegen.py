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

_GLOBALS: dict[str, Any] = {
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "_pow": num_pow,
    "_inf": math.inf,
    "_nan": math.nan,
}
_CALLABLE_GLOBALS = frozenset({"abs", "min", "max", "round", "_pow"})


def generate(node: ir.Node) -> str:
    """The Python source of `lambda e: ...` for a checked expression."""
    return f"lambda {ENV}: {_emit(node)}"


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


def _emit(node: ir.Node) -> str:
    match node:
        case ir.Const(value=v) | ir.Param(value=v):
            return _const(v)
        case ir.Ref(name=name, has_prev=has_prev, prev=prev):
            key = PREV_PREFIX + name if prev and has_prev else name
            return f"{ENV}[{key!r}]"
        case ir.Unary(op=op, operand=x):
            return f"({op} {_emit(x)})" if op == "not" else f"({op}{_emit(x)})"
        case ir.Binary(op=op, left=a, right=b):
            return f"({_emit(a)} {op} {_emit(b)})"
        case ir.Power(base=x, exponent=p):
            # An integral float exponent gives a float and never a complex number, so only a
            # fractional one needs the checking helper.
            if float(p).is_integer():
                return f"({_emit(x)} ** {_const(float(p))})"
            return f"_pow({_emit(x)}, {_const(p)})"
        case ir.BoolOp(op=op, values=xs):
            return "(" + f" {op} ".join(_emit(x) for x in xs) + ")"
        case ir.Compare(left=a, ops=ops, comparators=xs):
            parts = [_emit(a)]
            for cmp, x in zip(ops, xs, strict=True):
                parts += [cmp, _emit(x)]
            return "(" + " ".join(parts) + ")"
        case ir.IfExp(test=t, body=b, orelse=o):
            return f"({_emit(b)} if {_emit(t)} else {_emit(o)})"
        case ir.Call(fn="clamp", args=(x, lo, hi)):
            return f"min(max({_emit(x)}, {_emit(lo)}), {_emit(hi)})"
        case ir.Call(fn="pct", args=(x,)):
            return f"({_emit(x)} / 100)"
        case ir.Call(fn=fn, args=xs) if fn in ("abs", "min", "max", "round"):
            return f"{fn}({', '.join(_emit(x) for x in xs)})"
        case ir.Cross(up=up, a=a, b=b):
            was, now = ("<=", ">") if up else (">=", "<")
            pa, pb = ir.to_prev(a), ir.to_prev(b)
            return f"({_emit(pa)} {was} {_emit(pb)} and {_emit(a)} {now} {_emit(b)})"
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
        elif isinstance(node, ast.Constant):
            _require(isinstance(node.value, bool | int | float | str))


def _require(ok: bool, what: str = "generated code failed verification") -> None:
    # Not `assert`: this check must survive `python -O`.
    if not ok:
        raise RuntimeError(f"expression code generator bug: {what}")
