"""Engine steps out to the venue: each step journaled before its commands leave (write-ahead),
then its commands executed — on the paper venue (a dry-run) or on Binance (live) — and what
the venue reports or refuses handed back to the engine, journaled the same way.

Live, a command's answer can take seconds (a slow or held REST answer). The engine's task must
not wait for it: while it waits, no market event, no fill, no exit and no kill is processed, on
any symbol. So live commands go out in the background, one lane per symbol: a lane sends its
commands one at a time, in the order the engine gave them (a stop never overtakes its entry, a
cancel never overtakes its order), and hands each answer back as an `Outcome`, which the runner
settles on the engine's task like any other event. Commands of no symbol (the position mode)
are account setup and go out inline, before anything queued after them. The paper venue answers
at once and stays inline.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rulebot.core.account_events import AccountEvent
from rulebot.core.commands import Command, PlaceOrder
from rulebot.engine import records as rec
from rulebot.engine.binding import CLOSING_PURPOSES
from rulebot.engine.engine import Engine, Step
from rulebot.journal.encode import Row, to_row
from rulebot.journal.writer import Journal
from rulebot.runtime import paper_account
from rulebot.runtime.recovery import status_row
from rulebot.session import refusal
from rulebot.venues.binance.venue import BinanceVenue, VenueResult
from rulebot.venues.paper import PaperVenue


@dataclass(frozen=True, slots=True)
class Outcome:
    """A venue's answer to a command sent in the background, to be settled on the engine's task."""

    command: Command
    result: VenueResult
    time: int  # the engine time of the step that sent it
    sent_at: int = 0  # when it left, on the exchange's clock (ms)


class OrderLane:
    """One symbol's commands, sent one at a time in order; each answer goes to `deliver`."""

    def __init__(self, venue: BinanceVenue, deliver: Callable[[Outcome], None]) -> None:
        self._venue = venue
        self._deliver = deliver
        self.queue: asyncio.Queue[tuple[Command, int]] = asyncio.Queue()
        self.task = asyncio.create_task(self._run(), name="order-lane")

    async def _run(self) -> None:
        venue = self._venue
        while True:
            cmd, t = await self.queue.get()
            try:
                sent_at = venue.rest.now_ms()
                try:
                    result = await venue.execute(cmd)
                except Exception as exc:  # execute() never raises for Binance or the network: a bug
                    result = VenueResult(False, None, f"{type(exc).__name__}: {exc}", unknown=True)
                self._deliver(Outcome(cmd, result, t, sent_at))
            finally:
                self.queue.task_done()


