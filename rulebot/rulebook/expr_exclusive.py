"""Whether two conditions can never hold at once, from their form alone.

Two rules that enter opposite sides on the same trigger and state race each other unless one
has a higher `priority` (checks.py); a race needs both conditions true together, and the usual
pair cannot be: `crossover(fast, slow)` against `crossunder(fast, slow)`, `fast > slow` against
`fast < slow`. Each condition is read as the `and` of its parts; two parts that contradict each
other (the same two operands compared in ways no pair of numbers satisfies both, a crossover
against the other crossing or a comparison it rules out, `x` against `not x`) make the whole
conditions exclusive. Anything else is taken as possibly true together: this only ever spares
an error, it never lets a real race through. (A NaN operand makes every comparison false: the
conditions are then both false, still never both true.)
"""

from __future__ import annotations

from collections.abc import Iterator

from rulebot.rulebook import expr_ir as ir

_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
# Comparison pairs of the same left and right operands that no values satisfy both.
_CONTRADICT = {
    frozenset({">", "<"}),
    frozenset({">", "<="}),
    frozenset({">=", "<"}),
    frozenset({">", "=="}),
    frozenset({"<", "=="}),
    frozenset({"==", "!="}),
}
_Fact = tuple[ir.Node, str, ir.Node]  # left, operator, right


def exclusive(a: ir.Node | None, b: ir.Node | None) -> bool:
    """True when conditions `a` and `b` can never both be true (None: no condition, always true)."""
    if a is None or b is None:
        return False
    parts_a, parts_b = list(_parts(a)), list(_parts(b))
    for x in parts_a:
        for y in parts_b:
            if _negates(x, y) or _negates(y, x):
                return True
    facts_b = [f for y in parts_b for f in _facts(y)]
    return any(_contradict(f, g) for x in parts_a for f in _facts(x) for g in facts_b)


def _parts(node: ir.Node) -> Iterator[ir.Node]:
    """The parts of an `and` (nested ones flattened); the node itself otherwise."""
    if isinstance(node, ir.BoolOp) and node.op == "and":
        for value in node.values:
            yield from _parts(value)
    else:
        yield node


def _negates(x: ir.Node, y: ir.Node) -> bool:
    return isinstance(x, ir.Unary) and x.op == "not" and x.operand == y


def _facts(node: ir.Node) -> Iterator[_Fact]:
    """What the part says of two operands: a comparison, or the comparison a crossing implies now
    (crossover(a, b) holds only with a > b) and the crossing itself."""
    if isinstance(node, ir.Compare):
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):  # a < b < c: a < b and b < c
            yield left, op, right
            left = right
    elif isinstance(node, ir.Cross):
        yield node.a, ">" if node.up else "<", node.b
        yield node.a, "up" if node.up else "down", node.b


def _contradict(f: _Fact, g: _Fact) -> bool:
    (l1, op1, r1), (l2, op2, r2) = f, g
    if (op1 in ("up", "down")) != (op2 in ("up", "down")):
        return False
    if op1 in ("up", "down"):
        # crossover(a, b) against crossunder(a, b) or crossover(b, a): one crossing at a time.
        return (l1 == l2 and r1 == r2 and op1 != op2) or (l1 == r2 and r1 == l2 and op1 == op2)
    if l1 == l2 and r1 == r2:
        return frozenset({op1, op2}) in _CONTRADICT
    if l1 == r2 and r1 == l2:
        return frozenset({op1, _MIRROR[op2]}) in _CONTRADICT
    return False
