"""Where every key and value of a loaded rulebook stands in its file: a `SourceMap` from paths
(keys and list indices from the document root) to places, so every stage can point at the
exact text of an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rulebot.rulebook.errors import SourceSpan

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Located:
    """Where one value stands in the file, and how its text maps back to source columns."""

    span: SourceSpan  # the value itself (for a mapping or list: its first character)
    key_span: SourceSpan | None  # the key that holds it, when it is a mapping value
    style: str | None  # scalar style: None plain, "'" or '"' quoted, "|" or ">" block
    start_index: int  # character offsets of the value in the source text
    end_index: int


@dataclass
class SourceMap:
    """Positions of every value, by path from the document root (keys and list indices)."""

    file: str
    text: str
    entries: dict[Path_, Located]

    def find(self, path: Path_) -> Located | None:
        """The entry for `path`, or for its nearest ancestor that has one."""
        p = tuple(path)
        while p:
            if p in self.entries:
                return self.entries[p]
            p = p[:-1]
        return self.entries.get(())

    def span(self, path: Path_, *, key: bool = False) -> SourceSpan | None:
        loc = self.find(path)
        if loc is None:
            return None
        if key and loc.key_span is not None and tuple(path) in self.entries:
            return loc.key_span
        return loc.span

    def span_in_value(self, path: Path_, value: str, offset: int, length: int) -> SourceSpan | None:
        """Place `value[offset:offset+length]` (a piece of a string value) in the file."""
        loc = self.entries.get(tuple(path))
        if loc is None:
            return self.span(path)
        raw = self.text[loc.start_index : loc.end_index]
        piece = value[offset : offset + length] or value[offset : offset + 1]
        if loc.style in (None, "'") and "\n" not in raw and raw.strip("'") == value:
            base = loc.start_index + (1 if loc.style == "'" else 0)
            return self._span_at(base + offset, max(length, 1))
        if loc.style == '"' and "\n" not in raw and "\\" not in raw:
            return self._span_at(loc.start_index + 1 + offset, max(length, 1))
        # Block scalars, folded lines and escapes change offsets: find the same occurrence of
        # the piece in the raw text instead (the k-th one, k counted in the value).
        if piece:
            k = value[:offset].count(piece)
            at = -1
            for _ in range(k + 1):
                at = raw.find(piece, at + 1)
                if at < 0:
                    break
            if at >= 0:
                return self._span_at(loc.start_index + at, max(length, 1))
        return loc.span

    def _span_at(self, index: int, length: int) -> SourceSpan:
        line = self.text.count("\n", 0, index) + 1
        line_start = self.text.rfind("\n", 0, index) + 1
        return SourceSpan(self.file, line, index - line_start + 1, length)

    def line_text(self, line: int) -> str:
        lines = self.text.splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else ""


def iter_paths(data: Any, path: Path_ = ()) -> Iterator[Path_]:
    """Every path in a loaded document, depth first (used by tests and --explain)."""
    yield path
    if isinstance(data, dict):
        for k, v in data.items():
            yield from iter_paths(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from iter_paths(v, (*path, i))
