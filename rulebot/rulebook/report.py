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
    if d.span is None:
        return f"{d.severity}: {d.message}" + (f"\n   {d.hint}" if d.hint else "")
    s = d.span
    lines = [f"{s.file}:{s.line}:{s.column}: {d.severity}: {d.message}"]
    text = sources.get(s.file)
    if text is not None:
        src_lines = text.splitlines()
        if 0 < s.line <= len(src_lines):
            line = src_lines[s.line - 1].expandtabs(1)
            gutter = f"{s.line:>5} | "
            lines.append(gutter + line)
            width = max(1, min(s.length, len(line) - s.column + 1)) if len(line) >= s.column else 1
            lines.append(" " * (len(gutter) - 2) + "| " + " " * (s.column - 1) + "^" * width)
    if d.hint:
        lines.append(f"   {d.hint}")
    return "\n".join(lines)


def format_diagnostics(diags: Iterable[Diagnostic], sources: Mapping[str, str]) -> str:
    return "\n\n".join(format_diagnostic(d, sources) for d in diags)


def diagnostic_json(d: Diagnostic) -> dict[str, Any]:
    out: dict[str, Any] = {"severity": d.severity, "code": d.code, "message": d.message, "hint": d.hint}
    if d.span is not None:
        out.update(file=d.span.file, line=d.span.line, column=d.span.column, length=d.span.length)
    return out
