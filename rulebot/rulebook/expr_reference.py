"""The same expression evaluated by simpleeval: the reference the compiled code must match.

The rewritten Python AST is handed to `SimpleEval` unchanged except for crossover/crossunder,
which become `prev(a) <= prev(b) and a > b` with previous values bound to fresh names. Dotted
names are namespaces (`position` → namespace with `.side`), as simpleeval reads attributes.
Operators are simpleeval's, except `**`, which uses the language's float power (its exponent is
bounded at compile time, so simpleeval's own size guard on the base is not the semantics).
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from simpleeval import DEFAULT_OPERATORS, SimpleEval

from rulebot.rulebook.errors import ExprError
from rulebot.rulebook.expr_check import check
from rulebot.rulebook.expr_codegen import PREV_PREFIX
from rulebot.rulebook.expr_functions import FUNCTIONS, num_pow
from rulebot.rulebook.expr_parse import ParsedExpr, parse_expr
from rulebot.rulebook.scope import NameKind, Scope

OPERATORS: dict[type[ast.AST], Any] = {**DEFAULT_OPERATORS, ast.Pow: num_pow}
REFERENCE_FUNCTIONS: dict[str, Any] = {n: f.impl for n, f in FUNCTIONS.items() if f.impl is not None}


class ReferenceEvaluator:
    """One expression prepared for simpleeval: `tree` (pre-parsed) and `source` (its text)."""

    def __init__(self, text: str, scope: Scope) -> None:
        parsed = parse_expr(text)
        result = check(parsed, scope, None)
        if result.issues:
            raise ExprError(list(result.issues))
        self.scope = scope
        self.prev_binds: dict[str, str] = {}  # fresh name → flat name whose prev value it reads
        self.lookbacks: dict[str, str] = {}  # fresh name → the look-back slot it reads ("close@1h[1]")
        body = _Lookbacks(parsed, self.lookbacks).visit(copy.deepcopy(parsed.body))
        self.tree: ast.expr = _Expand(parsed, scope, self.prev_binds, self.lookbacks).visit(body)
        ast.fix_missing_locations(self.tree)
        self.source = ast.unparse(self.tree)
        self.series = dict(parsed.lexed.series)

    def names_for(self, env: Mapping[str, Any]) -> dict[str, Any]:
        """simpleeval's `names`: flat names grouped into namespaces, params from the scope."""
        names: dict[str, Any] = {}
        groups: dict[str, dict[str, Any]] = {}
        for flat, info in self.scope.names.items():
            value = info.value if info.kind is NameKind.PARAM else env.get(flat)
            root, dot, attr = flat.partition(".")
            if dot:
                groups.setdefault(root, {})[attr] = value
            else:
                names[flat] = value
        names.update({k: SimpleNamespace(**v) for k, v in groups.items()})
        names.update({ident: env.get(flat) for ident, flat in self.series.items()})
        names.update({ident: env.get(flat) for ident, flat in self.lookbacks.items()})
        names.update({ident: env[PREV_PREFIX + flat] for ident, flat in self.prev_binds.items()})
        return names

    def evaluator(self, env: Mapping[str, Any]) -> SimpleEval:
        return SimpleEval(operators=OPERATORS, functions=REFERENCE_FUNCTIONS, names=self.names_for(env))

    def eval(self, env: Mapping[str, Any]) -> Any:
        return self.evaluator(env).eval(self.source, previously_parsed=self.tree)


class _Lookbacks(ast.NodeTransformer):
    """Rewrite x[n] into a fresh name bound to the engine's slot `x[n]` (x[0] is x itself)."""

    def __init__(self, parsed: ParsedExpr, binds: dict[str, str]) -> None:
        self.parsed = parsed
        self.binds = binds

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        flat = self.parsed.flat_name(node.value)
        n = node.slice.value if isinstance(node.slice, ast.Constant) else None
        if flat is None or not isinstance(n, int):
            raise AssertionError("the checker accepts only literal look-backs on names")
        if n == 0:
            return node.value
        ident = f"lookback_{len(self.binds)}"
        self.binds[ident] = f"{flat}[{n}]"
        return ast.Name(ident, ast.Load())


class _Expand(ast.NodeTransformer):
    """Rewrite crossover(a, b) into plain comparisons over previous and current values."""

    def __init__(self, parsed: ParsedExpr, scope: Scope, binds: dict[str, str], lookbacks: dict[str, str]) -> None:
        self.parsed = parsed
        self.scope = scope
        self.binds = binds
        self.lookbacks = lookbacks

    def visit_Call(self, node: ast.Call) -> ast.AST:
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        if name not in ("crossover", "crossunder"):
            return self.generic_visit(node)
        a, b = node.args
        was, now = (ast.LtE(), ast.Gt()) if name == "crossover" else (ast.GtE(), ast.Lt())
        return ast.BoolOp(
            ast.And(),
            [
                ast.Compare(self.prev(a), [was], [self.prev(b)]),
                ast.Compare(a, [now], [b]),
            ],
        )

    def prev(self, node: ast.expr) -> ast.expr:
        binds, parsed, scope, lookbacks = self.binds, self.parsed, self.scope, self.lookbacks

        class Prev(ast.NodeTransformer):
            def visit_Call(self, call: ast.Call) -> ast.AST:
                call.args = [self.visit(a) for a in call.args]  # leave the function name alone
                return call

            def visit_Name(self, n: ast.Name) -> ast.AST:
                return self.swap(n)

            def visit_Attribute(self, n: ast.Attribute) -> ast.AST:
                return self.swap(n)

            def swap(self, n: ast.Name | ast.Attribute) -> ast.AST:
                if isinstance(n, ast.Name) and n.id in lookbacks:
                    ident = f"prev_{len(binds)}"
                    binds[ident] = lookbacks[n.id]
                    return ast.Name(ident, ast.Load())
                flat = parsed.flat_name(n)
                info = scope.get(flat) if flat is not None else None
                if flat is None or info is None or not info.has_prev:
                    return n
                ident = f"prev_{len(binds)}"
                binds[ident] = flat
                return ast.Name(ident, ast.Load())

        return Prev().visit(copy.deepcopy(node))  # type: ignore[no-any-return]
