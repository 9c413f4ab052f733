"""Timers on the event clock: `cron`, `every` and `before_funding` triggers.

Each timer knows only its next fire time, so checking it on every event costs one
comparison. Replays fire them from data timestamps; a live runner keeps the clock moving
with heartbeat events, so the same engine fires the same timers either way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rulebot.rulebook.compiled import CompiledRulebook
from rulebot.rulebook.cron import cron_trigger

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

# The shortest funding interval Binance sets (FACTS §11: 8 h by default, 4 h or 1 h for some symbols).
# `before_funding` comes due on this grid; each symbol's own schedule decides where it fires (clock.py).
FUNDING_GRID_MS = 3_600_000
NEVER_MS = 2**62  # the fire time of a timer that never fires: after any event's time


class _Timer:
    __slots__ = ("cron", "key", "next", "offset_ms", "period_ms")

    def __init__(
        self, key: tuple[str, str | None], period_ms: int = 0, offset_ms: int = 0, cron: BaseTrigger | None = None
    ) -> None:
        self.key = key
        self.period_ms = period_ms
        self.offset_ms = offset_ms
        self.cron = cron
        self.next: int | None = None

    def following(self, after: int) -> int:
        """The first fire time strictly after `after` (ms)."""
        if self.cron is not None:
            now = datetime.fromtimestamp(after / 1000, UTC)
            nxt = self.cron.get_next_fire_time(None, now)
            if nxt is not None and int(nxt.timestamp() * 1000) <= after:  # it may return `now` when it matches
                nxt = self.cron.get_next_fire_time(None, datetime.fromtimestamp((after + 1000) / 1000, UTC))
            # A cron that matches no date (`0 0 30 2 *`, which the compiler warns of) never comes due.
            return int(nxt.timestamp() * 1000) if nxt is not None else NEVER_MS
        k = (after - self.offset_ms) // self.period_ms + 1
        return k * self.period_ms + self.offset_ms


class TimerWheel:
    def __init__(self, book: CompiledRulebook) -> None:
        self.timers: list[_Timer] = []
        # before_funding key → how long before a settlement (ms): the clock fires it for a symbol only
        # where that symbol settles then.
        self.before_funding: dict[tuple[str, str | None], int] = {}
        self.next_due: int | None = None  # None until armed; then the earliest fire time
        for key in sorted(book.triggers, key=str):
            kind, arg = key
            if kind == "cron" and arg:
                # cron_trigger imports apscheduler only when called: its cron module costs a process
                # start tens of ms, and most rulebooks have no cron rule.
                self.timers.append(_Timer(key, cron=cron_trigger(arg)))
            elif kind == "every" and arg:
                rule = next(r for r in book.rules if r.trigger.key == key)
                assert rule.trigger.seconds is not None
                self.timers.append(_Timer(key, period_ms=rule.trigger.seconds * 1000))
            elif kind == "before_funding" and arg:
                rule = next(r for r in book.rules if r.trigger.key == key)
                assert rule.trigger.seconds is not None
                before = rule.trigger.seconds * 1000
                self.before_funding[key] = before
                self.timers.append(_Timer(key, FUNDING_GRID_MS, -before % FUNDING_GRID_MS))

    def due(self, last: int, now: int) -> list[tuple[int, tuple[str, str | None]]]:
        """Fire times in (last, now], oldest first. The first call only arms the timers."""
        out: list[tuple[int, tuple[str, str | None]]] = []
        for t in self.timers:
            if t.next is None:
                t.next = t.following(now if last == 0 else last)
            while t.next <= now:
                out.append((t.next, t.key))
                t.next = t.following(t.next)
        out.sort()
        self.next_due = min((t.next for t in self.timers if t.next is not None), default=1 << 62)
        return out


# Counting a cron timer's fire times one by one over a long stop would take a while: past this many
# the count is given as "at least".
MISSED_COUNT_LIMIT = 1_000


def missed(book: CompiledRulebook, after: int, until: int) -> list[tuple[tuple[str, str | None], int, int, int]]:
    """The `cron` and `every` timers of `book` that came due in (after, until] (ms), as (key, how many
    times, the last of them, the next after `until`): what a bot stopped over that span did not fire.
    A restarted engine arms its timers afresh (`TimerWheel.due`), so they are not made up.
    `before_funding` is left out: where it falls depends on each symbol's funding schedule."""
    out = []
    for t in TimerWheel(book).timers:
        if t.key[0] == "before_funding":
            continue
        first = t.following(after)
        if first > until:
            continue
        if t.cron is None:
            count = (until - first) // t.period_ms + 1
            last = first + (count - 1) * t.period_ms
        else:
            count, last = 1, first
            while count < MISSED_COUNT_LIMIT and (nxt := t.following(last)) <= until:
                count, last = count + 1, nxt
        out.append((t.key, count, last, t.following(until)))
    return out
