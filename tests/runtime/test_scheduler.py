"""The live bot's wall-clock scheduler (rulebot/runtime/scheduler.py)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

from rulebot.core.events import Timer
from rulebot.rulebook.compiler import compile_text
from rulebot.runtime.scheduler import TimerScheduler, next_fire_times

BOOK = """\
rulebook: far
market: usdm
symbols: [BTCUSDT]
rules:
  - name: rarely
    on: every 1000000w
    do: [{log: "once in 19,000 years"}]
"""


def test_a_timer_due_past_the_year_9999_never_fires_instead_of_stopping_the_bot():
    """`rulebot validate` passes it (and a backtest runs it), but a dry-run or live start ended with
    "error: year 21135 is out of range": the scheduler turned the engine's fire time into a datetime."""
    nxt = next_fire_times(compile_text(BOOK), datetime(2026, 12, 7, 12, tzinfo=UTC))
    assert nxt["every 1000000w"] is None
    assert nxt["daily-reset"] == datetime(2026, 12, 8, tzinfo=UTC)


EVERY_2S = """\
rulebook: often
market: usdm
symbols: [BTCUSDT]
rules:
  - name: tick
    on: every 2s
    do: [{log: "tick"}]
"""


def _wall_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def _deliveries(behind_ms: int, seconds: float) -> list[Timer]:
    got: list[Timer] = []

    async def main() -> None:
        sched = TimerScheduler(compile_text(EVERY_2S), got.append, clock=lambda: _wall_ms() - behind_ms)
        sched.start()
        await asyncio.sleep(seconds)
        sched.stop()

    asyncio.run(main())
    return got


def test_a_timer_reaches_its_fire_time_on_the_exchange_clock_when_the_local_clock_runs_ahead():
    """The wall clock fires a timer at its time; the event is stamped with the exchange's clock. With
    the local clock 300 ms ahead of Binance's, every Timer event fell 300 ms short of the fire time,
    and the engine fires a rule only once an event carries its clock past that time: the `every 2s`
    rule waited for the next market event, and in a stream outage for the next tick (a daily cron:
    a day late)."""
    got = _deliveries(300, 2.6)
    ticks = [t for t in got if t.name == "every 2s"]
    assert ticks, "no timer fired in 2.6 s"
    # Fire times are multiples of 2 s: an event at or just past one carries the engine's clock past it.
    assert any(t.time % 2000 < 1000 for t in ticks), f"every tick fell short: {[t.time % 2000 for t in ticks]}"


def test_timers_are_delivered_on_the_event_loops_thread():
    """The runner's `push` puts the timer on an asyncio queue, which only the loop's own thread may
    touch. The job ran on APScheduler's worker thread: an idle loop waiting on that queue was not
    woken, and the timer waited for the next market event or network read."""
    threads: list[str] = []

    async def main() -> None:
        sched = TimerScheduler(compile_text(EVERY_2S), lambda t: threads.append(threading.current_thread().name))
        sched.start()
        await asyncio.sleep(2.2)
        sched.stop()

    asyncio.run(main())
    assert threads and set(threads) == {threading.current_thread().name}
