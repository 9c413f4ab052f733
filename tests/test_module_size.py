"""No module under rulebot/ passes 450 lines: one module, one job (STYLE §3 says split at ~400;
the engine holds itself to 400 in tests/engine/test_engine_rooms.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

import rulebot

ROOT = Path(rulebot.__file__).parent
LIMIT = 450
# Over the limit today and being split in parallel (issue 13, helper fid). Each must still be
# over: once split, the test below fails until its name leaves this list.
PENDING = {"exchange_sim/exchange.py", "backtest/summary.py"}
MODULES = sorted(ROOT.rglob("*.py"))


def lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_450_lines(path: Path) -> None:
    if str(path.relative_to(ROOT)) in PENDING:
        pytest.skip("being split (PENDING)")
    assert lines(path) <= LIMIT, f"{path.relative_to(ROOT)} has {lines(path)} lines: split it by job"


def test_the_pending_list_is_not_stale() -> None:
    assert len(MODULES) > 100  # the walk found the package
    for name in sorted(PENDING):
        assert (ROOT / name).exists(), f"{name} is gone: take it off PENDING"
        assert lines(ROOT / name) > LIMIT, f"{name} is split: take it off PENDING"
