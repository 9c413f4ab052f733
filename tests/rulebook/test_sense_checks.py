"""Sizes, guard percentages and every error of a file, checked for sense at compile time."""

from __future__ import annotations

import pytest

from rulebot.rulebook.compiler import compile_text
from rulebot.rulebook.errors import RulebookError

HEAD = """\
rulebook: t
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
rules:
  - name: buy
    on: candle_close 1m
    in: flat
    when: close@1m > 0
    do:
      - enter: {side: long, size: SIZE}
      - stop_loss: {distance: 2%}
      - goto: long
  - name: out
    on: candle_close 1m
    in: long
    do: [exit, {goto: flat}]
"""


def errors(text: str) -> list[str]:
    with pytest.raises(RulebookError) as info:
        compile_text(text)
    return [f"{d.span.line if d.span else 0}: {d.message}" for d in info.value.diagnostics if d.is_error]


@pytest.mark.parametrize(
    ("size", "fragment"),
    [
        ('"0 USDT"', "size 0 USDT must be above zero"),
        ('"0.0 USDT"', "must be above zero"),
        ('"equity/0"', "always fails: division by zero"),
        ('"equity // 0 * 2"', "always fails: division by zero"),
        ('"(equity + 1) % -0"', "always fails: division by zero"),
    ],
)
def test_a_size_that_would_refuse_every_entry_is_a_compile_error(size, fragment):
    found = errors(HEAD.replace("SIZE", size))
    assert len(found) == 1 and fragment in found[0], found


def test_a_division_by_zero_that_may_be_skipped_still_compiles_with_a_warning_at_the_division():
    text = HEAD.replace("SIZE", '"equity / 100 if equity > 0 else equity / 0"')
    [warning] = [d for d in compile_text(text).warnings if d.code == "division-by-zero"]
    assert warning.span is not None
    line = text.splitlines()[warning.span.line - 1]
    assert line[warning.span.column - 1 :].startswith("equity / 0") and warning.span.length == len("equity / 0")


@pytest.mark.parametrize("key", ["min_liquidation_distance", "daily_loss_cap", "max_margin_ratio", "protective_stop"])
def test_a_guard_percentage_above_100_is_refused(key):
    found = errors(HEAD.replace("SIZE", "2%") + f"risk:\n  {key}: 200%\n")
    assert found == [f"{HEAD.count(chr(10)) + 2}: {key} 200% is above 100%"]


def test_a_file_that_switches_every_guard_off_gets_every_error_in_one_run():
    text = HEAD.replace("SIZE", '"0 USDT"') + (
        "risk:\n"
        "  max_leverage: 0\n"
        "  daily_loss_cap: 0%\n"
        "  min_liquidation_distance: 200%\n"
        "  stale_after: 0s\n"
        "  max_open_orders: 0\n"
        "  guards: off\n"
        "  protective_stop: 300%\n"
    )
    found = errors(text)
    want = [
        "size 0 USDT must be above zero",
        "0 is out of range",  # max_leverage
        "daily_loss_cap must be above zero",
        "min_liquidation_distance 200% is above 100%",
        "stale_after must be above zero",
        "0 is out of range",  # max_open_orders
        "unknown key 'guards'",
        "protective_stop 300% is above 100%",
    ]
    assert len(found) == len(want), found
    for got, fragment in zip(found, want, strict=True):
        assert fragment in got


def test_a_missing_required_key_still_stops_at_the_structure():
    text = HEAD.replace("SIZE", "2%").replace("market: usdm\n", "") + "risk:\n  max_leverage: 0\n"
    found = errors(text)
    assert any("missing required key 'market'" in f for f in found)
