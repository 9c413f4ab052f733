"""Function calls in an expression: the function is one of the language's, with the right number
of numeric arguments; anything else becomes an issue that says what can be called.
"""

from __future__ import annotations

import ast
from typing import Protocol

from rulebot.rulebook import expr_ir as ir
from rulebot.rulebook.expr_breakout import never_breaks_out
from rulebot.rulebook.expr_functions import FUNCTIONS, INDICATOR_FUNCTIONS
from rulebot.rulebook.expr_names import Checked, did_you_mean, listing, with_guess
from rulebot.rulebook.expr_parse import ParsedExpr
from rulebot.rulebook.expr_types import ExprType
from rulebot.rulebook.scope import Scope

NUM, BOOL, STR = ExprType.NUM, ExprType.BOOL, ExprType.STR
MAX_NDIGITS = 20

_NEVER_CROSSES = "crossover(a, b) compares a market value or an indicator with another, or with a level"


class CheckerHost(Protocol):
    """What a call check needs from the expression checker that owns it."""

    p: ParsedExpr
    scope: Scope

    def expr(self, node: ast.AST) -> Checked: ...

    def issue(self, node: ast.AST | tuple[int, int], message: str, hint: str | None = None, code: str = "") -> None: ...

    def warn(self, node: ast.AST | tuple[int, int], message: str, hint: str | None, code: str) -> None: ...


class CallChecker:
    def __init__(self, host: CheckerHost) -> None:
        self.host = host

    def call(self, node: ast.AST) -> Checked:
        assert isinstance(node, ast.Call)
        ok = True
        for kw in node.keywords:
            self.host.issue(
                kw,
                "keyword arguments are not allowed" if kw.arg else "'**' arguments are not allowed",
                "pass arguments by position",
                "not-allowed",
            )
            ok = False
        fname = node.func.id if isinstance(node.func, ast.Name) else None
        spec = FUNCTIONS.get(fname) if fname is not None else None
        if spec is None:
            self.unknown_function(node, fname)
            for arg in node.args:
                self.host.expr(arg)
            return None, None
        n = len(node.args)
        if n < spec.min_args or (spec.max_args is not None and n > spec.max_args):
            count = (
                str(spec.min_args)
                if spec.max_args == spec.min_args
                else f"at least {spec.min_args}"
                if spec.max_args is None
                else f"{spec.min_args} or {spec.max_args}"
            )
            self.host.issue(
                node,
                f"{spec.name} takes {count} argument{'s' if count != '1' else ''}, got {n}",
                spec.signature,
                "arity",
            )
            ok = False
        checked_args = [self.host.expr(a) for a in node.args]
        wrong = [(i, t) for i, (_, t) in enumerate(checked_args, 1) if t is not None and t is not NUM]
        if len(wrong) > 1:
            # One mistake (`max('a', 'b')`, text where numbers go), so one error over the call, as for '"a" + "b"'.
            hint = f'{spec.name} works on numbers; compare text with ==, e.g. position.side == "long"'
            self.host.issue(
                node,
                f"{spec.name} needs numbers, but {wrong_parts(wrong, n)}",
                hint if any(t is STR for _, t in wrong) else None,
                "type",
            )
            return None, None
        for i, t in wrong:
            self.host.issue(node.args[i - 1], f"{spec.name} needs a number, but this is {t.words}", None, "type")
        args = [a if t is NUM else None for a, t in checked_args]
        if any(a is None for a in args) or not ok:
            return None, None
        checked = tuple(a for a in args if a is not None)
        if spec.returns_bool:
            for a, src in zip(checked, node.args, strict=True):
                if any(isinstance(x, ir.Cross) for x in ir.walk(a)):
                    self.host.issue(
                        src,
                        f"{spec.name} cannot contain crossover or crossunder",
                        "compare the two values directly",
                        "not-allowed",
                    )
                    ok = False
            # `crossover(ema_fast, ema_fast)` (a typo for ema_slow) or of numbers and params only:
            # nothing can move, so the rule reading it could never fire.
            moving = any(isinstance(x, ir.Ref) for a in checked for x in ir.walk(a))
            if ok and (checked[0] == checked[1] or not moving):
                what = "a value with itself" if checked[0] == checked[1] else "two values that never change"
                self.host.issue(node, f"{spec.name} of {what} is never true", _NEVER_CROSSES, "never-crosses")
                ok = False
            if ok:
                # A crossover ends in `a > b` (a crossunder in `a < b`): never so past a range that includes a's candle.
                up = spec.name == "crossover"
                never_breaks_out(self.host, node, (node.args[0], node.args[1]), ">" if up else "<", *checked)
            return (ir.Cross(spec.name == "crossover", *checked), BOOL) if ok else (None, None)
        if spec.name == "round" and len(checked) == 2 and not _small_whole(checked[1]):
            self.host.issue(
                node.args[1],
                f"round's ndigits must be a whole number from -{MAX_NDIGITS} to {MAX_NDIGITS}, e.g. round(x, 2)",
                "round(n, -99999999) would compute 10 ** 99999999",
                "type",
            )
            return None, None
        if spec.name == "clamp" and not self.clamp_bounds_in_order(node, checked):
            return None, None
        fn: ir.CallName = spec.name  # type: ignore[assignment]  # the table holds only these
        return ir.Call(fn, checked), NUM

    def clamp_bounds_in_order(self, node: ast.Call, checked: tuple[ir.Node, ...]) -> bool:
        """clamp(x, 2, 1) is 1 whatever x is (min(max(x, 2), 1)): bounds known at compile time in the
        wrong order are a slip, not a constant the user meant to write that way."""
        lo, hi = _constant_number(checked[1]), _constant_number(checked[2])
        if lo is None or hi is None or lo <= hi:
            return True
        x, lo_text, hi_text = (self.host.p.node_text(a) for a in node.args)
        self.host.issue(
            node,
            f"clamp's lower bound {_bound_words(lo_text, checked[1], lo)} is above "
            f"its upper bound {_bound_words(hi_text, checked[2], hi)}",
            f"clamp(x, lo, hi) needs lo <= hi, or it is always hi; swap them: clamp({x}, {hi_text}, {lo_text})",
            "clamp-bounds",
        )
        return False

    def unknown_function(self, node: ast.Call, fname: str | None) -> None:
        functions = listing("functions", list(FUNCTIONS))
        if isinstance(node.func, ast.Attribute):
            self.host.issue(
                node.func,
                f"methods like '.{node.func.attr}(...)' cannot be called",
                functions,
                "not-allowed",
            )
        elif fname is None:
            self.host.issue(node.func, "only the listed functions can be called", functions, "not-allowed")
        elif fname in INDICATOR_FUNCTIONS:
            self.host.issue(
                node.func,
                f"'{fname}' is an indicator: declare it under indicators: and use its name here",
                f"e.g. indicators: {{ my_{fname}: {fname}(close@15m, 20) }}",
                "unknown-function",
            )
        elif self.host.scope.get(fname) is not None or fname in self.host.p.lexed.series:
            self.host.issue(
                node.func,
                f"'{self.host.p.node_text(node.func)}' is a value, not a function",
                functions,
                "unknown-function",
            )
        else:
            self.host.issue(
                node.func,
                f"unknown function '{fname}'",
                with_guess(did_you_mean(fname, list(FUNCTIONS)), functions),
                "unknown-function",
            )


