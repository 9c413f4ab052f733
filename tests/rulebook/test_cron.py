"""Cron expressions mean what they mean in cron: Sunday is 0 (or 7), and a restricted day of
the month and weekday fire on either. APScheduler alone read `1-5` as Tuesday to Saturday."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rulebot.rulebook.cron import cron_trigger, weekdays


def fires(expr: str, start: datetime, n: int = 5) -> list[str]:
    trigger, out, at = cron_trigger(expr), [], start
    for _ in range(n):
        at = trigger.get_next_fire_time(None, at)
        assert at is not None
        out.append(at.strftime("%a %d"))
        at += timedelta(seconds=1)
    return out


SUNDAY_2_JUNE_2024 = datetime(2024, 6, 2, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "days"),
    [
        ("0", "sun"),
        ("7", "sun"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("mon-fri", "mon,tue,wed,thu,fri"),
        ("*/2", "sun,tue,thu,sat"),
        ("5-7", "sun,fri,sat"),
        ("1,3/2", "mon,wed,fri"),
        ("SAT,sun", "sun,sat"),
        ("*", "*"),
    ],
)
def test_weekdays_are_read_in_crons_numbering(field: str, days: str) -> None:
    assert weekdays(field) == days


@pytest.mark.parametrize("field", ["8", "5-1", "*/0", "monday", "L", "1-", ""])
def test_a_weekday_that_is_not_one_is_refused(field: str) -> None:
    with pytest.raises(ValueError):
        weekdays(field)


def test_weekdays_fire_monday_to_friday() -> None:
    assert fires("0 9 * * 1-5", SUNDAY_2_JUNE_2024) == ["Mon 03", "Tue 04", "Wed 05", "Thu 06", "Fri 07"]


def test_sunday_is_0_and_7() -> None:
    assert fires("0 0 * * 0", SUNDAY_2_JUNE_2024, 2) == ["Sun 09", "Sun 16"]
    assert fires("0 0 * * 7", SUNDAY_2_JUNE_2024, 2) == ["Sun 09", "Sun 16"]


def test_a_restricted_day_and_weekday_fire_on_either() -> None:
    # June 2024: Fridays are the 7th, 14th, 21st, 28th; the 13th is a Thursday.
    assert fires("0 0 13 * 5", SUNDAY_2_JUNE_2024) == ["Fri 07", "Thu 13", "Fri 14", "Fri 21", "Fri 28"]


def test_a_starred_day_with_a_step_still_narrows_the_weekday() -> None:
    # cron: a field that starts with * is not "restricted"; both must match then.
    assert fires("0 0 */2 * 1", SUNDAY_2_JUNE_2024, 3) == ["Mon 03", "Mon 17", "Mon 01"]
