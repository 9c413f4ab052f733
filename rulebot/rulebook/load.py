"""Safe YAML loading that remembers where every key and value came from.

PyYAML's own loaders either construct Python objects from tags or lose positions. Here the
text is composed into nodes (no construction), checked (size, tags, duplicate keys, alias
expansion), and converted into plain values while a `SourceMap` records the line and column
of every key and value, so that later stages can point at the exact place of an error.

The scalar resolution follows YAML 1.2's core schema, not PyYAML's YAML 1.1 default: in
YAML 1.1 the key `on:` of every rule would load as the boolean True, `yes`/`no` would be
booleans and `1:30` would be the integer 90.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from rulebot.rulebook.errors import Diagnostic, RulebookError, SourceSpan
from rulebot.rulebook.source_map import Located, Path_, SourceMap

MAX_FILE_BYTES = 1_000_000
# Counted after alias expansion: a "billion laughs" file is small but expands without end.
MAX_EXPANDED_NODES = 50_000
MAX_DEPTH = 64
_MAX_DIGITS = 100


_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_ALLOWED_TAGS = {_STR, _INT, _FLOAT, _BOOL, _NULL, _SEQ, _MAP}


class _CoreResolver(yaml.resolver.Resolver):
    """YAML 1.2 core schema: only true/false are booleans, no sexagesimals, no timestamps."""


_CoreResolver.yaml_implicit_resolvers = {}
_CoreResolver.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_CoreResolver.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_CoreResolver.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_CoreResolver.add_implicit_resolver(_NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])


class _Composer(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    _CoreResolver,
):
    """Reader → scanner → parser → composer, with no constructor: tags are never executed."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _CoreResolver.__init__(self)
        self.depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        # PyYAML composes by recursion: 500 nested `[` exhaust Python's stack long before the
        # builder below could count the levels. Stop at the limit, with the place.
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark)  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _TooDeep(Exception):
    def __init__(self, mark: Any) -> None:
        super().__init__()
        self.mark = mark


@dataclass(frozen=True, slots=True)
class LoadedYaml:
    data: Any
    source: SourceMap


def _mark_span(file: str, mark: Any, end: Any | None = None) -> SourceSpan:
    length = 1
    if end is not None and end.line == mark.line:
        length = max(1, end.column - mark.column)
    return SourceSpan(file, mark.line + 1, mark.column + 1, length)


