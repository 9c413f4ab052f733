"""Wakes the engine at its own next deadline when the market is silent.

The engine acts on its clock only as events carry it forward (pure core: it never reads the wall
clock). Its rule timers and the day roll have the scheduler (scheduler.py); its own deadlines did not:
the protective-stop guard's countdown, a refused exit's (or cancel's) retry, a state's timeout. With the market
stream silent (an outage, a stall) a position whose stop was lost sat without one for as long as the
silence lasted, however short `protective_stop_within`. This delivers a `Timer` event (it only moves
the clock) once the exchange's clock reaches the earliest of them, as the scheduler does for a timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from rulebot.core.events import Timer
from rulebot.engine.engine import Engine
from rulebot.engine.risk.event import NEVER

NAME = "engine deadline"


def next_deadline(engine: Engine) -> int:
    """The earliest time the engine's clock alone makes it act on its own (rule timers aside)."""
    st = engine.state
    waiting = st.cancel_retries or any(run.exiting is not None for run in st.runs.values())
    retry = st.next_retry if waiting else NEVER  # a refused exit's, or a refused cancel's
    return min(st.next_protect, st.next_timeout, retry)


class DeadlineWake:
    """`arm(at)` after every step; `deliver` gets a `Timer` once `clock` (the exchange's, ms) reaches `at`."""

    def __init__(self, clock: Callable[[], int], deliver: Callable[[Timer], None]) -> None:
        self._clock = clock
        self._deliver = deliver
        self._at = NEVER
        self._handle: asyncio.TimerHandle | None = None

    def arm(self, at: int) -> None:
        if at == self._at:
            return  # armed for it already, or fired for it (an engine that did not move it is not woken again)
        self.stop()
        self._at = at
        if at < NEVER:
            self._schedule()

    def _schedule(self) -> None:
        delay_s = max(self._at - self._clock(), 0) / 1000 + 0.001
        self._handle = asyncio.get_running_loop().call_later(delay_s, self._fire)

    def _fire(self) -> None:
        self._handle = None
        now = self._clock()
        if now < self._at:  # the exchange's clock runs behind the loop's: not there yet
            self._schedule()
            return
        self._deliver(Timer(now, NAME))

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
