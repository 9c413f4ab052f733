"""Collects a compilation's diagnostics and places them in the source file."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rulebot.rulebook.errors import Diagnostic, ExprError, ExprIssue, Severity, SourceSpan
from rulebot.rulebook.expr import CompiledExpr, ExprType, compile_expr
from rulebot.rulebook.scope import Scope
from rulebot.rulebook.source_map import Path_, SourceMap


class CompileContext:
    """Collects diagnostics and knows how to place them."""

    def __init__(self, source: SourceMap):
        self.source = source
        self.diagnostics: list[Diagnostic] = []

    def error(self, message: str, path: Path_, hint: str | None = None, code: str = "", key: bool = False) -> None:
        self.diagnostics.append(Diagnostic("error", message, self.source.span(path, key=key), hint, code))

    def warn(self, message: str, path: Path_, hint: str | None = None, code: str = "", key: bool = False) -> None:
        self.diagnostics.append(Diagnostic("warning", message, self.source.span(path, key=key), hint, code))

    def at(self, severity: Severity, message: str, span: SourceSpan | None, hint: str | None, code: str) -> None:
        self.diagnostics.append(Diagnostic(severity, message, span, hint, code))

    @property
    def failed(self) -> bool:
        return any(d.is_error for d in self.diagnostics)

    def expr(self, value: Any, path: Path_, scope: Scope, expected: ExprType) -> CompiledExpr | None:
        """Compile one expression found at `path`; its issues become located diagnostics."""
        text = value if isinstance(value, str) else _number_text(value)
        try:
            compiled = compile_expr(text, scope, expected)
        except ExprError as exc:
            self.place(exc.issues, path, text)
            return None
        self.place(compiled.warnings, path, text)
        return compiled

    def place(self, issues: Iterable[ExprIssue], path: Path_, text: str) -> None:
        """Report the issues of the expression `text` found at `path`, each at its own place in it."""
        for issue in issues:
            span = self.source.span_in_value(path, text, issue.offset, issue.length)
            self.at(issue.severity, issue.message, span, issue.hint, issue.code or "expression")


def _number_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)
