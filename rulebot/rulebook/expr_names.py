"""Name resolution for the expression checker: scope names, series, dotted names, hints.

Turns a Name or dotted Attribute into the checked form, or into an issue that says what
the user probably meant ("did you mean 'ema_fast'? (indicators: ema_fast, ema_slow, atr)").
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from difflib import get_close_matches

from rulebot.rulebook import expr_ir as ir
from rulebot.rulebook.errors import ExprIssue
from rulebot.rulebook.expr_functions import FUNCTIONS
from rulebot.rulebook.expr_parse import ParsedExpr
from rulebot.rulebook.expr_types import ExprType
from rulebot.rulebook.scope import SERIES_FIELDS, NameKind, Scope

Checked = tuple[ir.Node | None, ExprType | None]  # (None, None): already reported

_HINT_LIMIT = 10


def did_you_mean(word: str, candidates: Sequence[str]) -> str | None:
    close = get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return close[0] if close else None


def listing(label: str, items: Sequence[str]) -> str:
    shown = ", ".join(items[:_HINT_LIMIT]) + (", …" if len(items) > _HINT_LIMIT else "")
    return f"({label}: {shown or 'none'})"


def with_guess(guess: str | None, rest: str) -> str:
    return f"did you mean '{guess}'? {rest}" if guess else rest


class Issues:
    """Collects the issues of one expression, placed in its original text."""

    def __init__(self, parsed: ParsedExpr) -> None:
        self.p = parsed
        self.found: list[ExprIssue] = []

    def add(self, node: ast.AST | tuple[int, int], message: str, hint: str | None = None, code: str = "") -> None:
        offset, length = node if isinstance(node, tuple) else self.p.span(node)
        self.found.append(ExprIssue(message, offset, max(length, 1), hint, code))


class NameResolver:
    """Resolves names against the scope; reports every name it cannot resolve."""

    def __init__(self, parsed: ParsedExpr, scope: Scope, issues: Issues) -> None:
        self.p = parsed
        self.scope = scope
        self.issue = issues.add

    def name(self, node: ast.AST) -> Checked:
        assert isinstance(node, ast.Name)
        series = self.p.lexed.series.get(node.id)
        if series is not None:
            return self.series(node, series)
        return self.resolve(node, node.id)

    def attribute(self, node: ast.AST) -> Checked:
        assert isinstance(node, ast.Attribute)
        if node.attr.startswith("_"):
            self.issue(
                self.p.attr_span(node),
                f"attribute '{node.attr}' is not allowed",
                "names starting with _ reach Python internals",
                "dunder",
            )
            return None, None
        flat = self.p.flat_name(node)
        if flat is None:
            self.issue(
                node,
                f"'.{node.attr}' can only follow a name",
                "dotted names are position.side, position.size and indicator outputs like macd.line",
                "not-allowed",
            )
            return None, None
        return self.resolve(node, flat)

    def series(self, node: ast.AST, flat: str) -> Checked:
        base, tf = flat.split("@", 1)
        info = self.scope.get(flat)
        if info is not None:
            return ir.Ref(flat, info.has_prev), info.type
        offset, length = self.p.span(node)
        if base not in SERIES_FIELDS:
            close = did_you_mean(base, SERIES_FIELDS)
            msg = (
                f"unknown candle field '{base}'"
                if close or self.scope.get(base) is None
                else f"'{base}' has no timeframe: only candle fields are written NAME@TF"
            )
            self.issue(
                (offset, len(base)),
                msg,
                with_guess(close, listing("fields", SERIES_FIELDS)),
                "unknown-name",
            )
        else:
            declared = ", ".join(self.scope.timeframes) or "none"
            self.issue(
                (offset + len(base) + 1, length - len(base) - 1),
                f"timeframe '{tf}' is not declared (declared: {declared})",
                f"add {tf} to timeframes:, or use one of: {declared}",
                "undeclared-timeframe",
            )
        return None, None

    def resolve(self, node: ast.AST, flat: str) -> Checked:
        info = self.scope.get(flat)
        if info is not None:
            if info.kind is NameKind.PARAM:
                assert info.value is not None
                return ir.Param(flat, info.value), info.type
            return ir.Ref(flat, info.has_prev), info.type
        self.unknown(node, flat)
        return None, None

    def unknown(self, node: ast.AST, flat: str) -> None:
        scope = self.scope
        root, _, attr = flat.partition(".")
        outputs = scope.indicators.get(root)
        if not attr and outputs:
            self.issue(
                node,
                f"indicator '{flat}' has several outputs; name one",
                listing("outputs", [f"{flat}.{o}" for o in outputs]),
                "unknown-name",
            )
        elif not attr and flat in SERIES_FIELDS:
            tfs = scope.timeframes
            self.issue(
                node,
                f"'{flat}' needs a timeframe, e.g. {flat}@{tfs[0] if tfs else '15m'}",
                listing("declared timeframes", tfs),
                "unknown-name",
            )
        elif not attr and flat in FUNCTIONS:
            self.issue(
                node,
                f"'{flat}' is a function; call it like {FUNCTIONS[flat].signature}",
                None,
                "unknown-name",
            )
        elif attr and outputs is not None:
            choices = [f"{root}.{o}" for o in outputs]
            self.issue(
                node,
                f"indicator '{root}' has no output '{attr}'",
                with_guess(did_you_mean(flat, choices), listing("outputs", choices)),
                "unknown-name",
            )
        elif root == "position":
            choices = list(scope.of_kind(NameKind.POSITION))
            self.issue(
                node,
                f"unknown position value '{flat}'",
                with_guess(did_you_mean(flat, choices), listing("position", choices)),
                "unknown-name",
            )
        elif attr and scope.get(root) is not None:
            info = scope.get(root)
            assert info is not None
            self.issue(
                node,
                f"'{root}' is {info.type.words} and has no '.{attr}'",
                "dotted names are position.* and outputs of multi-output indicators",
                "unknown-name",
            )
        else:
            self.issue(node, f"unknown name '{flat}'", self.name_hint(flat), "unknown-name")

    def name_hint(self, flat: str) -> str:
        candidates = [n for n, i in self.scope.names.items() if i.kind is not NameKind.SERIES]
        guess = did_you_mean(flat, [*candidates, "position", *self.scope.indicators])
        if guess is None:
            return (
                listing("params", self.scope.of_kind(NameKind.PARAM))
                + " "
                + listing("indicators", self.scope.of_kind(NameKind.INDICATOR))
            )
        info = self.scope.get(guess)
        kind = info.kind if info is not None else NameKind.INDICATOR
        return with_guess(guess, listing(kind.value, self.scope.of_kind(kind)))
