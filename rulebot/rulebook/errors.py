"""Diagnostics: what the loader, expression checker and compiler report, with exact places.

Every problem found in a rulebook becomes a `Diagnostic` pointing at file, line and column,
so that a terminal shows it like a compiler error and an editor can jump to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class SourceSpan:
    """A place in a source file: 1-based line and column, and how many characters it covers."""

    file: str
    line: int
    column: int
    length: int = 1


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem: what is wrong, where, and what would be right."""

    severity: Severity
    message: str
    span: SourceSpan | None = None
    hint: str | None = None  # e.g. "did you mean 'ema_fast'? (indicators: ema_fast, ema_slow)"
    code: str = ""  # stable short id for tests and JSON output, e.g. "unknown-name"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


@dataclass(frozen=True, slots=True)
class ExprIssue:
    """A problem inside one expression string, placed relative to that string.

    `offset` is 0-based into the expression text as the user wrote it (before any rewriting
    of `1.5%`, `15m` or `close@15m`); the compiler maps it to a file position.
    """

    message: str
    offset: int
    length: int = 1
    hint: str | None = None
    code: str = ""
    severity: Severity = "error"


class ExprError(Exception):
    """Raised when an expression does not parse or does not check; carries every issue found."""

    def __init__(self, issues: list[ExprIssue]):
        self.issues = issues
        super().__init__("; ".join(i.message for i in issues))


@dataclass
class RulebookError(Exception):
    """Raised when a rulebook cannot be compiled; carries all diagnostics (errors and warnings)."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    # The rulebook file, when one was compiled: a `--set` error has no place in it to name it.
    file: str | None = None

    def __post_init__(self) -> None:
        # Report in reading order, whatever stage found each problem.
        self.diagnostics = sorted(
            self.diagnostics,
            key=lambda d: (
                d.span is None,
                d.span.file if d.span else "",
                d.span.line if d.span else 0,
                d.span.column if d.span else 0,
            ),
        )
        Exception.__init__(self, self.summary())

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    def summary(self) -> str:
        n = len(self.errors)
        return f"{n} error{'s' if n != 1 else ''} in rulebook"
