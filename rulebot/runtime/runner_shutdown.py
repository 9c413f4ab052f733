"""Shutdown of the runner, by the kill-switch policy (`killswitch.py`): background tasks stopped, the
exit step processed, answers still out settled, entries cancelled if the journal broke, sessions closed."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from rulebot.core.account_events import AccountEvent
from rulebot.engine.engine import Engine
from rulebot.journal.encode import Row
from rulebot.journal.writer import Journal, JournalWriteError
from rulebot.runtime.executor import Outcome
from rulebot.runtime.killswitch import exit_step, kept_step
from rulebot.runtime.run_config import (
    SEND_TIMEOUT_S,
    _now,
    _Request,
)


class RunnerShutdown:
    """The runner's shutdown (a part of `Runner`)."""

    async def _shutdown(self, journal: Journal) -> None:
        try:
            await self._wind_down(journal)
        finally:
            await journal.close()  # always: its writer thread, left running, would keep the process alive
            self._remove_signals()

    async def _wind_down(self, journal: Journal) -> None:
        engine = self.engine
        # Requests that came in behind the one that stopped the loop are answered now: left, each
        # caller (`rulebot kill` run twice) would wait out its timeout for an answer that never came.
        for item in self._urgent:
            if isinstance(item, _Request) and not item.done.done():
                item.done.set_result(self.stopping_answer(item.kind))
        self._urgent = deque(i for i in self._urgent if not isinstance(i, _Request))
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._scheduler is not None:
            self._scheduler.stop()
        if self._wake is not None:
            self._wake.stop()
            self._wake = None
        if engine is not None and not journal.broken and self.stopping is not None:
            try:
                t = engine.time
                await self._process(exit_step(engine, self.stopping, self.stop_reason or "shutdown"), t)
                await self._settle_sends()
                if self.live:
                    await asyncio.sleep(0.5)  # let the last fills arrive on the user stream
                    while not self.queue.empty():
                        item = self.queue.get_nowait()
                        if isinstance(item, AccountEvent):
                            await self._event(item, engine.time)
                if self.stopping == "keep":  # a stop refused since the kill leaves its position bare
                    await self._process(kept_step(engine, self.stop_reason or "shutdown"), engine.time)
                    await self._settle_sends()
            except JournalWriteError:
                pass  # handled below, as if it had failed earlier
        if not journal.broken:
            with contextlib.suppress(JournalWriteError):
                await self._settle_sends()  # nothing may be cut off mid-request by closing the session
        if engine is not None and journal.broken:
            self.stopping = "keep"
            await self._cancel_entries_unjournaled(engine)
        if self.desk is not None:
            with contextlib.suppress(OSError):  # a full disk must not hide why the bot stopped
                await self.desk.close()  # the lanes stopped; the paper account saved
        if self._heartbeat and self.venue is not None:
            if self.stopping == "flatten":
                self.venue.stop_heartbeat_task()
            else:
                await self.venue.stop_heartbeat(self.book.symbols)
        if self.user_events is not None:
            await self.user_events.stop()
        if self._control is not None:
            await self._control.stop()
        await self._close_sessions()
        body = {
            "reason": self.stop_reason,
            "policy": self.stopping,
            "events": self.events,
            "events_by_type": self.events_by_type,
        }
        # Run start and stop are wall-clock times; events keep their own.
        if not journal.broken:
            await journal.write(Row(_now(), "run_stop", body, version=self.book.source_hash))

    async def _cancel_entries_unjournaled(self, engine: Engine) -> None:
        """The journal cannot be written: cancel the working entries (a cancel can never add to a
        position, so it needs no write-ahead row) and leave positions with their exchange-side
        stops. Nothing else is sent: an order not journaled first could be sent twice."""
        desk, t = self._desk(), engine.time
        for cmd in engine.entry_cancels(t):
            with contextlib.suppress(Exception):  # what it can: the exchange may be unreachable too
                if await desk.venue.send_unjournaled(cmd, t):
                    self.cancelled_unjournaled.append(cmd.client_order_id)

    async def _settle_sends(self, timeout_s: float = SEND_TIMEOUT_S) -> None:
        """Wait for the answers of commands still out (live), and settle them and what they cause."""
        desk = self.desk
        if desk is None:
            return
        for _ in range(5):  # a refusal may cause commands (a repair), whose answers come back too
            if not await desk.drain(timeout_s):
                await self._note(desk.engine.time, "shutdown", f"order answers still outstanding after {timeout_s:g} s")
            outcomes = [i for i in self._urgent if isinstance(i, Outcome)]
            if not outcomes:
                return
            self._urgent = deque(i for i in self._urgent if not isinstance(i, Outcome))
            for outcome in outcomes:
                await desk.settle(outcome)
