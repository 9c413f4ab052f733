"""The three value types of the expression language, shared by the scope and the checker."""

from __future__ import annotations

import enum


class ExprType(enum.Enum):
    """What an expression (or a name) evaluates to."""

    NUM = "number"
    BOOL = "boolean"
    STR = "text"

    @property
    def words(self) -> str:
        """How a message names a value of this type ("got a number")."""
        return _WORDS[self]


_WORDS = {
    ExprType.NUM: "a number",
    ExprType.BOOL: "a boolean (true/false)",
    ExprType.STR: "text",
}
