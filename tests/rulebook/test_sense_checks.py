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


BREAKOUT = """\
rulebook: t
market: usdm
symbols: [BTCUSDT]
timeframes: [1m, 1h]
indicators:
  range_high: highest(high@1h, 24)
  range_low: lowest(low@1h, 24)
  top_close: highest(close@1h, 24)
  wider_high: highest(range_high, 3)
rules:
  - name: buy
    on: candle_close 1h
    in: flat
    when: WHEN
    do: [{enter: {side: long, size: 10 USDT}}, {goto: long}]
  - name: out
    on: candle_close 1h
    in: long
    do: [exit, {goto: flat}]
"""


def breakout_warnings(when: str) -> list[tuple[int, str, str | None]]:
    """(column, message, hint) of each never-breaks-out warning on the `when:` line."""
    text = BREAKOUT.replace("WHEN", when)
    found = [d for d in compile_text(text).warnings if d.code == "never-breaks-out"]
    return [(d.span.column if d.span else 0, d.message, d.hint) for d in found]


@pytest.mark.parametrize(
    "when",
    [
        "close@1h > range_high",
        "range_high < close@1h",
        "high@1h > range_high",
        "open@1h > wider_high",
        "close@1h > top_close",
        "low@1h > top_close",
        "close@1h < range_low",
        "range_low > low@1h",
        "price > 0 and close@1h > range_high",
    ],
)
def test_a_breakout_past_a_range_that_includes_its_own_candle_is_never_true(when):
    [(column, message, hint)] = breakout_warnings(when)
    compared = when.split(" and ")[-1]
    assert column == len("    when: ") + when.index(compared) + 1
    assert f"{compared} is never true" in message
    name = next(n for n in ("range_high", "range_low", "wider_high", "top_close") if n in compared)
    assert hint is not None and hint.endswith(compared.replace(name, f"{name}[1]"))


@pytest.mark.parametrize(
    ("when", "tie"),
    [
        ("close@1h >= range_high", "the close ties its candle's high"),
        ("range_high <= open@1h", "the open ties its candle's high"),
        ("high@1h <= range_low", "the high ties its candle's low"),
    ],
)
def test_a_breakout_that_holds_only_on_a_tie_warns_so(when, tie):
    [(_, message, hint)] = breakout_warnings(when)
    assert f"{when} is true only when {tie}" in message
    name = "range_high" if "range_high" in when else "range_low"
    assert hint is not None and hint.endswith(when.replace(name, f"{name}[1]"))


@pytest.mark.parametrize(
    "when",
    [
        "close@1h > range_high[1]",
        "close@1h >= range_high[1]",
        "close@1m > range_high",
        "price > range_high",
        "mark_price > range_high",
        "high@1h >= range_high",
        "close@1h >= top_close",
        "high@1h > top_close",
        "close@1h > range_low",
        "close@1h <= range_high",
        "close@1h[1] > range_high[1]",
        "close@1h * 1.01 > range_high",
    ],
)
def test_a_comparison_that_can_hold_gets_no_breakout_warning(when):
    assert breakout_warnings(when) == []


@pytest.mark.parametrize("distance", ["100%", "150%", "100.0%"])
def test_a_stop_loss_distance_of_100_percent_or_more_is_refused(distance):
    """`distance: 100%` put a long's stop at price 0, where it can never trigger."""
    text = HEAD.replace("SIZE", "2%").replace("distance: 2%", f"distance: {distance}")
    [found] = errors(text)
    assert found.startswith("12: stop_loss distance ")
    assert "must be below 100%" in found and "a long's stop at a price of 0 or below" in found


def test_a_take_profit_distance_above_100_percent_compiles():
    """A long's take_profit may be past twice the entry price."""
    text = HEAD.replace("SIZE", "2%").replace("stop_loss: {distance: 2%}", "take_profit: {distance: 150%}")
    assert compile_text(text).name == "t"


@pytest.mark.parametrize(
    ("when", "back"),
    [
        ("crossover(close@1h, range_high)", "crossover(close@1h, range_high[1])"),
        ("crossunder(range_high, high@1h)", "crossunder(range_high[1], high@1h)"),
        ("crossunder(close@1h, range_low)", "crossunder(close@1h, range_low[1])"),
    ],
)
def test_a_crossover_past_a_range_that_includes_its_own_candle_is_never_true(when, back):
    [(column, message, hint)] = breakout_warnings(when)
    assert column == len("    when: ") + 1
    assert message.startswith(f"{when} is never true:")
    assert hint is not None and hint.endswith(back)


@pytest.mark.parametrize(
    "when", ["crossover(close@1h, range_high[1])", "crossover(price, range_high)", "crossunder(close@1h, range_high)"]
)
def test_a_crossover_that_can_happen_gets_no_breakout_warning(when):
    assert breakout_warnings(when) == []


SHORT_TP = """\
rulebook: t
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
states:
  flat: {position: none}
  short: {position: short}
initial: flat
rules:
  - name: sell
    on: candle_close 1m
    in: flat
    when: close@1m > 0
    do: [{enter: {side: short, size: 2%}}, {stop_loss: {distance: 2%}}, {take_profit: {distance: TP}}, {goto: short}]
  - name: later
    on: candle_close 1m
    in: short
    do: [{take_profit: {distance: TP}}]
  - name: out
    on: candle_close 1m
    in: short
    when: close@1m > 1000000
    do: [exit, {goto: flat}]
"""


def test_a_shorts_take_profit_100_percent_away_is_refused_where_the_side_is_known():
    """A short's take_profit at entry * (1 - distance): at 100% it is at price 0, never reached."""
    found = errors(SHORT_TP.replace("TP", "100%"))
    assert [f.split(":")[0] for f in found] == ["14", "18"], found
    assert all("a short's take_profit at a price of 0 or below" in f for f in found)


def test_a_shorts_take_profit_below_100_percent_compiles():
    assert compile_text(SHORT_TP.replace("TP", "99%")).name == "t"