class Executor:
    def __init__(
        self,
        engine: Engine,
        journal: Journal,
        *,
        paper: PaperVenue | None = None,
        venue: BinanceVenue | None = None,
        on_unknown: Callable[[str], None] = lambda why: None,
        on_rule_error: Callable[[rec.Decision], None] = lambda decision: None,
        on_outcome: Callable[[Outcome], None] | None = None,
        paper_file: Path | None = None,
    ) -> None:
        if (paper is None) == (venue is None):
            raise ValueError("an executor sends to the paper venue or to Binance: give exactly one")
        self.engine = engine  # the running engine; a hot reload replaces it
        self.journal = journal
        self.paper = paper
        self.venue = venue
        self._on_unknown = on_unknown  # an order's fate (or the position) is unknown: the runner reconciles
        self._daily_seen: tuple[object, int | None] = (None, None)
        self._on_rule_error = on_rule_error  # a condition failed at run time: the runner says so
        # Live: answers come back through the runner's queue (None: every command inline).
        self._on_outcome = on_outcome
        self.paper_file = paper_file  # a dry-run keeps its paper account here (paper_account.py)
        self._lanes: dict[str, OrderLane] = {}
        # Client order ids sent in the background whose answer the engine has not settled yet,
        # and when an order of unknown fate left: a reconciliation must not take either for lost.
        self.in_flight: dict[str, int] = {}
        self.unknown_sent_at: dict[str, int] = {}

    async def process(self, step: Step, t: int) -> None:
        """Journal the step (write-ahead), then send its commands."""
        engine = self.engine
        daily = self._daily_row(t)
        if not step.records and not step.commands and daily is None:
            return
        rows = [r for r in (to_row(x, engine.book.source_hash) for x in (*step.records, *step.commands)) if r]
        if daily is not None:
            rows.append(daily)
        await self.journal.write_step(rows, durable=bool(step.commands))  # write-ahead: survives a power loss
        for record in step.records:
            if type(record) is rec.Decision and record.error is not None:
                self._on_rule_error(record)
        queued = False
        for cmd in step.commands:
            queued = await self._send(cmd, t) or queued
        if queued:
            await asyncio.sleep(0)  # the lanes start their requests now, not after the next event
        await self.journal.checkpoint_if_due()  # after the orders left, never before

    async def account(self, event: AccountEvent, t: int) -> None:
        """A report from the venue (a fill, an order or account update, a stream status)."""
        row = to_row(event, self.engine.book.source_hash)
        if row is not None:
            await self.journal.write(row)
        await self.process(self.engine.on_event(event), t)

    async def note(self, t: int, kind: str, message: str) -> None:
        await self.journal.write(Row(t, "notice", {"kind": kind, "message": message}))

    def _daily_row(self, t: int) -> Row | None:
        """The daily-loss state when it changed (a new day, a breach): what a restart restores."""
        engine = self.engine
        today, breach = engine.today, engine.daily_breach_day
        if today is None or (today is self._daily_seen[0] and breach == self._daily_seen[1]):
            return None
        self._daily_seen = (today, breach)
        daily = engine.daily_state()
        assert daily is not None
        body = {"day": daily.day, "start_equity": {k: str(v) for k, v in daily.start_equity.items()},
                "breached": daily.breached}  # fmt: skip
        return Row(t, "daily", body)

    async def _send(self, cmd: Command, t: int) -> bool:
        """Execute `cmd`; True when it went to a lane (its answer comes back as an `Outcome`)."""
        if self.paper is not None:
            res = self.paper.execute(cmd, t)
            self.save_paper()  # the account first, as on an exchange: the journal may lag it, never lead
            for ev in res.events:
                await self.account(ev, t)
            if not res.ok:
                await self._refused(cmd, res.code, res.message or "", t)
            return False
        venue = self.venue
        assert venue is not None
        symbol = getattr(cmd, "symbol", "")
        if self._on_outcome is None or not symbol:
            sent_at = venue.rest.now_ms()
            await self.settle(Outcome(cmd, await venue.execute(cmd), t, sent_at))
            return False
        lane = self._lanes.get(symbol)
        if lane is None:
            lane = self._lanes[symbol] = OrderLane(venue, self._answered)
        cid = getattr(cmd, "client_order_id", "")
        if cid:
            self.in_flight[cid] = self.in_flight.get(cid, 0) + 1
        lane.queue.put_nowait((cmd, t))
        return True

    def save_paper(self) -> None:
        """Keep the paper account in the run directory (atomically; see paper_account.py)."""
        if self.paper is not None and self.paper_file is not None:
            paper_account.save(self.paper.sim, self.paper_file)

    def _answered(self, outcome: Outcome) -> None:
        """A lane's answer. Accepted (the common case): nothing for the engine to do, so it does not
        go through the runner's queue; a refusal or an unknown fate does, to be settled there."""
        if outcome.result.ok:
            self._landed(outcome.command)
        elif self._on_outcome is not None:
            self._on_outcome(outcome)

    def _landed(self, cmd: Command) -> None:
        cid = getattr(cmd, "client_order_id", "")
        if cid in self.in_flight:
            self.in_flight[cid] -= 1
            if self.in_flight[cid] <= 0:
                del self.in_flight[cid]

    async def settle(self, outcome: Outcome) -> None:
        """What the venue answered: nothing to do when accepted; a refusal goes to the engine; an
        unknown fate is left as sent and reconciled."""
        cmd, result, t = outcome.command, outcome.result, outcome.time
        cid = getattr(cmd, "client_order_id", "")
        self._landed(cmd)
        if result.ok:
            return
        msg = result.message or ""
        if result.unknown:
            # It may have executed: refusing it in the engine could send it again. It stays
            # as sent; its own updates on the user stream, or a reconciliation, settle it.
            if cid:
                self.unknown_sent_at[cid] = outcome.sent_at
            await self.note(t, "order-unknown", f"{type(cmd).__name__} {cid}: {msg}; not sent again, reconciling")
            self._on_unknown(f"order {cid} of unknown fate")
            return
        await self._refused(cmd, result.code, msg, t)

    async def drain(self, timeout_s: float) -> bool:
        """Wait until every lane has its answers (False if `timeout_s` passed first)."""
        joins = [asyncio.create_task(lane.queue.join()) for lane in self._lanes.values()]
        if not joins:
            return True
        _, pending = await asyncio.wait(joins, timeout=timeout_s)
        for task in pending:
            task.cancel()
        return not pending

    async def close(self) -> None:
        """Stop the lanes (after `drain`: what is still unanswered is abandoned)."""
        for lane in self._lanes.values():
            lane.task.cancel()
        for lane in self._lanes.values():
            with contextlib.suppress(asyncio.CancelledError):
                await lane.task
        self._lanes.clear()

    async def order_refused(self, cmd: PlaceOrder, code: int | None, msg: str, t: int) -> None:
        """The order never existed on the exchange: journal its status (no venue update will),
        then let the engine repair its state."""
        await self.journal.write(status_row(cmd, "REJECTED", msg, t, code=code))
        refused = refusal(self.engine, cmd, code, msg, t)
        assert refused.step is not None
        await self.process(refused.step, t)

    async def _refused(self, cmd: Command, code: int | None, msg: str, t: int) -> None:
        if isinstance(cmd, PlaceOrder):
            record = self.engine.order(cmd.client_order_id)
            await self.order_refused(cmd, code, msg, t)
            if record is not None and record.purpose in CLOSING_PURPOSES:
                # A refused exit may mean the bot's idea of the position is wrong (closed by hand,
                # by a stop whose report was lost): read it again before the exit is sent again.
                self._on_unknown(f"exit {cmd.client_order_id} refused ({code})")
            return
        refused = refusal(self.engine, cmd, code, msg, t)  # the policy every way of running shares
        if refused.step is not None:
            await self.process(refused.step, t)
        if refused.notice is not None:
            await self.note(t, refused.notice.kind, refused.notice.message)
