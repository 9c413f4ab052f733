"""Wall-clock timers for a live bot: APScheduler fires `cron`, `every`, `before_funding` and the
00:00 UTC day roll, each as a `Timer` event at its due time.

The engine fires exactly the rules that are due when an event carries its clock past their
time (`engine/timers.py`), so the scheduler only has to make sure such an event arrives on
time even when the market is quiet; in replay the data clock does it and no scheduler runs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from rulebot.core.events import Timer
from rulebot.rulebook.compiled import CompiledRulebook

FUNDING_HOURS = "0,8,16"


def triggers_for(book: CompiledRulebook) -> dict[str, BaseTrigger]:
    """One APScheduler trigger per timer of the rulebook, plus the daily reset."""
    out: dict[str, BaseTrigger] = {"daily-reset": CronTrigger(hour=0, minute=0, second=0, timezone=UTC)}
    for key in sorted(book.triggers, key=str):
        kind, arg = key
        rule = next((r for r in book.rules if r.trigger.key == key), None)
        if kind == "cron" and arg:
            out[f"cron {arg}"] = CronTrigger.from_crontab(arg, timezone=UTC)
        elif kind == "every" and rule is not None and rule.trigger.seconds:
            out[f"every {arg}"] = IntervalTrigger(
                seconds=rule.trigger.seconds, timezone=UTC, start_date=datetime(1970, 1, 1, tzinfo=UTC)
            )
        elif kind == "before_funding" and rule is not None and rule.trigger.seconds is not None:
            s = rule.trigger.seconds
            # hh:mm:ss before each settlement (00:00, 08:00, 16:00 UTC)
            minutes, sec = divmod((8 * 3600 - s % (8 * 3600)) % (8 * 3600), 60)
            hour_off, minute = divmod(minutes, 60)
            hours = ",".join(str((h + hour_off) % 24) for h in (0, 8, 16))
            out[f"before_funding {arg}"] = CronTrigger(hour=hours, minute=minute, second=sec, timezone=UTC)
    return out


def next_fire_times(book: CompiledRulebook, now: datetime) -> dict[str, datetime]:
    return {name: trig.get_next_fire_time(None, now) for name, trig in triggers_for(book).items()}


class TimerScheduler:
    def __init__(self, book: CompiledRulebook, deliver: Callable[[Timer], None]) -> None:
        self._deliver = deliver
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

    def _fire(self, name: str) -> None:
        self.fired.append(name)
        now = datetime.now(UTC)
        self._deliver(Timer(int(now.timestamp() * 1000), name))

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
