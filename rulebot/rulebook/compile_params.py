"""The `params:` section and `--set` overrides: each parameter's declaration checked, the overrides
parsed and held to it; and no parameter or indicator named like a built-in value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from rulebot.rulebook import model as m
from rulebot.rulebook.context import CompileContext
from rulebot.rulebook.diagnose import did_you_mean
from rulebot.rulebook.errors import Diagnostic
from rulebot.rulebook.params import (
    ParamDecl,
    coerce,
    declaration_problems,
    kind_of,
    type_problem,
    value_problem,
)
from rulebot.rulebook.scope import Scope


def _parse_override(raw: str) -> float | int | str | bool:
    low = raw.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)
    except ValueError:
        return raw


def compile_params(
    book: m.Rulebook, overrides: Mapping[str, str], ctx: CompileContext
) -> tuple[dict[str, float | int | str | bool], dict[str, ParamDecl]]:
    decls: dict[str, ParamDecl] = {}
    for name, raw in book.params.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            ctx.error(
                f"parameter name '{name}' is not an identifier",
                ("params", name),
                "use letters, digits and '_', starting with a letter",
                "param-name",
                key=True,
            )
        if isinstance(raw, m.ParamSpec):
            problems = declaration_problems(name, raw.default, raw.min, raw.max, raw.choices)
            for key, message in problems:
                ctx.error(message, ("params", name, key), None, "param-declaration")
            choices = tuple(raw.choices) if raw.choices is not None else None
            decls[name] = ParamDecl(
                name, raw.default, kind_of(raw.default), True, raw.min, raw.max, choices, raw.description
            )
        else:
            decls[name] = ParamDecl(name, raw, kind_of(raw))
    params: dict[str, float | int | str | bool] = {name: d.default for name, d in decls.items()}
    for name, raw_text in overrides.items():
        if name not in params:
            hint = did_you_mean(name, list(params))
            ctx.diagnostics.append(
                Diagnostic(
                    "error",
                    f"--set {name}: the rulebook has no parameter '{name}'",
                    None,
                    (hint + " " if hint else "") + f"(params: {', '.join(params) or 'none'})",
                    "unknown-param",
                )
            )
            continue
        # A text parameter takes the text as given: `--set tag=10` is the text "10", not a number
        # the declaration would then refuse.
        value = raw_text if decls[name].kind == "str" else _parse_override(raw_text)
        problem = value_problem(decls[name], value)
        if problem:
            ctx.diagnostics.append(
                Diagnostic(
                    "error",
                    f"--set {name}={raw_text}: {problem}",
                    None,
                    f"'{name}' is {decls[name].describe()}",
                    "param-type" if type_problem(decls[name], value) else "param-range",
                )
            )
            continue
        params[name] = coerce(decls[name], value)
    return params, decls


def check_shadowing(book: m.Rulebook, scope: Scope, ctx: CompileContext) -> None:
    builtins = scope.builtin_names()
    for name in book.params:
        if name in builtins:
            ctx.error(
                f"parameter '{name}' has the name of a built-in value",
                ("params", name),
                "rename it: conditions could not tell the two apart",
                "shadowing",
                key=True,
            )
    for name in book.indicators:
        if name in builtins:
            ctx.error(
                f"indicator '{name}' has the name of a built-in value",
                ("indicators", name),
                "rename it: conditions could not tell the two apart",
                "shadowing",
                key=True,
            )
        if name in book.params:
            ctx.error(
                f"'{name}' is both a parameter and an indicator", ("indicators", name), None, "shadowing", key=True
            )