def wrong_parts(wrong: list[tuple[int, ExprType]], n: int, noun: str = "argument") -> str:
    """`both arguments are text`, `arguments 1 and 3 are text and argument 2 is a boolean (true/false)`;
    `noun` names the parts counted from 1 (arguments of a call, operands of and/or)."""
    types = list(dict.fromkeys(t for _, t in wrong))
    if len(types) == 1 and len(wrong) == n:
        return f"{'both' if n == 2 else f'all {n}'} {noun}s are {types[0].words}"
    groups = []
    for t in types:
        positions = [str(i) for i, u in wrong if u is t]
        numbers = positions[0] if len(positions) == 1 else f"{', '.join(positions[:-1])} and {positions[-1]}"
        groups.append(
            f"{noun}{'s' if len(positions) > 1 else ''} {numbers} {'are' if len(positions) > 1 else 'is'} {t.words}"
        )
    return " and ".join(groups)


def _constant_number(node: ir.Node) -> int | float | None:
    """The value of a signed number literal or param (`2`, `-lo`); None for anything computed."""
    sign = 1
    while isinstance(node, ir.Unary) and node.op in ("-", "+"):
        sign = -sign if node.op == "-" else sign
        node = node.operand
    value = node.value if isinstance(node, ir.Const | ir.Param) else None
    return sign * value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _bound_words(text: str, node: ir.Node, value: int | float) -> str:
    """`2`, or `lo (2)` when the bound is a param, so the message shows the value compared."""
    return text if all(not isinstance(n, ir.Param) for n in ir.walk(node)) else f"{text} ({value:g})"


def _small_whole(node: ir.Node) -> bool:
    """A literal or param whole number small enough for round()."""
    while isinstance(node, ir.Unary) and node.op in ("-", "+"):
        node = node.operand
    value = node.value if isinstance(node, ir.Const | ir.Param) else None
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_NDIGITS
