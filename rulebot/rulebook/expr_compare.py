"""Comparisons in an expression: `==` and `!=` between values of one type, `<`, `<=`, `>` and `>=`
between numbers, text compared only with values it can hold; chains (`a < b < c`) included.
"""

from __future__ import annotations

import ast

from rulebot.rulebook import expr_ir as ir
from rulebot.rulebook.expr_calls import CheckerHost
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


def two_sides(lt: ExprType, rt: ExprType) -> str:
    """How a message names the two wrong sides of an operator: `both sides are text`."""
    return f"both sides are {lt.words}" if lt is rt else f"the left side is {lt.words} and the right {rt.words}"


class CompareChecker:
    def __init__(self, host: CheckerHost) -> None:
        self.host = host

    def compare(self, node: ast.AST) -> Checked:
        assert isinstance(node, ast.Compare)
        operands = [node.left, *node.comparators]
        checked = [self.host.expr(o) for o in operands]
        ok = all(n is not None for n, _ in checked)
        ops: list[ir.CompareOpName] = []
        for i, cmp in enumerate(node.ops):
            op = _COMPARE.get(type(cmp))
            if op is None:
                msg, hint = _WORDS.get(type(cmp), (f"{type(cmp).__name__} is not allowed", None))
                self.host.issue(node, msg, hint, "not-allowed")
                ok = False
                continue
            ops.append(op)
            (ln, lt), (rn, rt) = checked[i], checked[i + 1]
            if lt is None or rt is None:
                continue
            if op in _ORDERING and lt is not NUM and rt is not NUM:
                # One mistake ('"a" < "b"', ordering text), so one error over the comparison, as for '"a" + "b"'.
                sides = two_sides(lt, rt)
                hint = (
                    'text has no order; compare it with == or !=, e.g. position.side == "long"'
                    if STR in (lt, rt)
                    else None
                )
                self.host.issue(self.pair(node, i), f"'{op}' compares numbers, but {sides}", hint, "type")
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
        if not ok:
            return None, None
        nodes = [n for n, _ in checked if n is not None]
        return ir.Compare(nodes[0], tuple(ops), tuple(nodes[1:])), BOOL

    def pair(self, node: ast.Compare, i: int) -> ast.AST | tuple[int, int]:
        """Where comparison `i` of `node` is: all of it, or in a chain `a < b < c` just `a < b`."""
        if len(node.ops) == 1:
            return node
        operands = [node.left, *node.comparators]
        start, _ = self.wrapped(operands[i])
        end = sum(self.wrapped(operands[i + 1]))
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
