"""Trigger parsing: every kind, its argument, and located errors."""

from __future__ import annotations

import pytest

from rulebot.rulebook.triggers import Trigger, TriggerError, parse_trigger


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


def test_unknown_trigger_suggests_the_closest():
    with pytest.raises(TriggerError) as info:
        parse_trigger("mark_prise")
    assert info.value.hint and info.value.hint.startswith("did you mean 'mark_price'?")
