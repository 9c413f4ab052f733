"""The expression sandbox: rulebook conditions, sizes and prices → fast, checked functions.

`compile_expr` parses once (expr_lexer, expr_parse), checks every name, function, attribute,
operator and type against the rulebook's scope (expr_check), rejects a division by a zero known
from the rulebook alone (expr_zero), generates Python source from the checked form only (expr_ir,
expr_codegen) and compiles it once. simpleeval defines what the language means; `reference_eval`
evaluates the same expression with it (expr_reference).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rulebot.rulebook import expr_ir as ir
from rulebot.rulebook.errors import ExprError, ExprIssue
from rulebot.rulebook.expr_check import check
from rulebot.rulebook.expr_codegen import PREV_PREFIX, build, generate, generate_nan_test
from rulebot.rulebook.expr_parse import ParsedExpr, parse_expr
from rulebot.rulebook.expr_reference import ReferenceEvaluator
from rulebot.rulebook.expr_types import ExprType
from rulebot.rulebook.expr_zero import zero_division_issues
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
    errors, warnings = zero_division_issues(result.node, result.zero_divisions)
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
        (*result.warnings, *warnings),
    )


def reference_eval(text: str, scope: Scope, env: Mapping[str, Any]) -> Any:
    """Evaluate `text` with simpleeval over `env` (same functions, crossover via "prev:" keys).

    The reference the compiled code is tested and benchmarked against; slow, not for the engine.
    """
    return ReferenceEvaluator(text, scope).eval(env)
