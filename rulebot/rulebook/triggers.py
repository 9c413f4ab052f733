"""Parsing of a rule's `on:` text into a `Trigger`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rulebot.rulebook.cron import cron_trigger
from rulebot.rulebook.model import DURATION_RE, duration_seconds

TRIGGER_KINDS = (
    "trade",
    "book",
    "mark_price",
    "candle_close",
    "funding",
    "before_funding",
    "cron",
    "every",
    "fill",
    "position_closed",
    "start",
)
# Which kinds take an argument, and what it is.
_ARG: dict[str, str | None] = {
    "trade": None,
    "book": None,
    "mark_price": None,
    "candle_close": "timeframe",
    "funding": None,
    "before_funding": "duration",
    "cron": "cron",
    "every": "duration",
    "fill": None,
    "position_closed": None,
    "start": None,
}
_ARG_EXAMPLE = {"timeframe": "15m", "duration": "15m", "cron": '"0 0 * * *"'}


@dataclass(frozen=True, slots=True)
class Trigger:
    """What makes a rule look at its condition: a kind and its argument, if any."""

    kind: str
    arg: str | None = None
    seconds: int | None = None  # for before_funding and every

    @property
    def key(self) -> tuple[str, str | None]:
        """The dispatch key: events of this kind (and timeframe, duration or cron) fire it."""
        return (self.kind, self.arg)

    def __str__(self) -> str:
        if self.arg is None:
            return self.kind
        return f'{self.kind} "{self.arg}"' if self.kind == "cron" else f"{self.kind} {self.arg}"


# What crontab's @-names stand for: cron_trigger reads the five fields only.
_CRON_NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class TriggerError(ValueError):
    def __init__(self, message: str, offset: int = 0, length: int = 0, hint: str | None = None):
        super().__init__(message)
        self.offset = offset
        self.length = length
        self.hint = hint


def parse_trigger(text: str) -> Trigger:
    """`candle_close 15m` → Trigger("candle_close", "15m"). Raises TriggerError with an offset."""
    stripped = text.strip()
    lead = len(text) - len(text.lstrip())
    m = re.match(r"([A-Za-z_]+)\s*(.*)$", stripped, re.S)
    if not m:
        raise TriggerError(f"{text!r} is not a trigger", lead, len(stripped), "triggers: " + ", ".join(TRIGGER_KINDS))
    kind, rest = m.group(1), m.group(2).strip()
    if kind not in _ARG:
        from difflib import get_close_matches

        close = get_close_matches(kind, TRIGGER_KINDS, 1)
        hint = (f"did you mean '{close[0]}'? " if close else "") + "(triggers: " + ", ".join(TRIGGER_KINDS) + ")"
        raise TriggerError(f"unknown trigger '{kind}'", lead, len(kind), hint)
    want = _ARG[kind]
    arg_offset = lead + stripped.find(rest) if rest else lead + len(kind)
    if want is None:
        if rest:
            raise TriggerError(f"trigger '{kind}' takes no argument", arg_offset, len(rest))
        return Trigger(kind)
    if not rest:
        raise TriggerError(f"trigger '{kind}' needs a {want}", lead, len(kind), f"e.g. on: {kind} {_ARG_EXAMPLE[want]}")
    if want == "cron":
        expr = rest
        if len(expr) >= 2 and expr[0] == expr[-1] and expr[0] in "\"'":
            expr = expr[1:-1]
        fields = expr.split()
        if len(fields) != 5:
            count = f"{len(fields)} field{'' if len(fields) == 1 else 's'}"
            nickname = _CRON_NICKNAMES.get(expr.strip().lower())
            raise TriggerError(
                f"cron expression {expr!r} has {count}; it needs 5 (minute hour day month weekday)",
                arg_offset,
                len(rest),
                f'write it out: on: cron "{nickname}"' if nickname else None,
            )
        try:
            cron_trigger(expr)
        except ValueError as exc:
            raise TriggerError(f"cron expression {expr!r} does not parse: {exc}", arg_offset, len(rest)) from None
        return Trigger("cron", expr)
    if not DURATION_RE.match(rest):
        raise TriggerError(f"{rest!r} is not a {want}", arg_offset, len(rest), f"e.g. on: {kind} {_ARG_EXAMPLE[want]}")
    if want == "duration":
        secs = duration_seconds(rest)
        if secs <= 0:
            raise TriggerError(f"trigger '{kind}' needs a positive duration", arg_offset, len(rest))
        return Trigger(kind, rest, secs)
    return Trigger(kind, rest)


def cron_never_fires(trigger: Trigger) -> bool:
    """Does a cron trigger match no moment at all (`0 0 30 2 *`, day 31 of 30-day months)?

    Asked of the same APScheduler trigger the engine schedules with (engine/timers.py), from a
    fixed instant so the answer never depends on the clock; the search ends at year 9999."""
    if trigger.kind != "cron" or trigger.arg is None:
        return False
    from datetime import UTC, datetime

    cron = cron_trigger(trigger.arg)
    return cron.get_next_fire_time(None, datetime(2000, 1, 1, tzinfo=UTC)) is None
