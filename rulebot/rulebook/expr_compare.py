"""Comparisons in an expression: `==` and `!=` between values of one type, `<`, `<=`, `>` and `>=`
between numbers, text compared only with values it can hold; chains (`a < b < c`) included.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable

from rulebot.rulebook import expr_ir as ir
from rulebot.rulebook.expr_breakout import never_breaks_out
from rulebot.rulebook.expr_calls import CheckerHost, wrong_parts
from rulebot.rulebook.expr_names import Checked, did_you_mean, listing, with_guess
from rulebot.rulebook.expr_types import ExprType
from rulebot.rulebook.scope import NameInfo

NUM, BOOL, STR = ExprType.NUM, ExprType.BOOL, ExprType.STR

_COMPARE: dict[type[ast.cmpop], ir.CompareOpName] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}
_ORDERING = frozenset({"<", "<=", ">", ">="})

_WORDS: dict[type[ast.cmpop], tuple[str, str | None]] = {
    ast.In: ("the 'in' operator is not allowed", "compare with == and combine with or"),
    ast.NotIn: ("the 'not in' operator is not allowed", "compare with != and combine with and"),
    ast.Is: ("the 'is' operator is not allowed", "compare with =="),
    ast.IsNot: ("the 'is not' operator is not allowed", "compare with !="),
}
_NO_ORDER = 'text has no order; compare it with == or !=, e.g. position.side == "long"'


def two_sides(lt: ExprType, rt: ExprType) -> str:
    """How a message names the two wrong sides of an operator: `both sides are text`."""
    return f"both sides are {lt.words}" if lt is rt else f"the left side is {lt.words} and the right {rt.words}"


def _unordered(checked: list[Checked], i: int) -> bool:
    """Does comparison `i` of a chain order something that is not a number (both its sides being known)?"""
    lt, rt = checked[i][1], checked[i + 1][1]
    return lt is not None and rt is not None and (lt is not NUM or rt is not NUM)


class CompareChecker:
    def __init__(self, host: CheckerHost) -> None:
        self.host = host

    def compare(self, node: ast.AST) -> Checked:
        assert isinstance(node, ast.Compare)
        operands = [node.left, *node.comparators]
        checked = [self.host.expr(o) for o in operands]
        ok = all(n is not None for n, _ in checked)
        ops: list[ir.CompareOpName] = []
        unordered = [
            i for i, cmp in enumerate(node.ops) if _COMPARE.get(type(cmp)) in _ORDERING and _unordered(checked, i)
        ]
        if len(unordered) > 1:
            self.unordered_chain(node, checked, unordered)
            ok = False
        for i, cmp in enumerate(node.ops):
            op = _COMPARE.get(type(cmp))
            if op is None:
                msg, hint = _WORDS.get(type(cmp), (f"{type(cmp).__name__} is not allowed", None))
                self.host.issue(node, msg, hint, "not-allowed")
                ok = False
                continue
            ops.append(op)
            (ln, lt), (rn, rt) = checked[i], checked[i + 1]
            if lt is None or rt is None or (op in _ORDERING and len(unordered) > 1):
                continue
            if op in _ORDERING and lt is not NUM and rt is not NUM:
                # One mistake ('"a" < "b"', ordering text), so one error over the comparison, as for '"a" + "b"'.
                sides = two_sides(lt, rt)
                hint = _NO_ORDER if STR in (lt, rt) else None
                self.host.issue(self.part(node, i, i), f"'{op}' compares numbers, but {sides}", hint, "type")
                ok = False
            elif op in _ORDERING:
                for side, t, where in (("left", lt, operands[i]), ("right", rt, operands[i + 1])):
                    if t is not NUM:
                        self.host.issue(
                            where,
                            f"'{op}' compares numbers, but the {side} side is {t.words}",
                            None,
                            "type",
                        )
                        ok = False
                if lt is NUM and rt is NUM:
                    ok = self.clock_order(node, i, op, ln, rn) and ok
                    self.breakout(node, i, op, ln, rn)
            elif lt is not rt:
                self.host.issue(
                    node,
                    f"'{op}' compares {lt.words} with {rt.words}; they can never be equal",
                    None,
                    "type",
                )
                ok = False
            else:
                ok = self.enum_values(ln, rn, operands[i + 1]) and ok
                ok = self.enum_values(rn, ln, operands[i]) and ok
                ok = self.clock_value(ln, rn, operands[i + 1]) and ok
                ok = self.clock_value(rn, ln, operands[i]) and ok
        if not ok:
            return None, None
        nodes = [n for n, _ in checked if n is not None]
        return ir.Compare(nodes[0], tuple(ops), tuple(nodes[1:])), BOOL

    def unordered_chain(self, node: ast.Compare, checked: list[Checked], unordered: list[int]) -> None:
        """'"a" < "b" < "c"': several orderings of non-numbers in a chain are one mistake, so one error over
        that part of the chain, saying which of its operands are not numbers."""
        first, last = unordered[0], unordered[-1]
        wrong = {j: t for i in unordered for j in (i, i + 1) if (t := checked[j][1]) is not None and t is not NUM}
        ops = " and ".join(dict.fromkeys(f"'{_COMPARE[type(node.ops[i])]}'" for i in unordered))
        verb = "compare" if " and " in ops else "compares"
        parts = wrong_parts([(j - first + 1, t) for j, t in sorted(wrong.items())], last - first + 2, "operand")
        self.host.issue(
            self.part(node, first, last),
            f"{ops} {verb} numbers, but {parts}",
            _NO_ORDER if STR in wrong.values() else None,
            "type",
        )

    def part(self, node: ast.Compare, first: int, last: int) -> ast.AST | tuple[int, int]:
        """Where comparisons `first` to `last` of `node` are: all of it, or in a chain `a < b < c` just `a < b`."""
        if first == 0 and last == len(node.ops) - 1:
            return node
        operands = [node.left, *node.comparators]
        start, _ = self.wrapped(operands[first])
        end = sum(self.wrapped(operands[last + 1]))
        return start, end - start

    def wrapped(self, node: ast.AST) -> tuple[int, int]:
        """(offset, length) of `node` with the parentheses around it, which its own span leaves out."""
        start, length = self.host.p.span(node)
        end, text = start + length, self.host.p.text
        while True:
            before, after = text[:start].rstrip(), text[end:].lstrip()
            if not (before.endswith("(") and after.startswith(")")):
                return start, end - start
            start, end = len(before) - 1, len(text) - len(after) + 1

    def enum_values(self, name: ir.Node | None, lit: ir.Node | None, lit_node: ast.AST) -> bool:
        """`position.side == "flat"` can never be true: say so, and what it can be. A text
        param is a constant too, so `state == start` with start: "flatt" is caught as well."""
        if not (isinstance(name, ir.Ref) and isinstance(lit, ir.Const | ir.Param) and isinstance(lit.value, str)):
            return True
        info: NameInfo | None = self.host.scope.get(name.name)
        if info is None or not info.choices or lit.value in info.choices:
            return True
        self.host.issue(
            lit_node,
            f"'{lit.value}' is never a value of {name.name}",
            with_guess(did_you_mean(lit.value, info.choices), listing("values", info.choices)),
            "enum-value",
        )
        return False

    def clock_value(self, name: ir.Node | None, lit: ir.Node | None, lit_node: ast.AST) -> bool:
        """`weekday == 7` (cron's Sunday) or `hour == 24` can never be true: say so, and what it can be."""
        known = _clock_constant(name, lit)
        if known is None or known[1] in _CLOCK[known[0]][0]:
            return True
        clock, value = known
        self.host.issue(lit_node, f"{value:g} is never a value of {clock}", _CLOCK[clock][1], "clock-value")
        return False

    def clock_order(
        self, node: ast.Compare, i: int, op: ir.CompareOpName, left: ir.Node | None, right: ir.Node | None
    ) -> bool:
        """`hour >= 24` or `7 <= weekday` is never true for any hour or weekday there is."""
        known = _clock_constant(left, right) or _clock_constant(right, left)
        if known is None:
            return True
        clock, value = known
        test = _ORDER_TESTS[op]
        if any(test(v, value) if isinstance(left, ir.Ref) else test(value, v) for v in _CLOCK[clock][0]):
            return True
        where = self.part(node, i, i)
        offset, length = self.host.p.span(where) if isinstance(where, ast.AST) else where
        text = self.host.p.text[offset : offset + length]
        self.host.issue(where, f"{text} is never true", _CLOCK[clock][1], "clock-value")
        return False

    def breakout(
        self, node: ast.Compare, i: int, op: ir.CompareOpName, left: ir.Node | None, right: ir.Node | None
    ) -> None:
        """`close@1h > range_high` with range_high: highest(high@1h, 24): see `never_breaks_out`."""
        operands = [node.left, *node.comparators]
        never_breaks_out(self.host, self.part(node, i, i), (operands[i], operands[i + 1]), op, left, right)


# The engine's clock values (engine/market.py): what each can be, and how to say so.
_CLOCK: dict[str, tuple[range, str]] = {
    "hour": (range(24), "hour is a whole number from 0 to 23 (UTC)"),
    "weekday": (range(7), "weekday is a whole number from 0 (Monday) to 6 (Sunday), UTC"),
}
_ORDER_TESTS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _clock_constant(name: ir.Node | None, other: ir.Node | None) -> tuple[str, float] | None:
    """(`hour` or `weekday`, the number) when `name` is one and `other` a number or numeric param."""
    if not (isinstance(name, ir.Ref) and name.name in _CLOCK and isinstance(other, ir.Const | ir.Param)):
        return None
    value = other.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return name.name, value
