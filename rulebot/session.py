"""The one loop a run goes through: event → engine → journal → commands → venue → reports → engine.

    session = Session(engine, venue, journal=write_ahead)
    session.start(time)
    for event in feed:
        session.market(event)

Synchronous: the venue answers each command at once (the paper venue, over the exchange
simulator). What a command's refusal means to the engine is decided once, here, for every way
of running (`refusal`); the live runtime, whose answers arrive later on other tasks, settles
them with the same function.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from rulebot.core.account_events import AccountEvent
from rulebot.core.commands import CancelOrder, Command, PlaceOrder, SetLeverage, SetMarginType, SetPositionMode
from rulebot.core.events import CandleClosed
from rulebot.engine import records as rec
from rulebot.engine.engine import Engine, Step


class Reply(Protocol):
    """A venue's answer to one command: what Binance's REST reply would say, and the account
    events the command caused (a simulator knows them at once; a real exchange sends them on the
    user stream)."""

    @property
    def ok(self) -> bool: ...
    @property
    def code(self) -> int | None: ...
    @property
    def message(self) -> str | None: ...
    @property
    def events(self) -> Sequence[AccountEvent]: ...


class Venue(Protocol):
    """Where a synchronous session's commands go and what market data does to resting orders."""

    def on_market(self, event: object) -> Sequence[AccountEvent]: ...
    def walk(self, candle: CandleClosed) -> Iterable[tuple[int, Decimal, Sequence[AccountEvent]]]: ...
    def execute(self, command: Command, time: int) -> Reply: ...


@dataclass(frozen=True, slots=True)
class Refusal:
    """What a refused command means: a step for the engine, or only a notice for the journal."""

    step: Step | None
    notice: rec.EngineNotice | None


def refusal(engine: Engine, command: Command, code: int | None, message: str, time: int) -> Refusal:
    """The one policy for a command the venue refused (not one whose fate is unknown).

    A refused cancel leaves the order as the engine knows it: the order may well have filled or
    been canceled already (-2011), and its own updates say which; marking it rejected would
    forget a fill. A refused order is rejected in the engine, which repairs its state; a refused
    account setting halts the bot.
    """
    if isinstance(command, CancelOrder):
        text = f"cancel of {command.client_order_id} refused ({code}: {message})"
        return Refusal(None, rec.EngineNotice(time, command.symbol, "cancel-failed", text))
    if isinstance(command, PlaceOrder):
        return Refusal(engine.on_reject(command.client_order_id, code, message, time), None)
    if isinstance(command, SetMarginType | SetPositionMode | SetLeverage):
        return Refusal(engine.on_setup_rejected(command, code, message, time), None)
    text = f"{type(command).__name__} refused ({code}: {message})"
    return Refusal(None, rec.EngineNotice(time, getattr(command, "symbol", ""), "command-rejected", text))


def _ignore(_: object) -> None:
    return None


def _nothing() -> None:
    return None


class Session:
    """One engine on one synchronous venue, every record and command journaled before it acts."""

    def __init__(
        self,
        engine: Engine,
        venue: Venue,
        *,
        journal: Callable[[object], None] = _ignore,
        on_report: Callable[[AccountEvent], None] = _ignore,
        on_change: Callable[[], None] = _nothing,
        on_step_end: Callable[[], None] = _nothing,
    ) -> None:
        self.engine = engine
        self.venue = venue
        # Every engine record, command (before the venue sees it) and venue report, in order.
        self._journal = journal
        self._on_report = on_report  # a report, before the engine hears of it
        self._on_change = on_change  # the account may have changed (fills, funding, an engine step)
        self._on_step_end = on_step_end  # a market event's own engine step was handled

    def start(self, time: int) -> None:
        self.engine.open_day(time)
        self.process(self.engine.start(time), time)

    def market(self, event: object) -> None:
        """A market event: resting orders fill on it first, as on the exchange, then the engine."""
        engine, time = self.engine, event.time  # type: ignore[attr-defined]
        if type(event) is CandleClosed:
            # Walk the candle point by point: the engine checks the daily loss cap and the margin
            # ratio at each price the simulator fills at, not only at the close.
            for t, price, reports in self.venue.walk(event):
                if reports:
                    self.reports(reports, t)
                check = engine.check_price(event.symbol, price, t)
                if check.commands or check.records:
                    self.process(check, t)
                if reports or check.commands:
                    self._on_change()
        else:
            reports = self.venue.on_market(event)
            if reports:
                self.reports(reports, time)
                self._on_change()
        self.engine_step(event)

    def engine_step(self, event: object, quiet: bool = False) -> Step:
        """The engine's own step on a market event the venue has already seen (`quiet`: a candle
        the fast backtest path jumped while a position is held, `Engine.on_quiet_candle`)."""
        engine = self.engine
        # feeds yield core.events.MarketEvent
        step = engine.on_quiet_candle(event) if quiet else engine.on_event(event)  # type: ignore[arg-type]
        if step.commands or step.records:
            self.process(step, event.time)  # type: ignore[attr-defined]
            self._on_change()
            self._on_step_end()
        return step

    def process(self, step: Step, time: int) -> None:
        """Journal the step, then execute its commands, each answer handled before the next."""
        journal = self._journal
        for record in step.records:
            journal(record)
        for cmd in step.commands:
            journal(cmd)  # write-ahead: the journal hears of a command before the venue
            reply = self.venue.execute(cmd, time)
            if not reply.ok:
                refused = refusal(self.engine, cmd, reply.code, reply.message or "", time)
                if refused.step is not None:
                    self.process(refused.step, time)
                if refused.notice is not None:
                    journal(refused.notice)
            self.reports(reply.events, time)

    def reports(self, events: Iterable[AccountEvent], time: int) -> None:
        """What the venue reported (fills, order and account updates), journaled, to the engine."""
        for ev in events:
            self._journal(ev)
            self._on_report(ev)
            self.process(self.engine.on_event(ev), time)
