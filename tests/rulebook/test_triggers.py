"""Trigger parsing: every kind, its argument, and located errors."""

from __future__ import annotations

import pytest

from rulebot.rulebook.compiler import compile_text
from rulebot.rulebook.triggers import Trigger, TriggerError, cron_never_fires, parse_trigger


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("trade", Trigger("trade")),
        ("book", Trigger("book")),
        ("mark_price", Trigger("mark_price")),
        ("candle_close 15m", Trigger("candle_close", "15m")),
        ("funding", Trigger("funding")),
        ("before_funding 15m", Trigger("before_funding", "15m", 900)),
        ('cron "0 0 * * *"', Trigger("cron", "0 0 * * *")),
        ("every 30s", Trigger("every", "30s", 30)),
        ("fill", Trigger("fill")),
        ("position_closed", Trigger("position_closed")),
        ("start", Trigger("start")),
    ],
)
def test_every_trigger_kind_parses(text, expected):
    assert parse_trigger(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment", "offset", "length"),
    [
        ("candel_close 15m", "unknown trigger 'candel_close'", 0, 12),
        ("candle_close", "needs a timeframe", 0, 12),
        ("trade 5m", "takes no argument", 6, 2),
        ("every 5x", "not a duration", 6, 2),
        ("every 0s", "positive duration", 6, 2),
        ('cron "61 0 * * *"', "does not parse", 5, 12),
        ('cron "0 0 * *"', "needs 5", 5, 9),
    ],
)
def test_bad_triggers_say_what_and_where(text, fragment, offset, length):
    with pytest.raises(TriggerError) as info:
        parse_trigger(text)
    assert fragment in str(info.value)
    assert (info.value.offset, info.value.length) == (offset, length)


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ('cron "@daily"', "cron expression '@daily' has 1 field; it needs 5", 'on: cron "0 0 * * *"'),
        ('cron "@hourly"', "cron expression '@hourly' has 1 field; it needs 5", 'on: cron "0 * * * *"'),
        ('cron "0 0 * * * *"', "cron expression '0 0 * * * *' has 6 fields; it needs 5", None),
    ],
)
def test_a_cron_of_the_wrong_length_says_its_count_right_and_spells_out_a_nickname(text, message, hint):
    """ "@daily" was told it "has 1 fields", and nothing said what to write instead."""
    with pytest.raises(TriggerError) as info:
        parse_trigger(text)
    assert str(info.value).startswith(message)
    assert info.value.hint == (None if hint is None else f"write it out: {hint}")


def test_unknown_trigger_suggests_the_closest():
    with pytest.raises(TriggerError) as info:
        parse_trigger("mark_prise")
    assert info.value.hint and info.value.hint.startswith("did you mean 'mark_price'?")


@pytest.mark.parametrize(
    ("expr", "never"),
    [
        ("0 0 30 2 *", True),
        ("0 0 31 4,6,9,11 *", True),
        ("0 0 31 2 mon", False),  # cron: a restricted day and weekday fire on either, so Mondays in February
        ("0 0 29 2 *", False),  # leap years only, but it fires
        ("0 0 31 1-4 *", False),
        ("0 0 last 2 *", False),
        ("*/5 * * * *", False),
    ],
)
def test_a_cron_that_matches_no_date_never_fires(expr, never):
    assert cron_never_fires(parse_trigger(f'cron "{expr}"')) is never


def test_only_a_cron_can_never_fire():
    assert not cron_never_fires(parse_trigger("every 1m"))


BOOK = """\
rulebook: t
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
rules:
  - name: note
    on: cron "0 0 30 2 *"
    do:
      - log: "equity {equity}"
"""


def test_a_cron_that_never_fires_is_a_warning_at_the_expression():
    [warning] = [w for w in compile_text(BOOK).warnings if w.code == "never-fires"]
    assert warning.severity == "warning"
    assert warning.message == 'cron "0 0 30 2 *" never fires: no date has the day and month it asks for'
    assert warning.span is not None
    assert (warning.span.line, warning.span.column, warning.span.length) == (7, 15, len("0 0 30 2 *"))
    assert warning.hint is not None and 'cron "0 0 last 2 *"' in warning.hint
