"""Diagnostics as text a person reads in a terminal and an editor can jump to.

rules/ema.yaml:23:15: error: unknown name 'ema_fsat'
   23 |     when: crossover(ema_fsat, ema_slow)
      |                     ^^^^^^^^
   did you mean 'ema_fast'? (indicators: ema_fast, ema_slow, atr)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rulebot.rulebook.errors import Diagnostic


def format_diagnostic(d: Diagnostic, sources: Mapping[str, str]) -> str:
    message, hint = _escaped(d.message), _escaped(d.hint) if d.hint else None
    if d.span is None:
        return f"{d.severity}: {message}" + (f"\n   {hint}" if hint else "")
    s = d.span
    lines = [f"{s.file}:{s.line}:{s.column}: {d.severity}: {message}"]
    text = sources.get(s.file)
    if text is not None:
        src_lines = text.splitlines()
        if 0 < s.line <= len(src_lines):
            line, column = _visible(src_lines[s.line - 1].expandtabs(1), s.column)
            gutter = f"{s.line:>5} | "
            lines.append(gutter + line)
            width = max(1, min(s.length, len(line) - column + 1)) if len(line) >= column else 1
            lines.append(" " * (len(gutter) - 2) + "| " + " " * (column - 1) + "^" * width)
    if hint:
        lines.append(f"   {hint}")
    return "\n".join(lines)


_QUOTE_WIDTH = 160
# Control characters quoted raw would reach the terminal: a NUL, or an escape sequence that a
# hostile file uses to rewrite the screen. Each shows as one replacement character, so the
# caret stays under its column. C1 controls too: U+009B is an escape (CSI) of its own.
_CONTROLS = {c: "\ufffd" for c in (*range(0x20), *range(0x7F, 0xA0)) if c != 0x09}
# A message or hint quotes a value from the file (an action's name from a quoted YAML string can
# hold "\e[2J"): written as its escape, as repr() writes it, since no caret points into it.
_ESCAPES = {c: f"\\x{c:02x}" for c in _CONTROLS}


def _escaped(text: str) -> str:
    return text.translate(_ESCAPES)


def _visible(line: str, column: int) -> tuple[str, int]:
    """The quoted line made safe to print, cut to a window around `column` if it is long."""
    line = line.translate(_CONTROLS)
    if len(line) <= _QUOTE_WIDTH:
        return line, column
    start = max(0, min(column - 1 - _QUOTE_WIDTH // 2, len(line) - _QUOTE_WIDTH))
    window = line[start : start + _QUOTE_WIDTH]
    head = "…" if start else ""
    tail = "…" if start + _QUOTE_WIDTH < len(line) else ""
    return head + window + tail, column - start + len(head)


def format_diagnostics(diags: Iterable[Diagnostic], sources: Mapping[str, str]) -> str:
    return "\n\n".join(format_diagnostic(d, sources) for d in diags)


def diagnostic_json(d: Diagnostic) -> dict[str, Any]:
    out: dict[str, Any] = {"severity": d.severity, "code": d.code, "message": d.message, "hint": d.hint}
    if d.span is not None:
        out.update(file=d.span.file, line=d.span.line, column=d.span.column, length=d.span.length)
    return out
