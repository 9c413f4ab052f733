"""Cron expressions read as cron reads them, scheduled by APScheduler.

APScheduler's `CronTrigger.from_crontab` (3.x) takes the weekday field in its own numbering,
Monday 0 to Sunday 6, where cron (and every crontab a user has ever written) has Sunday 0 (or 7)
to Saturday 6: `0 9 * * 1-5` fired Tuesday to Saturday, `0 0 * * 0` on Mondays, and `7` did not
parse. And cron fires when *either* the day of the month or the weekday matches once both are
restricted (`0 0 13 * 5`: every 13th and every Friday), where APScheduler wants both. So the
weekday field is read here, in cron's numbering, and handed over as day names; a restricted day
and weekday become two triggers, either of which fires.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DAY = r"(?:[0-7]|sun|mon|tue|wed|thu|fri|sat)"
_PART = re.compile(rf"^(?:(\*)|({_DAY})(?:-({_DAY}))?)(?:/(\d+))?$")


def _day(text: str) -> int:
    return int(text) if text.isdigit() else _DAY_NAMES.index(text)


def weekdays(field: str) -> str:
    """Cron's weekday field (0 or 7 Sunday … 6 Saturday, names, ranges, lists, steps) as a list of
    day names, or `*`. ValueError when it is not one."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        m = _PART.match(part)
        if m is None:
            raise ValueError(f"weekday {part!r} is not a day (0-7, Sunday being 0 or 7, or sun … sat)")
        star, first, last, step = m.groups()
        lo, hi = (0, 6) if star else (_day(first), _day(last) if last else (6 if step else _day(first)))
        if hi < lo:
            raise ValueError(f"weekday range {part!r} runs backwards: write the lower day first (sun=0 … sat=6, 7=sun)")
        every = int(step) if step else 1
        if every == 0:
            raise ValueError(f"weekday step in {part!r} must be at least 1")
        days.update(d % 7 for d in range(lo, hi + 1, every))
    return ",".join(_DAY_NAMES[d] for d in sorted(days))


def cron_trigger(expr: str) -> BaseTrigger:
    """The APScheduler trigger (UTC) of a five-field cron expression, read as cron reads it.
    ValueError when it does not parse."""
    from apscheduler.triggers.combining import OrTrigger
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"{len(fields)} fields; a cron expression has 5 (minute hour day month weekday)")
    minute, hour, day, month, weekday = fields
    dow = weekdays(weekday)

    def trigger(day: str, dow: str) -> CronTrigger:
        return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=dow, timezone="UTC")

    if not day.startswith("*") and not weekday.startswith("*"):  # both restricted: either matches, as in cron
        return OrTrigger([trigger(day, "*"), trigger("*", dow)])
    return trigger(day, dow)
