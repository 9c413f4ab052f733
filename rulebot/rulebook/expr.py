"""The expression sandbox: rulebook conditions, sizes and prices → fast, checked functions.

`compile_expr` parses once (expr_lexer, expr_parse), checks every name, function, attribute,
operator and type against the rulebook's scope (expr_check), generates Python source from the
checked form only (expr_ir, expr_codegen) and compiles it once. simpleeval defines what the
language means; `reference_eval` evaluates the same expression with it (expr_reference).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rulebot.rulebook import expr_ir as ir
from rulebot.rulebook.errors import ExprError, ExprIssue
from rulebot.rulebook.expr_check import CheckResult, ZeroDivision, check
from rulebot.rulebook.expr_codegen import PREV_PREFIX, build, generate, generate_nan_test
from rulebot.rulebook.expr_parse import ParsedExpr, parse_expr
from rulebot.rulebook.expr_reference import ReferenceEvaluator
from rulebot.rulebook.expr_types import ExprType
from rulebot.rulebook.scope import Scope

__all__ = [
    "PREV_PREFIX",
    "CompiledExpr",
    "ExprType",
    "ParsedExpr",
    "compile_expr",
    "parse_expr",
    "reference_eval",
]


@dataclass(frozen=True, slots=True)
class CompiledExpr:
    """A checked expression and its compiled function.

    `fn(env)` evaluates it; env maps every name in `names` (params are inlined and need not
    be there) and `"prev:" + name` for every name in `prev_names`.
    """

    text: str  # as the user wrote it
    type: ExprType
    names: frozenset[str]  # every scope name read, flat: "position.side", "close@15m"
    prev_names: frozenset[str]  # names whose previous value crossover/crossunder reads
    python_source: str  # the generated source, for --explain and debugging
    fn: Callable[[Mapping[str, Any]], Any]
    constant: Any | None  # the value, if the expression reads no names (e.g. "2%"); else None
    # The same function, raising ValueError when it evaluates a name that holds NaN: the engine
    # asks it why a condition whose inputs hold a NaN came out as it did.
    nan_checked: Callable[[Mapping[str, Any]], Any] | None = None
    reads_nan: Callable[[Mapping[str, Any]], bool] | None = None  # does any name in `names` hold NaN?
    # The checked form it was compiled from: what an analysis of the condition reads (the fast
    # trade path's screen, backtest/trade_screen.py), never evaluated by the engine.
    node: ir.Node | None = None
    warnings: tuple[ExprIssue, ...] = ()  # what compiles but is surely a slip, placed in `text`


def compile_expr(text: str, scope: Scope, expected: ExprType | None = None) -> CompiledExpr:
    """Check `text` against `scope` and compile it; raise ExprError listing every issue.

    `expected` is the type the caller needs (`when:` → BOOL, sizes and prices → NUM); None
    accepts any type.
    """
    parsed = parse_expr(text)
    result = check(parsed, scope, expected)
    if result.issues or result.node is None or result.type is None:
        raise ExprError(list(result.issues))
    names = ir.names_read(result.node)
    errors, warnings = _zero_division_issues(result)
    if errors:
        raise ExprError(errors)
    source = generate(result.node)
    fn = build(source)
    constant = None
    if not names:
        # Folding here turns "1/0" into a compile error instead of a failure at run time.
        try:
            constant = fn({})
        except (ArithmeticError, ValueError) as exc:
            raise ExprError(
                [ExprIssue(f"this expression always fails: {exc}", 0, len(text), None, "constant-error")]
            ) from None
    checked = build(generate(result.node, nan_checked=True)) if names else None
    reads_nan = build(generate_nan_test(names)) if names else None
    return CompiledExpr(
        text,
        result.type,
        names,
        ir.prev_names(result.node),
        source,
        fn,
        constant,
        checked,
        reads_nan,
        result.node,
        tuple(warnings),
    )


def _zero_division_issues(result: CheckResult) -> tuple[list[ExprIssue], list[ExprIssue]]:
    """Divisions by a zero known at compile time (`0`, a param that is 0, `1 - 1`, `p - q`): an error
    where every evaluation reaches one (`equity / 0` reads a name, so folding the whole expression
    would not catch it), a warning where an and/or/if-else may skip it.

    A skipped literal zero still fails each time its branch runs, which is never what was meant; a
    zero computed from params is left alone there, as `p > 0 and x / p > 1` guards it on purpose."""
    assert result.node is not None
    always = {id(n) for n in _always_evaluated(result.node)}
    present = {id(n) for n in ir.walk(result.node)}
    errors: list[ExprIssue] = []
    warnings: list[ExprIssue] = []
    for z in result.zero_divisions:
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


def reference_eval(text: str, scope: Scope, env: Mapping[str, Any]) -> Any:
    """Evaluate `text` with simpleeval over `env` (same functions, crossover via "prev:" keys).

    The reference the compiled code is tested and benchmarked against; slow, not for the engine.
    """
    return ReferenceEvaluator(text, scope).eval(env)
