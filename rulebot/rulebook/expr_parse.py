"""Expression text → Python AST, with every node placed in the text the user wrote.

`parse_expr` only lexes and parses (plus the size bounds, which protect everything after
it); deciding what is allowed is the checker's job. The compiler also uses it for indicator
definitions such as `atr(15m, 14)`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from rulebot.rulebook.errors import ExprError, ExprIssue
from rulebot.rulebook.expr_lexer import MAX_NESTING, Lexed, LiteralKind, lex

MAX_NODES = 400
_LAST_TOKEN = re.compile(r"(?:\w+|\S)$")
MAX_DEPTH = MAX_NESTING


@dataclass(frozen=True, slots=True)
class ParsedExpr:
    """A parsed expression: `tree` is the `ast.Expression` of the rewritten source.

    Rewritten literals stay recognisable: a duration such as `15m` is an `ast.Constant`
    holding seconds (900) for which `timeframe(node)` returns "15m"; `literal_kind(node)`
    says "duration", "percent" or "bool" for rewritten literals. `flat_name(node)` gives the
    scope name a Name or dotted Attribute stands for ("close@15m", "position.side").
    """

    text: str
    lexed: Lexed
    tree: ast.Expression
    byte_to_char: tuple[int, ...] | None  # None when the source is ASCII (bytes == chars)

    @property
    def body(self) -> ast.expr:
        return self.tree.body

    def _chars(self, col: int) -> int:
        return col if self.byte_to_char is None else self.byte_to_char[col]

    def source_range(self, node: ast.AST) -> tuple[int, int]:
        """[start, end) of `node` in the rewritten source, in characters."""
        start = self._chars(getattr(node, "col_offset", 0))
        end = self._chars(getattr(node, "end_col_offset", None) or start)
        return start, end

    def span(self, node: ast.AST) -> tuple[int, int]:
        """(offset, length) of `node` in the original text."""
        return self.lexed.original(*self.source_range(node))

    def attr_span(self, node: ast.Attribute) -> tuple[int, int]:
        """(offset, length) of just the attribute name of `x.attr` in the original text."""
        _, end = self.source_range(node)
        return self.lexed.original(end - len(node.attr), end)

    def node_text(self, node: ast.AST) -> str:
        offset, length = self.span(node)
        return self.text[offset : offset + length]

    def literal_kind(self, node: ast.AST) -> LiteralKind | None:
        if not isinstance(node, ast.Constant):
            return None
        return self.lexed.literals.get(self.source_range(node)[0])

    def timeframe(self, node: ast.AST) -> str | None:
        """The text of a bare duration argument such as `15m` (for `atr(15m, 14)`), else None."""
        return self.node_text(node) if self.literal_kind(node) == "duration" else None

    def flat_name(self, node: ast.AST) -> str | None:
        """The flat scope name of a Name, a series reference or a dotted chain of names."""
        if isinstance(node, ast.Name):
            return self.lexed.series.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.flat_name(node.value)
            return None if base is None else f"{base}.{node.attr}"
        return None


def parse_expr(text: str) -> ParsedExpr:
    """Lex and parse `text`; raise ExprError with offsets into `text` if it does not parse
    or is larger than the bounds (1000 characters, 400 nodes, nesting 32)."""
    lexed = lex(text)
    if not lexed.source.strip():
        raise ExprError([ExprIssue("the expression is empty", 0, max(len(text), 1), None, "syntax")])
    try:
        tree = ast.parse(lexed.source, mode="eval")
    except SyntaxError as exc:
        raise ExprError([_syntax_issue(lexed, exc)]) from None
    except (RecursionError, MemoryError):
        raise ExprError([ExprIssue("the expression is nested too deeply", 0, len(text), None, "too-deep")]) from None
    source = lexed.source
    b2c: tuple[int, ...] | None = None
    if not source.isascii():
        table: list[int] = []
        for ci, ch in enumerate(source):
            table.extend([ci] * len(ch.encode("utf-8")))
        table.append(len(source))
        b2c = tuple(table)
    parsed = ParsedExpr(text, lexed, tree, b2c)
    _check_bounds(parsed)
    return parsed


def _syntax_issue(lexed: Lexed, exc: SyntaxError) -> ExprIssue:
    source = lexed.source.rstrip()
    if _ends_too_early(source):
        # Python places "invalid syntax" for `price >` at the first column; the problem is
        # at the end, after the last token.
        last = _LAST_TOKEN.search(source)
        offset, length = lexed.original(last.start() if last else 0, len(source))
        hint = "a percentage touches its number: 5%" if source.endswith("%") else None
        message = f"the expression ends too early after '{lexed.text[offset : offset + length]}'"
        return ExprIssue(message, offset, length, hint, "syntax")
    start = (exc.offset or 1) - 1
    end = (exc.end_offset or 0) - 1 if (exc.end_lineno or 1) == (exc.lineno or 1) else start + 1
    offset, length = lexed.original(start, max(end, start + 1))
    hint = None
    near = lexed.source[start : start + 2]
    if near.startswith("=") and not near.startswith("=="):
        hint = "compare with ==, not ="
    return ExprIssue(f"syntax error: {exc.msg}", offset, max(length, 1), hint, "syntax")


def _ends_too_early(source: str) -> bool:
    """True if one more operand would complete the expression."""
    try:
        ast.parse(source + " _", mode="eval")
    except SyntaxError:
        return False
    return True


def _check_bounds(parsed: ParsedExpr) -> None:
    # Iterative on purpose: the bounds exist to protect recursive code, so checking them
    # must not recurse.
    count = 0
    stack: list[tuple[ast.AST, int]] = [(parsed.body, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            offset, length = parsed.span(node)
            raise ExprError(
                [
                    ExprIssue(
                        f"the expression is nested more than {MAX_DEPTH} levels deep",
                        offset,
                        length,
                        "give inner parts their own names (params or indicators)",
                        "too-deep",
                    )
                ]
            )
        stack.extend(
            (child, depth + 1)
            for child in ast.iter_child_nodes(node)
            if isinstance(child, ast.expr | ast.keyword | ast.comprehension)
        )
    if count > MAX_NODES:
        raise ExprError(
            [
                ExprIssue(
                    f"the expression has {count} parts; the limit is {MAX_NODES}",
                    0,
                    len(parsed.text),
                    "split it: give parts of it their own names (params or indicators)",
                    "too-complex",
                )
            ]
        )
