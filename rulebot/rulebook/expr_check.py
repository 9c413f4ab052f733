"""Check a parsed expression against a scope and turn it into the checked form (expr_ir).

Every name, function, attribute, operator and type is checked here; every problem becomes an
ExprIssue placed in the user's text, and all of them are reported, not only the first.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass

from rulebot.rulebook import expr_ir as ir
from rulebot.rulebook.errors import ExprIssue
from rulebot.rulebook.expr_calls import CallChecker, wrong_parts
from rulebot.rulebook.expr_compare import CompareChecker, two_sides
from rulebot.rulebook.expr_names import Checked, Issues, NameResolver
from rulebot.rulebook.expr_parse import ParsedExpr
from rulebot.rulebook.expr_types import ExprType
from rulebot.rulebook.expr_zero import ZeroDivision, zero_division
from rulebot.rulebook.scope import NameKind, Scope

NUM, BOOL, STR = ExprType.NUM, ExprType.BOOL, ExprType.STR
MAX_EXPONENT = 64
# x[n] reads a kept copy: the bound keeps the copies small (HISTORY_CANDLES in engine/market.py
# keeps 2000 candles per timeframe; a look-back is a window over those, not a second history).
MAX_LOOKBACK = 500

_BINARY: dict[type[ast.operator], ir.BinaryOpName] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
}
_UNARY: dict[type[ast.unaryop], ir.UnaryOpName] = {ast.Not: "not", ast.USub: "-", ast.UAdd: "+"}
# Constructs Python parses but the language does not have, and what to tell the user.
_REJECTED: dict[type[ast.AST], str] = {
    ast.Slice: "slices are not allowed",
    ast.Lambda: "lambda functions are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions (generator expressions) are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.NamedExpr: "assignment expressions (:=, walrus) are not allowed",
    ast.Starred: "starred arguments (*x) are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.Set: "sets are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
}
_OPERATOR_WORDS: dict[type[ast.AST], tuple[str, str | None]] = {
    ast.BitAnd: ("bitwise '&' is not allowed", "use and"),
    ast.BitOr: ("bitwise '|' is not allowed", "use or"),
    ast.BitXor: ("bitwise '^' is not allowed", "use ** for powers"),
    ast.LShift: ("shift '<<' is not allowed", None),
    ast.RShift: ("shift '>>' is not allowed", None),
    ast.Invert: ("bitwise '~' is not allowed", "use not"),
    ast.MatMult: ("'@' is only part of a series name", "write a series without spaces: close@15m"),
}


@dataclass(frozen=True, slots=True)
class CheckResult:
    node: ir.Node | None  # None when there are issues
    type: ExprType | None
    issues: tuple[ExprIssue, ...]
    zero_divisions: tuple[ZeroDivision, ...] = ()
    warnings: tuple[ExprIssue, ...] = ()  # what compiles but is surely a slip


def check(parsed: ParsedExpr, scope: Scope, expected: ExprType | None) -> CheckResult:
    """Check `parsed` against `scope`; the result type must be `expected` unless None."""
    c = _Checker(parsed, scope)
    node, t = c.expr(parsed.body)
    if expected is not None and t is not None and t is not expected:
        hint = "compare it, e.g. x > 0" if expected is BOOL and t is NUM else None
        c.issue(parsed.body, f"this must be {expected.words}, but it is {t.words}", hint, "type")
    issues = tuple(sorted(c.issues.found, key=lambda i: (i.offset, i.length)))
    return CheckResult(None if issues else node, t, issues, tuple(c.zero_divisions), tuple(c.warnings))


class _Checker:
    def __init__(self, parsed: ParsedExpr, scope: Scope) -> None:
        self.p = parsed
        self.scope = scope
        self.issues = Issues(parsed)
        self.issue = self.issues.add
        self.zero_divisions: list[ZeroDivision] = []
        self.warnings: list[ExprIssue] = []
        names = NameResolver(parsed, scope, self.issues)
        self.handlers: dict[type[ast.AST], Callable[[ast.AST], Checked]] = {
            ast.Constant: self.constant,
            ast.Name: names.name,
            ast.Attribute: names.attribute,
            ast.BinOp: self.binop,
            ast.UnaryOp: self.unaryop,
            ast.BoolOp: self.boolop,
            ast.Compare: CompareChecker(self).compare,
            ast.IfExp: self.ifexp,
            ast.Call: CallChecker(self).call,
            ast.Subscript: self.lookback,
        }

    # ------------------------------------------------------------------ plumbing

    def expr(self, node: ast.AST) -> Checked:
        handler = self.handlers.get(type(node))
        if handler is None:
            message = _REJECTED.get(type(node), f"{type(node).__name__} is not allowed")
            self.issue(node, message, None, "not-allowed")
            return None, None
        return handler(node)

    def warn(self, node: ast.AST | tuple[int, int], message: str, hint: str | None, code: str) -> None:
        """A warning: the expression compiles, but surely does not say what was meant."""
        offset, length = node if isinstance(node, tuple) else self.p.span(node)
        self.warnings.append(ExprIssue(message, offset, max(length, 1), hint, code, "warning"))

    def want(self, node: ast.AST, want: ExprType, what: str, hint: str | None = None) -> ir.Node | None:
        """Check `node` and require type `want`; `what` completes "... needs": "'+' needs"."""
        out, t = self.expr(node)
        if t is not None and t is not want:
            self.issue(node, f"{what} {want.words}, but this is {t.words}", hint, "type")
            return None
        return out

    # ------------------------------------------------------------------ leaves

    def constant(self, node: ast.AST) -> Checked:
        assert isinstance(node, ast.Constant)
        v = node.value
        if isinstance(v, bool):
            return ir.Const(v), BOOL
        if isinstance(v, int | float):
            if not math.isfinite(v):
                self.issue(node, "this number is too large", None, "literal")
                return None, None
            return ir.Const(v), NUM
        if isinstance(v, str):
            return ir.Const(v), STR
        what = {type(None): "None", bytes: "a bytes literal", type(...): "'...'"}.get(type(v), repr(v))
        self.issue(
            node,
            f"{what} is not allowed in a rulebook expression",
            "values are numbers, text in quotes, true and false",
            "not-allowed",
        )
        return None, None

    def lookback(self, node: ast.AST) -> Checked:
        """`x[n]`: candle series or indicator x as it was n closed candles of its timeframe ago.

        It compiles to a read of the flat name `x[n]`, a slot the engine fills when a candle of
        x's timeframe closes; n is a literal whole number, so nothing is computed to reach it."""
        assert isinstance(node, ast.Subscript)
        hint = "write a whole number of candles back, e.g. close@1h[1] or ema_fast[2]"
        if isinstance(node.slice, ast.Slice):
            self.issue(node.slice, "slices are not allowed", hint, "not-allowed")
            return None, None
        n = _literal_number(node.slice)
        if isinstance(node.slice, ast.UnaryOp) or not isinstance(n, int) or isinstance(n, bool):
            self.issue(node.slice, "a look-back x[n] needs a whole number n written as a literal", hint, "lookback")
            self.expr(node.value)
            return None, None
        if not 0 <= n <= MAX_LOOKBACK:
            self.issue(node.slice, f"a look-back must be between 0 and {MAX_LOOKBACK} candles", hint, "lookback")
            return None, None
        if self.p.flat_name(node.value) is None:
            self.issue(
                node.value,
                "only a candle series or an indicator can be looked back on",
                "e.g. close@1h[1], highest_24[1], macd.line[1]",
                "lookback",
            )
            return None, None
        out, t = self.expr(node.value)
        if out is None or t is None:
            return None, None
        info = self.scope.get(out.name) if isinstance(out, ir.Ref) else None
        if info is None or info.kind not in (NameKind.SERIES, NameKind.INDICATOR):
            name = out.name if isinstance(out, ir.Ref | ir.Param) else "this"
            self.issue(
                node,
                f"'{name}' has no candles to look back on: x[n] works on candle series and indicators",
                "for the price a candle ago, write close@1m[1] (any declared timeframe)",
                "lookback",
            )
            return None, None
        if n == 0:
            return out, t
        return ir.Ref(f"{info.name}[{n}]", True), t

    # ------------------------------------------------------------------ operators

    def binop(self, node: ast.AST) -> Checked:
        assert isinstance(node, ast.BinOp)
        if isinstance(node.op, ast.Pow):
            return self.power(node)
        op = _BINARY.get(type(node.op))
        if op is None:
            msg, hint = _OPERATOR_WORDS.get(type(node.op), (f"{type(node.op).__name__} is not allowed", None))
            self.issue(node, msg, hint, "not-allowed")
            return None, None
        (left, lt), (right, rt) = self.expr(node.left), self.expr(node.right)
        if lt is not None and lt is not NUM and rt is not None and rt is not NUM:
            # One mistake ('"a" + "b"', joining text), so one error over the whole operation.
            sides = two_sides(lt, rt)
            hint = (
                'text cannot be joined; compare it with ==, e.g. position.side == "long"' if STR in (lt, rt) else None
            )
            self.issue(node, f"'{op}' needs numbers, but {sides}", hint, "type")
            return None, None
        for side, t in ((node.left, lt), (node.right, rt)):
            if t is not None and t is not NUM:
                self.issue(side, f"'{op}' needs a number, but this is {t.words}", None, "type")
                return None, None
        if left is None or right is None:
            return None, None
        out = ir.Binary(op, left, right)
        zero = zero_division(out, *self.p.span(node), self.p.node_text(node.right), self.scope.param_decl)
        if zero is not None:
            self.zero_divisions.append(zero)
        return out, NUM

    def power(self, node: ast.BinOp) -> Checked:
        base = self.want(node.left, NUM, "'**' needs")
        exponent = _literal_number(node.right)
        if exponent is None or abs(exponent) > MAX_EXPONENT:
            self.issue(
                node.right,
                f"the exponent of ** must be a number literal between -{MAX_EXPONENT} and {MAX_EXPONENT}",
                "e.g. x ** 2 or x ** 0.5; a computed exponent can grow without bound",
                "exponent",
            )
            return None, None
        if base is None:
            return None, None
        return ir.Power(base, exponent), NUM

    def unaryop(self, node: ast.AST) -> Checked:
        assert isinstance(node, ast.UnaryOp)
        op = _UNARY.get(type(node.op))
        if op is None:
            msg, hint = _OPERATOR_WORDS.get(type(node.op), (f"{type(node.op).__name__} is not allowed", None))
            self.issue(node, msg, hint, "not-allowed")
            return None, None
        want, t = (BOOL, BOOL) if op == "not" else (NUM, NUM)
        operand = self.want(node.operand, want, f"'{op}' needs")
        return (ir.Unary(op, operand), t) if operand is not None else (None, None)

    def boolop(self, node: ast.AST) -> Checked:
        assert isinstance(node, ast.BoolOp)
        op: ir.BoolOpName = "and" if isinstance(node.op, ast.And) else "or"
        checked = [self.expr(v) for v in node.values]
        wrong = [(i, t) for i, (_, t) in enumerate(checked, 1) if t is not None and t is not BOOL]
        if len(wrong) > 1:
            # One mistake ('price and atr', values where conditions belong), so one error over it, as for '"a" + "b"'.
            n = len(node.values)
            parts = two_sides(wrong[0][1], wrong[1][1]) if n == 2 else wrong_parts(wrong, n, "operand")
            self.issue(node, f"'{op}' needs booleans (true/false), but {parts}", "compare each, e.g. x > 0", "type")
            return None, None
        for i, t in wrong:
            self.issue(
                node.values[i - 1],
                f"'{op}' needs a boolean (true/false), but this is {t.words}",
                "compare it, e.g. x > 0",
                "type",
            )
        values = [v if t is BOOL else None for v, t in checked]
        if any(v is None for v in values):
            return None, None
        return ir.BoolOp(op, tuple(v for v in values if v is not None)), BOOL

    def ifexp(self, node: ast.AST) -> Checked:
        assert isinstance(node, ast.IfExp)
        test = self.want(node.test, BOOL, "the condition after 'if' needs")
        body, bt = self.expr(node.body)
        orelse, ot = self.expr(node.orelse)
        if bt is not None and ot is not None and bt is not ot:
            self.issue(
                node,
                f"both branches of 'if ... else' must have one type; here {bt.words} and {ot.words}",
                None,
                "type",
            )
            return None, None
        if test is None or body is None or orelse is None:
            return None, None
        return ir.IfExp(test, body, orelse), bt


def _literal_number(node: ast.AST) -> int | float | None:
    """The value of `2`, `-2`, `0.5` or `50%`; None for anything computed."""
    sign = 1
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
        and math.isfinite(node.value)
    ):
        return sign * node.value
    return None
