"""The engine's clock: time comes with the events, and what falls due fires on that clock.

Timers (cron, `every`, `before_funding`), state timeouts, the 00:00 UTC day roll, the guards'
deadlines (clock guards: the protective stop), the resend of a refused exit and order expiries
all fire before the event that carries time past them. Most events carry time past nothing:
the engine compares the event's time with these deadlines first (the state's `next_*`, the
timers' `next_due`, the order manager's `next_expiry`) and then only moves the clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rulebot.engine import cancel_retry
from rulebot.engine.risk.event import NEVER
from rulebot.engine.state import DAY_MS, Step

if TYPE_CHECKING:
    from rulebot.engine.engine import Engine
    from rulebot.engine.market import SymbolMarket

_HOUR = 3_600_000


def _settles_at(market: SymbolMarket, time: int) -> bool:
    """Whether the symbol settles funding at `time` (ms): on its own interval's grid (8 h, or the 4 h
    or 1 h its fundingRate rows say), anchored at the next settlement the data announced (rounded
    to the hour: the archive's calc_time is a few ms past it)."""
    nft = market.next_funding_time
    anchor = 0 if nft is None else (nft + _HOUR // 2) // _HOUR * _HOUR
    return (time - anchor) % market.funding_interval_ms == 0


class Clock:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.state = engine.state
        self.book = engine.book
        self.timers = engine.timers
        self._markets = [run.market for run in self.state.runs.values()]
        # Whether any state of this engine's rulebook times out: without one, the next timeout is
        # never, however the symbols move (every `goto` asks).
        self._timeouts = any(spec.timeout_ms is not None and spec.then for spec in self.book.states.values())

    def advance(self, time: int, step: Step) -> None:
        """Fire what fell due up to `time`."""
        eng, st = self.engine, self.state
        st.next_day = (time // DAY_MS + 1) * DAY_MS
        before_funding = self.timers.before_funding
        for due_time, key in self.timers.due(st.time, time):
            self.set_time(due_time)
            self._roll_day(due_time)  # a timer of 00:00 runs in the new day, as the guards count it
            before = before_funding.get(key)
            for symbol, run in st.runs.items():
                if before is None or _settles_at(run.market, due_time + before):
                    eng.rules.dispatch(symbol, key, step)
        self.set_time(time)
        self._roll_day(time)
        states = self.book.states
        for symbol, run in st.runs.items():
            spec = states[run.state]
            if spec.timeout_ms is not None and spec.then and time - run.entered_at >= spec.timeout_ms:
                eng.binding.goto(symbol, spec.then, time, "timeout", step)
        self.update_next_timeout()
        if time >= st.next_protect:
            eng.guards.on_clock(step)
            self.update_next_protect()
        if time >= st.next_retry:
            st.next_retry = NEVER
            for symbol, run in st.runs.items():
                if run.exiting is not None:
                    eng.binding.check(symbol, time, step)
            if st.cancel_retries:
                step.commands.extend(cancel_retry.due(st, time))
        step.commands.extend(st.oms.expire(time))

    def _roll_day(self, time: int) -> None:
        st = self.state
        if st.portfolio.on_time(time):
            if st.daily_breach_day != time // DAY_MS:
                st.daily_breach_day = None  # a breach holds for the rest of its own day only
            st.cap_stale = True  # a new start equity moves every cap price

    def update_next_timeout(self) -> None:
        if not self._timeouts:
            self.state.next_timeout = NEVER
            return
        nxt = NEVER
        states = self.book.states
        for run in self.state.runs.values():
            spec = states.get(run.state)  # None only while a reload moves a removed state
            if spec is not None and spec.timeout_ms is not None and spec.then:
                nxt = min(nxt, run.entered_at + spec.timeout_ms)
        self.state.next_timeout = nxt

    def update_next_protect(self) -> None:
        runs = self.state.runs
        if len(runs) == 1:  # one symbol (the usual run): its deadline, without a generator for min()
            for run in runs.values():
                self.state.next_protect = run.guard.protect_deadline
            return
        self.state.next_protect = min((r.guard.protect_deadline for r in runs.values()), default=NEVER)

    def set_time(self, time: int) -> None:
        self.state.time = time
        for market in self._markets:
            market.set_clock(time)
