"""Divisions by a zero known from the rulebook alone: found while checking (expr_check), judged
once the whole expression is known (expr): an error where every evaluation reaches one, a
warning where an and/or/if-else may skip it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from rulebot.rulebook import expr_ir as ir
from rulebot.rulebook.errors import ExprIssue
from rulebot.rulebook.expr_codegen import build, generate
from rulebot.rulebook.params import ParamDecl


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
    # Some other values of its params make it non-zero (`p - q`, `p`), so a guard may skip it on
    # purpose; `p - p` or `p * 0` is 0 whatever the params are, and no guard can help it.
    guardable: bool


def zero_division(
    node: ir.Binary, offset: int, length: int, divisor: str, decl_of: Callable[[str], ParamDecl]
) -> ZeroDivision | None:
    """`node`, found at (offset, length) with its divisor written as `divisor`, if it divides by a
    zero known at compile time; else None. `decl_of` says which values each param may take."""
    if node.op not in ("/", "//", "%") or not _folds_to_zero(node.right):
        return None
    written = node.right
    while isinstance(written, ir.Unary) and written.op in ("-", "+"):
        written = written.operand
    params = {n.name: n.value for n in ir.walk(node.right) if isinstance(n, ir.Param)}
    return ZeroDivision(
        node,
        offset,
        length,
        divisor,
        tuple(sorted(params.items())),
        not isinstance(written, ir.Const | ir.Param),
        bool(params) and not _zero_whatever_the_params(node.right, {name: decl_of(name) for name in params}),
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


# Other values to try the params at, each one `--set` or a sweep could give it (params.py): a
# declared range's ends, each choice, true and false, the texts the divisor compares with and one it
# does not; then numbers of both signs (`abs(p) - p` is 0 for p >= 0 only) and sizes from 0.001 to
# 1e9 (`round(p)` is 0 for small p, `max(p - 1000, 0)` for p up to 1000), each param its own (`p - q`
# must not see p == q), kept in the declared range. A plain number takes any number (`p: 3` accepts
# `--set p=2.5`), a declared int whole ones only. Seeded, so a rulebook gets the same answer on
# every run.
_PROBES = 16
_OTHER_TEXT = "\x00"  # no rulebook compares with it


def _probe_values(node: ir.Node, decls: Mapping[str, ParamDecl]) -> Iterator[dict[str, ir.Value]]:
    rng = random.Random(0)
    texts = sorted({n.value for n in ir.walk(node) if isinstance(n, ir.Const) and isinstance(n.value, str)})
    fixed = {name: _fixed_values(decl, texts) for name, decl in decls.items()}
    for probe in range(max([_PROBES, *(len(values) for values in fixed.values())])):
        values: dict[str, ir.Value] = {}
        for name, decl in sorted(decls.items()):
            if probe < len(fixed[name]):
                values[name] = fixed[name][probe]
            elif decl.choices is not None or decl.kind in ("bool", "str"):
                values[name] = rng.choice(fixed[name])
            else:
                values[name] = _random_number(rng, decl)
        yield values


def _fixed_values(decl: ParamDecl, texts: Sequence[str]) -> list[ir.Value]:
    if decl.choices is not None:
        return list(decl.choices)
    if decl.kind == "bool":
        return [False, True]
    if decl.kind == "str":
        return [*texts, _OTHER_TEXT]
    return [bound for bound in (decl.min, decl.max) if bound is not None]


def _random_number(rng: random.Random, decl: ParamDecl) -> ir.Value:
    magnitude = 10 ** rng.uniform(-3, 9)
    value = rng.choice((-1, 1)) * magnitude
    lo, hi = decl.min, decl.max
    if lo is not None and hi is not None and not lo <= value <= hi:
        value = lo + (hi - lo) * rng.random()
    elif lo is not None and value < lo:
        value = lo + magnitude
    elif hi is not None and value > hi:
        value = hi - magnitude
    if decl.kind != "int" or not decl.declared:
        # A multiple of a power of two (1/1024, finer for a narrow range), so that sums of a few
        # probes are exact, as whole numbers' are (`p - q + r - r - p + q` must fold to 0 here as
        # well), yet rarely whole, whatever its size (`f - round(f)` must see 2000.5 too).
        step = 1 / 1024
        if lo is not None and hi is not None and hi > lo:
            step = min(step, 2.0 ** (math.floor(math.log2(hi - lo)) - 10))
        value = round(value / step) * step
        return min(max(value, -math.inf if lo is None else lo), math.inf if hi is None else hi)
    whole = round(value)
    if lo is not None:
        whole = max(whole, math.ceil(lo))
    if hi is not None:
        whole = min(whole, math.floor(hi))
    return whole


def _zero_whatever_the_params(node: ir.Node, decls: Mapping[str, ParamDecl]) -> bool:
    """Does `node`, 0 with the params as written, stay 0 at every other value they may take? A
    probe that fails to fold (`1 / (p - 1)` at p = 1) counts as non-zero, so a doubt never warns."""
    return all(_folds_to_zero(_with_params(node, values)) for values in _probe_values(node, decls))


def _with_params(node: ir.Node, values: Mapping[str, ir.Value]) -> ir.Node:
    """`node` with its params at `values` instead of the rulebook's."""
    match node:
        case ir.Param(name=name):
            return replace(node, value=values.get(name, node.value))
        case ir.Const() | ir.Ref():
            return node
        case ir.Unary(operand=x):
            return replace(node, operand=_with_params(x, values))
        case ir.Binary(left=a, right=b):
            return replace(node, left=_with_params(a, values), right=_with_params(b, values))
        case ir.Power(base=x):
            return replace(node, base=_with_params(x, values))
        case ir.BoolOp(values=xs):
            return replace(node, values=tuple(_with_params(x, values) for x in xs))
        case ir.Call(args=xs):
            return replace(node, args=tuple(_with_params(x, values) for x in xs))
        case ir.Compare(left=a, comparators=xs):
            return replace(node, left=_with_params(a, values), comparators=tuple(_with_params(x, values) for x in xs))
        case ir.IfExp(test=t, body=b, orelse=o):
            return replace(
                node, test=_with_params(t, values), body=_with_params(b, values), orelse=_with_params(o, values)
            )
        case ir.Cross(a=a, b=b):
            return replace(node, a=_with_params(a, values), b=_with_params(b, values))


