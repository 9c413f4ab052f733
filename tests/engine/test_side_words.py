"""No engine module compares against the rulebook's words for sides and bindings: the compiler
maps them once (core.enums.Direction, rulebook.compiled.PositionBinding) and the engine compares
members, so a typo cannot be quietly false."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rulebot

ROOT = Path(rulebot.__file__).parent
WORDS = frozenset({"long", "short", "none", "any"})
CHECKED = sorted(
    [
        *(ROOT / "engine").rglob("*.py"),
        *(ROOT / "rulebook").glob("compile_*.py"),
        ROOT / "rulebook" / "compiled.py",
        ROOT / "rulebook" / "checks.py",
        ROOT / "core" / "intents.py",
    ]
)


def words_compared(source: str) -> list[tuple[int, str]]:
    """(line, word) of every `==`, `!=`, `in`, `not in`, `is` against one of WORDS (alone or in a
    tuple, list or set literal)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        for operand in (node.left, *node.comparators):
            items = operand.elts if isinstance(operand, ast.Tuple | ast.List | ast.Set) else [operand]
            for item in items:
                if isinstance(item, ast.Constant) and item.value in WORDS:
                    found.append((node.lineno, item.value))
    return sorted(found)


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_side_word_is_compared(path: Path) -> None:
    assert words_compared(path.read_text(encoding="utf-8")) == [], path.relative_to(ROOT)


def test_the_check_finds_what_the_engine_used_to_write() -> None:
    old = 'a = Side.BUY if intent.side == "long" else Side.SELL\nif spec.position in ("long", "short"): pass\n'
    assert words_compared(old) == [(1, "long"), (2, "long"), (2, "short")]
    assert len(CHECKED) > 40
