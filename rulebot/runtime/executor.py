"""Engine steps out to the venue: each step journaled before its commands leave (write-ahead),
then its commands executed — on the paper venue (a dry-run) or on Binance (live) — and what
the venue reports or refuses handed back to the engine, journaled the same way."""

from __future__ import annotations

from collections.abc import Callable

from rulebot.core.account_events import AccountEvent
from rulebot.core.commands import CancelOrder, Command, PlaceOrder, SetLeverage, SetMarginType, SetPositionMode
from rulebot.engine import records as rec
from rulebot.engine.engine import Engine, Step
from rulebot.journal.encode import Row, to_row
from rulebot.journal.writer import Journal
from rulebot.venues.binance.venue import BinanceVenue
from rulebot.venues.paper import PaperVenue


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
    ) -> None:
        if (paper is None) == (venue is None):
            raise ValueError("an executor sends to the paper venue or to Binance: give exactly one")
        self.engine = engine  # the running engine; a hot reload replaces it
        self.journal = journal
        self.paper = paper
        self.venue = venue
        self._on_unknown = on_unknown  # an order's fate is unknown: the runner reconciles
        self._daily_seen: tuple[object, int | None] = (None, None)
        self._on_rule_error = on_rule_error  # a condition failed at run time: the runner says so

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
        for cmd in step.commands:
            await self._send(cmd, t)
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
        today, breach = engine.portfolio.today, engine.daily_breach_day
        if today is None or (today is self._daily_seen[0] and breach == self._daily_seen[1]):
            return None
        self._daily_seen = (today, breach)
        daily = engine.daily_state()
        assert daily is not None
        body = {"day": daily.day, "start_equity": {k: str(v) for k, v in daily.start_equity.items()},
                "breached": daily.breached}  # fmt: skip
        return Row(t, "daily", body)

    async def _send(self, cmd: Command, t: int) -> None:
        if self.paper is not None:
            res = self.paper.execute(cmd, t)
            for ev in res.events:
                await self.account(ev, t)
            ok, code, msg = res.ok, res.code, res.message or ""
        else:
            assert self.venue is not None
            result = await self.venue.execute(cmd)
            ok, code, msg = result.ok, result.code, result.message or ""
            if not ok and result.unknown:
                # It may have executed: refusing it in the engine could send it again. It stays
                # as sent; its own updates on the user stream, or a reconciliation, settle it.
                cid = getattr(cmd, "client_order_id", "")
                await self.note(t, "order-unknown", f"{type(cmd).__name__} {cid}: {msg}; not sent again, reconciling")
                self._on_unknown(f"order {cid} of unknown fate")
                return
        if not ok:
            await self._refused(cmd, code, msg, t)

    async def _refused(self, cmd: Command, code: int | None, msg: str, t: int) -> None:
        engine = self.engine
        if isinstance(cmd, CancelOrder):
            await self.note(t, "cancel-failed", f"cancel of {cmd.client_order_id} refused ({code}: {msg})")
        elif isinstance(cmd, PlaceOrder):
            await self.process(engine.on_reject(cmd.client_order_id, code, msg, t), t)
        elif isinstance(cmd, SetMarginType | SetPositionMode | SetLeverage):
            await self.process(engine.on_setup_rejected(cmd, code, msg, t), t)
        else:
            await self.note(t, "command-rejected", f"{type(cmd).__name__} refused ({code}: {msg})")
