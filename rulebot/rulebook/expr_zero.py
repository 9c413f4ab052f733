"""Divisions by a zero known from the rulebook alone: found while checking (expr_check), judged
once the whole expression is known (expr): an error where every evaluation reaches one, a
warning where an and/or/if-else may skip it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from rulebot.rulebook import expr_ir as ir
from rulebot.rulebook.errors import ExprIssue
from rulebot.rulebook.expr_codegen import build, generate


@dataclass(frozen=True, slots=True)
class ZeroDivision:
    """A `/`, `//` or `%` whose divisor is zero whatever the market does: a (signed) number literal
    or param equal to 0, or numbers and params that fold to 0 (`1 - 1`, `p - q`), and where it is
    in the text; whether every evaluation reaches it is for the caller to judge."""

    node: ir.Binary
    offset: int
    length: int
    divisor: str  # as written: `0`, `p`, `p - q`
    # The params it reads: with p: 0, `x / p` may be guarded on purpose (`p > 0 and x / p`).
    params: tuple[tuple[str, ir.Value], ...]
    folded: bool  # computed (`1 - 1`), not a written zero (`0`, `-p`)


def zero_division(node: ir.Binary, offset: int, length: int, divisor: str) -> ZeroDivision | None:
    """`node`, found at (offset, length) with its divisor written as `divisor`, if it divides by a
    zero known at compile time; else None."""
    if node.op not in ("/", "//", "%") or not _folds_to_zero(node.right):
        return None
    written = node.right
    while isinstance(written, ir.Unary) and written.op in ("-", "+"):
        written = written.operand
    params = {n.name: n.value for n in ir.walk(node.right) if isinstance(n, ir.Param)}
    return ZeroDivision(
        node, offset, length, divisor, tuple(sorted(params.items())), not isinstance(written, ir.Const | ir.Param)
    )


def _folds_to_zero(node: ir.Node) -> bool:
    """Is `node`, made of numbers and params only, 0? Folded with the generated code itself, so the
    compiler and the engine cannot disagree; one that fails to fold (`1 / 0`) is caught on its own."""
    if any(isinstance(n, ir.Ref) for n in ir.walk(node)):
        return False
    try:
        value = build(generate(node))({})
    except (ArithmeticError, ValueError):
        return False
    return isinstance(value, int | float) and not isinstance(value, bool) and value == 0


def zero_division_issues(
    root: ir.Node, zero_divisions: Sequence[ZeroDivision]
) -> tuple[list[ExprIssue], list[ExprIssue]]:
    """Divisions by a zero known at compile time (`0`, a param that is 0, `1 - 1`, `p - q`): an error
    where every evaluation of `root` reaches one (`equity / 0` reads a name, so folding the whole
    expression would not catch it), a warning where an and/or/if-else may skip it.

    A skipped literal zero still fails each time its branch runs, which is never what was meant; a
    zero computed from params is left alone there, as `p > 0 and x / p > 1` guards it on purpose."""
    always = {id(n) for n in _always_evaluated(root)}
    present = {id(n) for n in ir.walk(root)}
    errors: list[ExprIssue] = []
    warnings: list[ExprIssue] = []
    for z in zero_divisions:
        if id(z.node) in always:
            errors.append(
                ExprIssue(
                    "this expression always fails: division by zero",
                    z.offset,
                    z.length,
                    _zero_hint(z),
                    "constant-error",
                )
            )
        elif id(z.node) in present and not z.params:
            warnings.append(
                ExprIssue(
                    "division by zero: this part fails whenever it is evaluated",
                    z.offset,
                    z.length,
                    "what comes before it may decide without it, but each time it runs the expression fails at run "
                    "time; divide by something other than 0",
                    "division-by-zero",
                    "warning",
                )
            )
    return errors, warnings


def _zero_hint(z: ZeroDivision) -> str:
    """What to change; a computed divisor shows the param values it was computed from, as the
    rulebook writes them, since `p - q` is 0 only for some (and `p - p` for all)."""
    if not z.folded:
        return (
            f"param '{z.params[0][0]}' is 0 here; give it another value"
            if z.params
            else "divide by something other than 0"
        )
    if not z.params:
        return f"'{z.divisor}' is always 0; divide by something other than 0"
    values = ", ".join(f"{name}: {_yaml_value(value)}" for name, value in z.params)
    return f"'{z.divisor}' is 0 with {values}; divide by something other than 0"


def _yaml_value(value: ir.Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else f"{value:g}"


def _always_evaluated(node: ir.Node) -> Iterator[ir.Node]:
    """`node` and every part of it that each evaluation runs. The first operand of and/or, the test of
    if-else and the first comparison of a chain always run; the rest may be skipped. crossover
    compares both arguments' previous values first, so those always run too (expr_codegen)."""
    yield node
    match node:
        case ir.BoolOp(values=xs):
            yield from _always_evaluated(xs[0])
        case ir.IfExp(test=t):
            yield from _always_evaluated(t)
        case ir.Compare(left=a, comparators=xs):
            yield from _always_evaluated(a)
            yield from _always_evaluated(xs[0])
        case _:
            for child in ir.children(node):
                yield from _always_evaluated(child)
