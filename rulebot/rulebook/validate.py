"""Validate rulebook files: the library function behind `rulebot validate`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rulebot.rulebook.compiled import CompiledRulebook
from rulebot.rulebook.compiler import KnownSymbols, compile_bytes, compile_file
from rulebot.rulebook.errors import Diagnostic, RulebookError
from rulebot.rulebook.load import read_source


@dataclass(frozen=True, slots=True)
class ValidationResult:
    file: str
    text: str | None
    compiled: CompiledRulebook | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        return self.compiled is not None


def validate_file(
    path: str, overrides: Mapping[str, str] | None = None, known_symbols: KnownSymbols | None = None
) -> ValidationResult:
    """Compile one file; never raises for a bad rulebook (the diagnostics say what is wrong)."""
    text = read_source(path)
    try:
        book = compile_file(path, overrides, known_symbols)
    except RulebookError as exc:
        return ValidationResult(path, text, None, tuple(exc.diagnostics))
    return ValidationResult(path, text, book, book.warnings)


def validate_bytes(
    raw: bytes, name: str, overrides: Mapping[str, str] | None = None, known_symbols: KnownSymbols | None = None
) -> ValidationResult:
    """Compile a rulebook read as bytes (`rulebot validate -` reads stdin), named `name` in messages."""
    text = raw.decode("utf-8", errors="replace")
    try:
        book = compile_bytes(raw, name, overrides, known_symbols)
    except RulebookError as exc:
        return ValidationResult(name, text, None, tuple(exc.diagnostics))
    return ValidationResult(name, text, book, book.warnings)
