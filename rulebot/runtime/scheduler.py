"""Wall-clock timers for a live bot: APScheduler fires `cron`, `every`, `before_funding` and the
00:00 UTC day roll, each as a `Timer` event at its due time.

The engine fires exactly the rules that are due when an event carries its clock past their
time (`engine/timers.py`), so the scheduler only has to make sure such an event arrives on
time even when the market is quiet; in replay the data clock does it and no scheduler runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from rulebot.core.events import Timer
from rulebot.engine.timers import NEVER_MS, TimerWheel
from rulebot.rulebook.compiled import CompiledRulebook

_LAST_MS = int(datetime.max.replace(tzinfo=UTC).timestamp() * 1000)


class _EngineTimer(BaseTrigger):  # type: ignore[misc]
    """Fires when one of the engine's own timers falls due: the same arithmetic as the engine's
    wheel (`engine/timers.py`), so the wall clock and the engine agree to the millisecond."""

    def __init__(self, following: Callable[[int], int]) -> None:
        self._following = following  # ms → the first fire time strictly after it

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        # A first call asks from `now`, which may itself be a fire time.
        after = int(previous_fire_time.timestamp() * 1000) if previous_fire_time else int(now.timestamp() * 1000) - 1
        ms = self._following(after)
        # None: APScheduler's "never"; past the year 9999 (`every 1000000w`) no datetime holds it.
        return None if ms >= min(NEVER_MS, _LAST_MS) else datetime.fromtimestamp(ms / 1000, UTC)


def triggers_for(book: CompiledRulebook) -> dict[str, BaseTrigger]:
    """One APScheduler trigger per timer of the rulebook, plus the daily reset."""
    out: dict[str, BaseTrigger] = {"daily-reset": CronTrigger(hour=0, minute=0, second=0, timezone=UTC)}
    for timer in TimerWheel(book).timers:
        kind, arg = timer.key
        out[f"{kind} {arg}"] = _EngineTimer(timer.following)
    return out


def next_fire_times(book: CompiledRulebook, now: datetime) -> dict[str, datetime | None]:
    return {name: trig.get_next_fire_time(None, now) for name, trig in triggers_for(book).items()}


class TimerScheduler:
    def __init__(
        self, book: CompiledRulebook, deliver: Callable[[Timer], None], clock: Callable[[], int] | None = None
    ) -> None:
        self._deliver = deliver
        self._clock = clock  # the exchange's clock (ms) when known: a timer's time is on the data's clock
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self.fired: list[str] = []
        self.replace(book)

    def replace(self, book: CompiledRulebook) -> None:
        """A reloaded rulebook brings its own timers."""
        self._scheduler.remove_all_jobs()
        for name, trigger in triggers_for(book).items():
            self._scheduler.add_job(
                self._fire, trigger, args=[name], id=name, misfire_grace_time=30, coalesce=True, max_instances=1
            )

    async def _fire(self, name: str) -> None:
        # A coroutine: APScheduler's asyncio executor runs it on the event loop. A plain function ran
        # on a worker thread, and `deliver` (the runner's asyncio queue) is not thread-safe: an idle
        # loop was not woken by a timer put on it from there.
        self.fired.append(name)
        wall = int(datetime.now(UTC).timestamp() * 1000)
        now = self._clock() if self._clock is not None else wall
        self._deliver(Timer(now, name))
        if now < wall:
            # The wall clock reached the fire time, the exchange's clock (the event's) has not: the engine
            # fires a rule only once an event carries its clock past the time, so in a quiet market or a
            # stream outage the rule would wait for the next tick (a daily cron: a day). A second event
            # once the exchange's clock has caught up carries it past (a Timer event only moves the clock).
            loop = asyncio.get_running_loop()
            loop.call_later((wall - now + 1) / 1000, self._catch_up, name)

    def _catch_up(self, name: str) -> None:
        if self._scheduler.running:
            assert self._clock is not None
            self._deliver(Timer(self._clock(), name))

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