class _Builder:
    """Turns composed nodes into plain Python values, checking as it goes."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.entries: dict[Path_, Located] = {}
        self.diagnostics: list[Diagnostic] = []
        self.expanded = 0
        self.too_big = False
        self.built: set[int] = set()
        self.aliased = False
        self.text = text

    def error(self, message: str, node: Node, hint: str | None = None, code: str = "") -> None:
        self.diagnostics.append(
            Diagnostic("error", message, _mark_span(self.file, node.start_mark, node.end_mark), hint, code)
        )

    def build(self, node: Node, path: Path_, key_span: SourceSpan | None, active: tuple[int, ...] = ()) -> Any:
        self.expanded += 1
        # A node built a second time is an alias's: only then can the text be small and the
        # document huge, and only then is that the thing to tell.
        self.aliased = self.aliased or id(node) in self.built
        self.built.add(id(node))
        if self.expanded > MAX_EXPANDED_NODES:
            if not self.too_big:
                self.too_big = True
                if self.aliased:
                    message = f"the document expands to more than {MAX_EXPANDED_NODES} values"
                    hint = "anchors and aliases (&a / *a) that multiply each other are refused"
                else:
                    message = f"the document holds more than {MAX_EXPANDED_NODES} values"
                    hint = "split it into several rulebooks"
                self.error(message, node, hint, "yaml-too-large")
            return None
        if id(node) in active:
            self.error("an alias refers to a value that contains it", node, code="yaml-recursive")
            return None
        if len(path) > MAX_DEPTH:
            self.error(f"nesting deeper than {MAX_DEPTH} levels", node, code="yaml-too-deep")
            return None
        style = node.style if isinstance(node, ScalarNode) else None
        self.entries.setdefault(
            path,
            Located(
                _mark_span(self.file, node.start_mark, node.end_mark),
                key_span,
                style if style in ("'", '"', "|", ">") else None,
                node.start_mark.index,
                node.end_mark.index,
            ),
        )
        if node.tag not in _ALLOWED_TAGS:
            self.error(
                f"YAML tag {node.tag!r} is not allowed",
                node,
                "rulebooks use plain YAML values only: strings, numbers, true/false, lists and mappings",
                "yaml-tag",
            )
            return None
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        inner = (*active, id(node))
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i), None, inner) for i, item in enumerate(node.value)]
        assert isinstance(node, MappingNode)
        result: dict[Any, Any] = {}
        first_seen: dict[Any, Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.error("mapping keys must be plain scalars", key_node, code="yaml-key")
                continue
            # The core resolver leaves `<<` as text; a plain `<<` key is YAML 1.1's merge key,
            # whose silent overriding would hide which value a rule really gets.
            if key_node.tag == "tag:yaml.org,2002:merge" or (key_node.value == "<<" and key_node.style is None):
                self.error("merge keys (<<) are not supported", key_node, code="yaml-merge")
                continue
            key = self.scalar(key_node)
            if key in first_seen:
                prev = first_seen[key]
                self.error(
                    f"duplicate key {key!r}",
                    key_node,
                    f"first defined at line {prev.start_mark.line + 1}; a later value would silently "
                    "replace the earlier one",
                    "yaml-duplicate-key",
                )
                continue
            first_seen[key] = key_node
            kspan = _mark_span(self.file, key_node.start_mark, key_node.end_mark)
            result[key] = self.build(value_node, (*path, key), kspan, inner)
        return result

    def scalar(self, node: ScalarNode) -> Any:
        text = node.value
        if node.tag == _STR:
            return text
        if node.tag == _NULL:
            return None
        if node.tag == _BOOL:
            return text.lower() == "true"
        if node.tag == _INT:
            if len(text) > _MAX_DIGITS:
                # int() refuses past 4,300 digits with a ValueError; no rulebook number needs 100.
                self.error(
                    f"a number {len(text):,} characters long", node, "numbers are limited to 100 digits", "yaml-number"
                )
                return None
            if text.startswith("0o"):
                return int(text[2:], 8)
            if text.startswith("0x"):
                return int(text[2:], 16)
            return int(text)
        if node.tag == _FLOAT:
            low = text.lower()
            if low.endswith("inf"):
                return float("-inf") if low.startswith("-") else float("inf")
            if low.endswith("nan"):
                return float("nan")
            return float(text)
        return text


def load_yaml_text(text: str, file: str = "<string>") -> LoadedYaml:
    """Load one YAML document safely; raise RulebookError with every problem found."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILE_BYTES:
        raise RulebookError(
            [
                Diagnostic(
                    "error",
                    f"file is {size} bytes; rulebooks are limited to {MAX_FILE_BYTES} bytes",
                    SourceSpan(file, 1, 1),
                    code="yaml-too-large",
                )
            ]
        )
    composer: _Composer | None = None
    try:
        # The reader checks the whole text for unprintable characters (a NUL byte) on creation.
        composer = _Composer(text)
        root = composer.get_single_node()
    except _TooDeep as exc:
        span = SourceSpan(file, exc.mark.line + 1, exc.mark.column + 1)
        raise RulebookError(
            [Diagnostic("error", f"nesting deeper than {MAX_DEPTH} levels", span, code="yaml-too-deep")]
        ) from None
    except yaml.reader.ReaderError as exc:
        raise RulebookError([_reader_diagnostic(file, text, exc)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        span = SourceSpan(file, mark.line + 1, mark.column + 1) if mark else SourceSpan(file, 1, 1)
        problem = exc.problem or "invalid YAML"
        hint = None
        if exc.context:
            hint = exc.context
            ctx_mark = exc.context_mark
            if ctx_mark is not None and exc.problem_mark is not None and ctx_mark.line != exc.problem_mark.line:
                # The cause is usually where the construct opened (an unclosed [ or quote).
                hint += f" that started at line {ctx_mark.line + 1}, column {ctx_mark.column + 1}"
        if "\t" in text and ("tab" in problem.lower() or "'\\t'" in problem):
            # Before the tab on its line: only blanks is indentation; anything else, a tab
            # separating a value (`key:<tab>value`), which PyYAML refuses too.
            lines = text.splitlines()
            line = lines[mark.line] if mark and mark.line < len(lines) else ""
            inside = mark is not None and line[: mark.column].strip(" \t") != ""
            hint = (
                "a tab cannot stand here; write a space instead"
                if inside
                else "YAML indentation must use spaces, not tabs"
            )
        message = f"YAML syntax error: {problem}"
        if problem == "but found another document":  # PyYAML's words, after "expected a single document"
            message = "a second YAML document starts here: a rulebook is one document"
            hint = "remove the '---' line, or put each rulebook in its own file"
        raise RulebookError([Diagnostic("error", message, span, hint, "yaml-syntax")]) from None
    except yaml.YAMLError as exc:
        raise RulebookError(
            [Diagnostic("error", f"YAML error: {exc}", SourceSpan(file, 1, 1), code="yaml-syntax")]
        ) from None
    finally:
        if composer is not None:
            composer.dispose()
    if root is None:
        raise RulebookError([Diagnostic("error", "the file is empty", SourceSpan(file, 1, 1), code="yaml-empty")])
    builder = _Builder(file, text)
    data = builder.build(root, (), None)
    if builder.diagnostics:
        raise RulebookError(builder.diagnostics)
    return LoadedYaml(data, SourceMap(file, text, builder.entries))


def _reader_diagnostic(file: str, text: str, exc: yaml.reader.ReaderError) -> Diagnostic:
    """A character YAML does not allow (NUL, other control characters), placed by line and column."""
    at = max(0, min(exc.position, len(text)))
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    what = "a NUL byte" if code == 0 else f"the control character U+{code:04X}"
    return Diagnostic(
        "error",
        f"{what} is not allowed in YAML",
        SourceSpan(file, line, column),
        "a rulebook is plain text; was a binary file given, or was the file damaged?",
        "yaml-character",
    )


def read_source(path: str) -> str | None:
    """A rulebook file's text for quoting in messages: at most the size a rulebook may have.

    `validate /dev/zero` must not read until memory runs out just to quote line 1.
    """
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError:
        return None
    return raw.decode("utf-8", errors="replace")


def unreadable(path: str, exc: OSError) -> Diagnostic:
    """Why the rulebook at `path` cannot be read: one message for every command given a rulebook path."""
    if isinstance(exc, IsADirectoryError):
        return Diagnostic(
            "error",
            "cannot read file: it is a directory, not a rulebook",
            SourceSpan(path, 1, 1),
            hint="give the rulebook's .yaml file itself",
            code="io",
        )
    return Diagnostic("error", f"cannot read file: {exc.strerror or exc}", SourceSpan(path, 1, 1), code="io")


def load_yaml_file(path: str) -> LoadedYaml:
    """Read and load a rulebook file; unreadable or non-UTF-8 files are reported, not raised raw."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise RulebookError([unreadable(path, exc)]) from None
    return load_yaml_bytes(raw, path)


def load_yaml_bytes(raw: bytes, path: str) -> LoadedYaml:
    """Load a rulebook's bytes (a file's, or stdin's as `<stdin>`), read up to MAX_FILE_BYTES + 1
    so that a larger one is reported as such; `path` names it in messages."""
    if len(raw) > MAX_FILE_BYTES:
        raise RulebookError(
            [
                Diagnostic(
                    "error",
                    f"file is larger than {MAX_FILE_BYTES} bytes",
                    SourceSpan(path, 1, 1),
                    code="yaml-too-large",
                )
            ]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RulebookError(
            [Diagnostic("error", f"file is not UTF-8 text (byte {exc.start})", SourceSpan(path, 1, 1), code="encoding")]
        ) from None
    return load_yaml_text(text, path)
