"""Rulebook parameters: their declared type and allowed values, and the check every override passes.

A parameter is written either plainly (`fast: 21`) or declared (`fast: {default: 21, min: 5,
max: 50}` or `mode: {default: a, choices: [a, b]}`). Both compile to a `ParamDecl`; `--set`,
`rulebot sweep` and anything else that gives a parameter a value calls `value_problem`, so a
value outside the declared range or type is refused before any work starts.

The plain form keeps its old, lenient rule (a number for a number, a bool for a bool, text for
text); a declared int accepts whole numbers only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Value = float | int | str | bool
Kind = Literal["int", "float", "str", "bool"]


@dataclass(frozen=True, slots=True)
class ParamDecl:
    name: str
    default: Value
    kind: Kind
    declared: bool = False  # written as {default: ..., min/max/choices}: its type is enforced strictly
    min: float | int | None = None
    max: float | int | None = None
    choices: tuple[Value, ...] | None = None
    description: str | None = None

    def describe(self) -> str:
        """`an int in [5, 50]`, `one of a, b`, or `a float`: for messages and `--help`-like listings."""
        if self.choices is not None:
            return "one of " + ", ".join(_show(c) for c in self.choices)
        lo = "" if self.min is None else _show(self.min)
        hi = "" if self.max is None else _show(self.max)
        return f"{_a(self.kind)} in [{lo or '-inf'}, {hi or 'inf'}]" if lo or hi else _a(self.kind)


def kind_of(value: Value) -> Kind:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "str"


def declaration_problems(
    name: str,
    default: Value,
    lo: float | int | None,
    hi: float | int | None,
    choices: Sequence[Value] | None,
) -> list[tuple[str, str]]:
    """What is wrong with a declared parameter, as (key, message) pairs; empty if nothing."""
    kind = kind_of(default)
    problems: list[tuple[str, str]] = []
    numeric = kind in ("int", "float")
    for key, bound in (("min", lo), ("max", hi)):
        if bound is None:
            continue
        if not numeric:
            problems.append((key, f"parameter '{name}' is {_a(kind)}: {key} applies to numbers only"))
        elif isinstance(bound, bool) or (isinstance(bound, float) and not math.isfinite(bound)):
            problems.append((key, f"parameter '{name}': {key} must be a finite number"))
        elif kind == "int" and isinstance(bound, float) and not bound.is_integer():
            problems.append((key, f"parameter '{name}' is an int: its {key} {bound} is not a whole number"))
    if problems:
        return problems
    if lo is not None and hi is not None and lo > hi:
        problems.append(("max", f"parameter '{name}': max {_show(hi)} is below min {_show(lo)}"))
    if choices is not None:
        if not choices:
            problems.append(("choices", f"parameter '{name}': choices is empty"))
        for c in choices:
            if not _same_kind(kind, c, strict=True):
                problems.append(
                    ("choices", f"parameter '{name}': choice {_show(c)} is not {_a(kind)} like the default")
                )
        if choices and default not in choices:
            problems.append(("default", f"parameter '{name}': the default {_show(default)} is not one of its choices"))
    if not problems:
        decl = ParamDecl(name, default, kind, True, lo, hi, tuple(choices) if choices is not None else None)
        problem = value_problem(decl, default)
        if problem:
            problems.append(("default", f"parameter '{name}': the default {problem}"))
    return problems


def type_problem(decl: ParamDecl, value: Value) -> str | None:
    """Why `value` is of the wrong type for this parameter, or None."""
    if not _same_kind(decl.kind, value, strict=decl.declared):
        return f"{_show(value)} is not {_a(decl.kind)} like the rulebook's {_show(decl.default)}"
    return None


def value_problem(decl: ParamDecl, value: Value) -> str | None:
    """Why `value` may not be given to this parameter (type, range, choices), or None if it may."""
    if (problem := type_problem(decl, value)) is not None:
        return problem
    if isinstance(value, float) and not math.isfinite(value):
        return f"{_show(value)} is not a finite number"
    if decl.choices is not None and value not in decl.choices:
        return f"{_show(value)} is not one of {', '.join(_show(c) for c in decl.choices)}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if decl.min is not None and value < decl.min:
            return f"{_show(value)} is below the declared min {_show(decl.min)}"
        if decl.max is not None and value > decl.max:
            return f"{_show(value)} is above the declared max {_show(decl.max)}"
    return None


def coerce(decl: ParamDecl, value: Value) -> Value:
    """A value that passed `value_problem`, in the parameter's own type (a declared int stays int)."""
    if decl.kind == "int" and decl.declared and isinstance(value, float):
        return int(value)
    return value


def _same_kind(kind: Kind, value: Value, *, strict: bool) -> bool:
    got = kind_of(value)
    if kind == "bool" or got == "bool":
        return kind == got
    if kind == "str" or got == "str":
        return kind == got
    if kind == "int" and strict:
        return got == "int" or (isinstance(value, float) and value.is_integer())
    return True  # a number for a number


def _a(kind: Kind) -> str:
    return f"an {kind}" if kind == "int" else f"a {kind}"


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)
