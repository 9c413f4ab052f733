"""The running bot's session: the one session loop (`session.py`) on a run venue
(`run_venues.py`: the paper account for a dry-run, Binance's order lanes live), with the
journal as the runtime keeps it.

Each call (a market event, a report, an answer, a step of the runner's own) runs the session
synchronously: it collects the rows of everything that happened (records, commands, reports)
while the venue holds what must not leave yet. Then the rows are written as one journal step,
durable (synchronous=FULL) when it holds a command, and only then does the venue send what it
held (write-ahead: a restarted bot never sends an order twice, and never meets one it does not
know). A write that fails drops what was held.
"""

from __future__ import annotations

from collections.abc import Callable

from rulebot.core.account_events import AccountEvent
from rulebot.core.commands import Command, PlaceOrder
from rulebot.engine import records as rec
from rulebot.engine.binding import CLOSING_PURPOSES
from rulebot.engine.engine import Engine, Step
from rulebot.journal.encode import Row, status_row, to_row
from rulebot.journal.writer import Journal
from rulebot.runtime.run_venues import OrderLane, Outcome, RunVenue
from rulebot.session import Session, unknown_fate

__all__ = ["Executor", "OrderLane", "Outcome"]


class Executor:
    def __init__(
        self,
        engine: Engine,
        journal: Journal,
        venue: RunVenue,
        *,
        on_unknown: Callable[[str], None] = lambda why: None,
        on_rule_error: Callable[[rec.Decision], None] = lambda decision: None,
    ) -> None:
        self.journal = journal
        self.venue = venue
        self.session = Session(engine, venue, journal=self._collect, on_refused=self._refusing)
        self._on_unknown = on_unknown  # an order's fate (or the position) is unknown: the runner reconciles
        self._on_rule_error = on_rule_error  # a condition failed at run time: the runner says so
        self._daily_seen: tuple[object, int | None] = (None, None)
        self._rows: list[Row] = []  # what the session did since the last journal step
        self._commands = False  # ... and whether a command is among it (a durable step)
        self._errors: list[rec.Decision] = []  # failed conditions among it, said once written

    @property
    def engine(self) -> Engine:
        """The running engine; a hot reload replaces it."""
        return self.session.engine

    @engine.setter
    def engine(self, engine: Engine) -> None:
        self.session.engine = engine

    # -- what comes in ---------------------------------------------------------------------------

    async def market(self, event: object, t: int) -> None:
        """A market event: the venue first (paper fills), then the engine."""
        self.session.market(event)
        await self._done(t)

    async def timer(self, event: object, t: int) -> None:
        """A timer: the engine's alone (no venue fills on it)."""
        self.session.engine_step(event)
        await self._done(t)

    async def account(self, event: AccountEvent, t: int) -> None:
        """A report from the venue (a fill, an order or account update, a stream status)."""
        self.session.reports((event,), t)
        await self._done(t)

    async def process(self, step: Step, t: int) -> None:
        """A step of the runner's own (the start, an exit, a reload, an adoption)."""
        self.session.process(step, t)
        await self._done(t)

    async def settle(self, outcome: Outcome) -> None:
        """What the venue answered in the background: nothing to do when accepted; a refusal goes
        to the engine; an unknown fate is left as sent and reconciled."""
        cmd, result, t = outcome.command, outcome.result, outcome.time
        self.venue.answered(outcome)
        if outcome.report is not None:  # the venue answered in the exchange's place (a withdrawn order)
            await self.account(outcome.report, outcome.report.time)
            return
        if result.ok:
            return
        cid = getattr(cmd, "client_order_id", "")
        msg = result.message or ""
        if result.unknown:
            # It may have executed: refusing it in the engine could send it again. It stays
            # as sent; its own updates on the user stream, or a reconciliation, settle it. A cancel
            # is sent again while its orders work (a second cancel of an order cancelled is harmless).
            again = unknown_fate(self.engine, cmd, t) or "not sent again"
            await self.note(t, "order-unknown", f"{type(cmd).__name__} {cid}: {msg}; {again}; reconciling")
            self._on_unknown(f"order {cid} of unknown fate")
            return
        record = self.engine.order(cid) if isinstance(cmd, PlaceOrder) else None
        self.session.refused(cmd, result.code, msg, t)  # the policy every way of running shares
        await self._done(t)
        if record is not None and record.purpose in CLOSING_PURPOSES:
            # A refused exit may mean the bot's idea of the position is wrong (closed by hand,
            # by a stop whose report was lost): read it again before the exit is sent again.
            self._on_unknown(f"exit {cid} refused ({result.code})")

    async def order_refused(self, cmd: PlaceOrder, code: int | None, msg: str, t: int) -> None:
        """The order never existed on the exchange (found when reconciling): as if refused."""
        self.session.refused(cmd, code, msg, t)
        await self._done(t)

    async def note(self, t: int, kind: str, message: str) -> None:
        await self.journal.write(Row(t, "notice", {"kind": kind, "message": message}))

    # -- the journal step, then the venue --------------------------------------------------------

    def _collect(self, item: object) -> None:
        """The session's journal: every record, command and report, in order, kept for the step."""
        row = to_row(item, self.session.engine.book.source_hash)
        if row is None:
            return
        self._rows.append(row)
        if isinstance(item, Command):
            self._commands = True
        elif type(item) is rec.Decision and item.error is not None:
            self._errors.append(item)

    def _refusing(self, cmd: Command, code: int | None, message: str, t: int) -> None:
        """A refused order never existed on the exchange: its status is journaled here, since no
        venue update will give it (`audit orders` shows it, not an empty one)."""
        if isinstance(cmd, PlaceOrder):
            self._rows.append(status_row(cmd, "REJECTED", message, t, code=code))

    async def _done(self, t: int) -> None:
        """Write what the session did as one step (write-ahead), then let the venue send it."""
        rows, durable, errors = self._rows, self._commands, self._errors
        daily = self._daily_row(t)
        if daily is not None:
            rows.append(daily)
        if rows:
            self._rows, self._commands, self._errors = [], False, []
            try:
                await self.journal.write_step(rows, durable=durable)  # durable: survives a power loss
            except BaseException:
                self.venue.forget()  # nothing unjournaled may leave
                raise
            for decision in errors:
                self._on_rule_error(decision)
        await self.venue.release(self.settle)
        if rows:
            await self.journal.checkpoint_if_due()  # after the orders left, never before

    def _daily_row(self, t: int) -> Row | None:
        """The daily-loss state when it changed (a new day, a breach): what a restart restores."""
        engine = self.engine
        today, breach = engine.today, engine.daily_breach_day
        if today is None or (today is self._daily_seen[0] and breach == self._daily_seen[1]):
            return None
        self._daily_seen = (today, breach)
        daily = engine.daily_state()
        assert daily is not None
        body = {
            "day": daily.day,
            "start_equity": {k: str(v) for k, v in daily.start_equity.items()},
            "breached": daily.breached,
        }
        return Row(t, "daily", body)

    async def drain(self, timeout_s: float) -> bool:
        """Wait until every command sent has its answer (False if `timeout_s` passed first)."""
        return await self.venue.drain(timeout_s)

    async def close(self) -> None:
        await self.venue.close()
