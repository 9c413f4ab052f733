"""Pre-lexer: rulebook expression text → Python source, with a map back to the original.

Rulebook text is almost Python. The differences are rewritten here, token by token, so that
`ast.parse` can do the rest: `1.5%` → `0.015`, `15m` → `900` (seconds), `close@15m` → a
reserved identifier, `true`/`false` → `True`/`False`, newlines → spaces. Everything else is
copied verbatim; the checker decides what is allowed. Written with `re` rather than
`tokenize`, whose handling of `15m` differs between Python versions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Literal

from rulebot.rulebook.errors import ExprError, ExprIssue

MAX_LENGTH = 1000
MAX_NESTING = 32

LiteralKind = Literal["percent", "duration", "bool"]

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

_WS = re.compile(r"\s+")
_NUMBER = re.compile(r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_SUFFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TIMEFRAME = re.compile(r"@([A-Za-z0-9]+)")
_STRING = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")
_OPERATOR_CHARS = frozenset("+-*/%<>=!()[]{},:.~&|^@")
_OPERAND_START = re.compile(r"[A-Za-z0-9_(.]")
# Words that cannot start an operand, so `2% and x` is a percentage, not `2 % and`.
_NOT_OPERANDS = re.compile(r"(?:and|or|if|else|in|is|for)(?![A-Za-z0-9_])")
_BOOLS = {"true": "True", "false": "False"}


@dataclass(frozen=True, slots=True)
class Lexed:
    """The rewritten source and how to find the original text of any part of it.

    `starts[i]` is the original offset of the token holding rewritten character i, and
    `ends[j]` the original end offset for a rewritten end position j; a rewritten literal
    maps as a whole onto the text the user wrote.
    """

    text: str
    source: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    series: Mapping[str, str]  # reserved identifier → "close@15m"
    literals: Mapping[int, LiteralKind]  # rewritten start offset → what the literal was

    def original(self, start: int, end: int) -> tuple[int, int]:
        """(offset, length) in the original text of the rewritten range [start, end)."""
        start = min(max(start, 0), len(self.source))
        end = min(max(end, start), len(self.source))
        o_start = self.starts[start]
        o_end = self.ends[end] if end > start else o_start
        return o_start, max(o_end - o_start, 0)


class _Writer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.parts: list[str] = []
        self.starts: list[int] = []
        self.ends: list[int] = [0]
        self.series: dict[str, str] = {}
        self.literals: dict[int, LiteralKind] = {}
        self.issues: list[ExprIssue] = []

    @property
    def pos(self) -> int:
        return len(self.starts)

    def copy(self, start: int, end: int) -> None:
        self.parts.append(self.text[start:end])
        self.starts.extend(range(start, end))
        self.ends.extend(range(start + 1, end + 1))

    def blank(self, start: int, end: int) -> None:
        self.parts.append(" " * (end - start))
        self.starts.extend(range(start, end))
        self.ends.extend(range(start + 1, end + 1))

    def replace(self, start: int, end: int, new: str, kind: LiteralKind | None = None) -> None:
        if kind is not None:
            self.literals[self.pos] = kind
        self.parts.append(new)
        self.starts.extend([start] * len(new))
        self.ends.extend([end] * len(new))

    def issue(self, message: str, offset: int, length: int, hint: str | None, code: str) -> None:
        self.issues.append(ExprIssue(message, offset, max(length, 1), hint, code))


def lex(text: str) -> Lexed:
    """Rewrite `text` into Python source; raise ExprError listing every lexical problem."""
    if len(text) > MAX_LENGTH:
        raise ExprError(
            [
                ExprIssue(
                    f"expression is {len(text)} characters long; the limit is {MAX_LENGTH}",
                    0,
                    len(text),
                    "give parts of it their own names (params or indicators)",
                    "too-long",
                )
            ]
        )
    w = _Writer(text)
    depth = 0
    deep_reported = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if m := _WS.match(text, i):
            # Newlines become spaces: a YAML block scalar may wrap a long condition, and eval
            # mode would reject a line break outside parentheses.
            w.blank(i, m.end())
            i = m.end()
        elif m := _STRING.match(text, i):
            w.copy(i, m.end())
            i = m.end()
        elif ch in "'\"":
            w.issue("this string is never closed", i, n - i, f"end it with {ch}", "syntax")
            break
        elif m := _NUMBER.match(text, i):
            i = _number(w, m)
        elif m := _IDENT.match(text, i):
            i = _identifier(w, m)
        elif ch in _OPERATOR_CHARS:
            if ch in "([{":
                depth += 1
                if depth > MAX_NESTING and not deep_reported:
                    deep_reported = True
                    w.issue(
                        f"parentheses are nested more than {MAX_NESTING} deep",
                        i,
                        1,
                        "split the expression: give inner parts their own names",
                        "too-deep",
                    )
            elif ch in ")]}":
                depth -= 1
            w.copy(i, i + 1)
            i += 1
        elif ch == "#":
            w.issue(
                "comments are not allowed inside an expression",
                i,
                n - i,
                "put the comment on its own YAML line",
                "syntax",
            )
            break
        else:
            w.issue(f"unexpected character {ch!r}", i, 1, None, "syntax")
            w.replace(i, i + 1, " ")
            i += 1
    if w.issues:
        raise ExprError(w.issues)
    return Lexed(
        text,
        "".join(w.parts),
        (*w.starts, n),
        tuple(w.ends),
        MappingProxyType(w.series),
        MappingProxyType(w.literals),
    )


def _number(w: _Writer, m: re.Match[str]) -> int:
    text, start, end = w.text, m.start(), m.end()
    digits = m.group()
    suffix = _SUFFIX.match(text, end)
    if suffix:
        unit, stop = suffix.group(), suffix.end()
        if unit in DURATION_UNITS and digits.isdigit():
            w.replace(start, stop, str(int(digits) * DURATION_UNITS[unit]), "duration")
        elif unit in DURATION_UNITS and all(c.isdigit() or c == "." for c in digits):
            w.issue(
                f"duration '{text[start:stop]}' must be a whole number of {unit}",
                start,
                stop - start,
                "use a smaller unit, e.g. 90m instead of 1.5h",
                "literal",
            )
        else:
            w.issue(
                f"'{text[start:stop]}' is not a number or a duration",
                start,
                stop - start,
                "durations are like 30s, 15m, 2h, 1d, 1w; percentages like 1.5%",
                "literal",
            )
        return stop
    if end < len(text) and text[end] == "%":
        after = _WS.match(text, end + 1)
        nxt = after.end() if after else end + 1
        operand = _OPERAND_START.match(text, nxt) and not _NOT_OPERANDS.match(text, nxt)
        if not operand:
            value = float(Decimal(digits) / 100)
            if value != value or value in (float("inf"), float("-inf")):
                w.issue(
                    f"percentage '{text[start : end + 1]}' is too large",
                    start,
                    end + 1 - start,
                    None,
                    "literal",
                )
            w.replace(start, end + 1, repr(value), "percent")
            return end + 1
    w.copy(start, end)
    return end


def _identifier(w: _Writer, m: re.Match[str]) -> int:
    text, start, end = w.text, m.start(), m.end()
    word = m.group()
    if "__" in word:
        w.issue(
            f"'{word}': names with double underscores are not allowed",
            start,
            end - start,
            "double-underscore (dunder) names reach Python internals; rename it",
            "dunder",
        )
        w.replace(start, end, "_")
        return end
    tf = _TIMEFRAME.match(text, end)
    if tf:
        # A reserved identifier: users cannot write `__` (see above), so it cannot collide.
        ident = f"__s{len(w.series)}__"
        w.series[ident] = text[start : tf.end()]
        w.replace(start, tf.end(), ident)
        return tf.end()
    if word in _BOOLS:
        w.replace(start, end, _BOOLS[word], "bool")
        return end
    w.copy(start, end)
    return end
