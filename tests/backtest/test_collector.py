"""backtest/collector.py: a run sets the collector's slower pace for its own time only."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from rulebot.backtest.collector import MIDDLE, OLD, YOUNG, paced


@pytest.fixture(autouse=True)
def _default_pace() -> Iterator[None]:
    before, enabled = gc.get_threshold(), gc.isenabled()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)
    if enabled:
        gc.enable()


def test_the_pace_holds_during_the_run_and_is_restored_after() -> None:
    seen: list[tuple[int, int, int]] = []
    paced(lambda: seen.append(gc.get_threshold()))()
    assert seen == [(YOUNG, MIDDLE, OLD)]
    assert gc.get_threshold() == (700, 10, 10)


def test_the_pace_is_restored_when_the_run_fails() -> None:
    def fails() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        paced(fails)()
    assert gc.get_threshold() == (700, 10, 10)


def test_a_slower_pace_or_a_collector_turned_off_is_left_as_it_is() -> None:
    gc.set_threshold(50_000, 50, 50)
    assert paced(gc.get_threshold)() == (50_000, 50, 50)
    gc.disable()
    gc.set_threshold(700, 10, 10)
    assert paced(gc.get_threshold)() == (700, 10, 10)
