"""No module under rulebot/ passes 450 lines: one module, one job (STYLE §3 says split at ~400;
the engine holds itself to 400 in tests/engine/test_engine_rooms.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

import rulebot

ROOT = Path(rulebot.__file__).parent
LIMIT = 450
MODULES = sorted(ROOT.rglob("*.py"))


def lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_450_lines(path: Path) -> None:
    assert lines(path) <= LIMIT, f"{path.relative_to(ROOT)} has {lines(path)} lines: split it by job"


def test_the_walk_finds_the_package() -> None:
    assert len(MODULES) > 100