def zero_division_issues(
    root: ir.Node, zero_divisions: Sequence[ZeroDivision]
) -> tuple[list[ExprIssue], list[ExprIssue]]:
    """Divisions by a zero known at compile time (`0`, a param that is 0, `1 - 1`, `p - q`): an error
    where every evaluation of `root` reaches one (`equity / 0` reads a name, so folding the whole
    expression would not catch it), a warning where an and/or/if-else may skip it.

    A skipped literal zero still fails each time its branch runs, which is never what was meant; so
    does a zero that no param value can change (`p - p`). A zero that other param values would
    make non-zero is left alone there, as `p > 0 and x / p > 1` guards it on purpose."""
    always = {id(n) for n in _always_evaluated(root)}
    present = {id(n) for n in ir.walk(root)}
    guards: dict[int, frozenset[str]] = {}
    _guard_params(root, frozenset(), guards)
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
        elif id(z.node) in present and not (z.guardable and guards[id(z.node)] & {n for n, _ in z.params}):
            # Skippable, and nothing deciding whether it runs reads its params: with the rulebook's
            # values it fails each time it runs (`price < 1 or price / q > 1`, q: 0).
            hint = _skipped_hint(z) if not z.guardable else _unguarded_hint(z)
            warnings.append(
                ExprIssue(
                    "division by zero: this part fails whenever it is evaluated",
                    z.offset,
                    z.length,
                    f"what comes before it may decide without it, but each time it runs the expression fails at run "
                    f"time; {hint}",
                    "division-by-zero",
                    "warning",
                )
            )
    return errors, warnings


def _guard_params(node: ir.Node, guard: frozenset[str], out: dict[int, frozenset[str]]) -> None:
    """For each part of `node`, the params read by what decides whether it runs: the operands of
    and/or before it, an if-else's test, a chain's earlier comparisons (`guard` from above)."""
    out[id(node)] = guard
    match node:
        case ir.BoolOp(values=xs):
            for x in xs:
                _guard_params(x, guard, out)
                guard = guard | _params_of(x)
        case ir.IfExp(test=t, body=b, orelse=o):
            _guard_params(t, guard, out)
            inner = guard | _params_of(t)
            _guard_params(b, inner, out)
            _guard_params(o, inner, out)
        case ir.Compare(left=a, comparators=xs):
            _guard_params(a, guard, out)
            _guard_params(xs[0], guard, out)
            guard = guard | _params_of(a) | _params_of(xs[0])
            for x in xs[1:]:
                _guard_params(x, guard, out)
                guard = guard | _params_of(x)
        case _:
            for child in ir.children(node):
                _guard_params(child, guard, out)


def _params_of(node: ir.Node) -> frozenset[str]:
    return frozenset(n.name for n in ir.walk(node) if isinstance(n, ir.Param))


def _unguarded_hint(z: ZeroDivision) -> str:
    values = ", ".join(f"{name}: {_yaml_value(value)}" for name, value in z.params)
    names = ", ".join(name for name, _ in z.params)
    return (
        f"'{z.divisor}' is 0 with {values}, and what decides whether it runs does not read {names}; give "
        f"{names} another value, or guard the division ('{z.divisor} != 0 and ...')"
    )


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


def _skipped_hint(z: ZeroDivision) -> str:
    """What to change in a part that may be skipped: a param zero there is one no value can change,
    so it says so rather than listing the values, which would read as 'change them'."""
    if not z.params:
        return "divide by something other than 0"
    names = ", ".join(name for name, _ in z.params)
    value = "value" if len(z.params) == 1 else "values"
    return f"'{z.divisor}' is 0 at every {value} of {names} tried; divide by something other than 0"


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
