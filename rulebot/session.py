"""The one loop a run goes through: event → engine → journal → commands → venue → reports → engine.

    session = Session(engine, venue, journal=write_ahead)
    session.start(time)
    for event in feed:
        session.market(event)

Synchronous: the venue answers each command at once. The paper venue does so with the exchange
simulator's answer; a live venue holds the command and answers "sent" (its real answer comes
later, on another task, and is settled with `Session.refused`). The runtime's `Executor` wraps
a session: it journals what the session collected in one step before any held command leaves.
What a command's refusal means to the engine is decided once, here, for every way of running
(`refusal`, applied by `Session.refused`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from rulebot.core.account_events import AccountEvent
from rulebot.core.commands import (
    CancelAllOrders,
    CancelOrder,
    Command,
    PlaceOrder,
    SetLeverage,
    SetMarginType,
    SetPositionMode,
)
from rulebot.core.events import CandleClosed, Timer
from rulebot.core.fees import FeeRates
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable
from rulebot.engine import cancel_retry
from rulebot.engine import records as rec
from rulebot.engine.engine import Engine, Step
from rulebot.exchange_sim import FillModel, SimExchange
from rulebot.exchange_sim.adl import NO_ADL, AdlModel
from rulebot.rulebook.compiled import CompiledRulebook
from rulebot.venues.paper import PaperVenue


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
    """Where a session's commands go and what market data does to resting orders: the paper venue
    (backtest, dry-run: the simulator answers at once) or a live one (`execute` holds the command
    and answers "sent"; `on_market` and `walk` report nothing, the exchange fills on its own)."""

    def on_market(self, event: object) -> Sequence[AccountEvent]: ...
    def walk(
        self, candle: CandleClosed, before: Callable[[int], None] | None = None
    ) -> Iterable[tuple[int, Decimal, Sequence[AccountEvent]]]: ...
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
    forget a fill. Refused otherwise (-1021, 503, a rate limit: not executed), the order still
    works and the cancel is sent again with back-off (`engine.cancel_retry`); a refused cancel-all
    is sent again so, as a cancel of each order it was asked for that still works. A refused order is
    rejected in the engine, which repairs its state; a refused account setting halts the bot.
    """
    if isinstance(command, CancelOrder):
        again = cancel_retry.refused(engine.state, command, code, time)
        text = f"cancel of {command.client_order_id} refused ({code}: {message})"
        if again is not None:
            text += f"; the order still works: sent again in {again / 1000:g} s"
        return Refusal(None, rec.EngineNotice(time, command.symbol, "cancel-failed", text))
    if isinstance(command, CancelAllOrders):
        text = f"cancel-all of {command.symbol} refused ({code}: {message}); " + cancel_all_again(engine, command, time)
        return Refusal(None, rec.EngineNotice(time, command.symbol, "cancel-failed", text))
    if isinstance(command, PlaceOrder):
        return Refusal(engine.on_reject(command.client_order_id, code, message, time), None)
    if isinstance(command, SetMarginType | SetPositionMode | SetLeverage):
        return Refusal(engine.on_setup_rejected(command, code, message, time), None)
    text = f"{type(command).__name__} refused ({code}: {message})"
    return Refusal(None, rec.EngineNotice(time, getattr(command, "symbol", ""), "command-rejected", text))


def unknown_fate(engine: Engine, command: Command, time: int) -> str | None:
    """A command whose fate stayed unknown (503 -1007 on every try): a cancel, or a cancel-all, is
    sent again with back-off while its orders work (had it executed, their updates say so and
    nothing is sent); what the journal is told of it. None for any other command: it is not sent
    again, and the reconciliation settles it."""
    if isinstance(command, CancelOrder):
        cid = command.client_order_id
        again = cancel_retry.refused(engine.state, command, None, time)
        return (
            f"{cid} is no longer working" if again is None else f"{cid} still works: sent again in {again / 1000:g} s"
        )
    if isinstance(command, CancelAllOrders):
        return cancel_all_again(engine, command, time)
    return None


def cancel_all_again(engine: Engine, command: CancelAllOrders, time: int) -> str:
    """A cancel-all that did not execute (refused, or of unknown outcome): each order it was asked
    for that still works is cancelled on its own with back-off (`cancel_retry.refused_all`); what
    the journal is told of it."""
    ids, wait = cancel_retry.refused_all(engine.state, command, time)
    if not ids:
        return "none of its orders still works"
    if len(ids) == 1:
        return f"1 order still works ({ids[0]}): cancelled on its own in {wait / 1000:g} s"
    return f"{len(ids)} orders still work ({', '.join(ids)}): each cancelled on its own in {wait / 1000:g} s"


def paper_venue(
    book: CompiledRulebook,
    instruments: Mapping[str, Instrument],
    brackets: Mapping[str, BracketTable],
    balances: Mapping[str, Decimal],
    *,
    fee_rates: FeeRates,
    fill_model: FillModel = FillModel(),
    adl: AdlModel = NO_ADL,
    funding_from_marks: bool = False,
) -> PaperVenue:
    """The one place the exchange simulator is built for a rulebook (backtest and dry-run alike):
    its symbols' contracts and brackets, the rulebook's account settings, the given wallet.
    `funding_from_marks`: settle funding from the mark stream's announcements (a dry-run on live
    streams, venues/paper.py)."""
    market = book.market_type
    sim = SimExchange(
        {s: instruments[s] for s in book.symbols},
        {s: brackets[s] for s in book.symbols if s in brackets},
        market=market,
        balances=dict(balances),
        fill_model=fill_model,
        fee_rates=fee_rates,
        hedge_mode=book.hedge,
        default_leverage=book.leverage,
        default_margin_type=book.margin_type,
        adl=adl,
    )
    return PaperVenue(sim, market, funding_from_marks=funding_from_marks)


def _ignore(_: object) -> None:
    return None


def _not_told(command: Command, code: int | None, message: str, time: int) -> None:
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
        on_refused: Callable[[Command, int | None, str, int], None] = _not_told,
    ) -> None:
        self.engine = engine
        self.venue = venue
        # Every engine record, command (before the venue sees it) and venue report, in order.
        self._journal = journal
        self._on_report = on_report  # a report, before the engine hears of it
        self._on_change = on_change  # the account or the orders may have changed (reports, commands sent)
        self._on_step_end = on_step_end  # a market event's own engine step was handled (commands or records)
        # A command was refused, before the engine hears of it (the runtime journals the order's
        # last status, which no venue update will give).
        self._on_refused = on_refused
        self._unsent: dict[str, str] = {}  # orders a step being processed has still to place → symbol
        self._held: dict[str, CancelOrder] = {}  # their cancels, asked for meanwhile

    def start(self, time: int) -> None:
        self.engine.open_day(time)
        self.process(self.engine.start(time), time)

    def market(self, event: object) -> None:
        """A market event: resting orders fill on it first, as on the exchange, then the engine."""
        time = event.time  # type: ignore[attr-defined]
        if type(event) is CandleClosed:
            # Walk the candle point by point: the engine checks the daily loss cap and the margin
            # ratio at each price the simulator fills at, not only at the close.
            symbol, point = event.symbol, self.point
            for t, price, reports in self.venue.walk(event, self.expire_before):
                point(symbol, t, price, reports)
        else:
            if self.engine.state.oms.next_expiry is not None:  # every trade of a replay: no call when none
                self.expire_before(time)
            reports = self.venue.on_market(event)
            if reports:
                self.reports(reports, time)
                self._on_change()
        self.engine_step(event)

    def expire_before(self, time: int) -> None:
        """Cancel the orders whose `expire` passed before `time`, at their expiry, before the venue
        matches a price at `time`: sparse data (a candle's later points, the next trade minutes on)
        filled them after it. The clock moves as a timer moves it (what else fell due fires too)."""
        engine = self.engine
        st = engine.state
        while (at := st.oms.next_expiry) is not None and st.time < at < time:
            self.engine_step(Timer(at, "expire"))

    def point(self, symbol: str, t: int, price: Decimal, reports: Sequence[AccountEvent]) -> None:
        """One price point of a candle's walk (`Venue.walk`): what the venue reported there, then the
        engine's price check (`Engine.check_price`) and what it asks for."""
        if reports:
            self.reports(reports, t)
        check = self.engine.check_price(symbol, price, t)
        if check.commands or check.records:
            self.process(check, t)
        if reports or check.commands:
            self._on_change()

    def engine_step(self, event: object, quiet: bool = False) -> Step:
        """The engine's own step on a market event the venue has already seen (`quiet`: a candle
        the fast backtest path jumped while a position is held, `Engine.on_quiet_candle`)."""
        engine = self.engine
        # feeds yield core.events.MarketEvent
        step = engine.on_quiet_candle(event) if quiet else engine.on_event(event)  # type: ignore[arg-type]
        if step.commands or step.records:
            self.process(step, event.time)  # type: ignore[attr-defined]
            if step.commands:
                # Only a command moves the venue's orders, positions or wallet (its reports the
                # engine's): a step that journals alone (a rule whose `reduce` rounds to nothing,
                # on every trade it fires at) leaves them, and the fast path's bands, as they were.
                self._on_change()
            self._on_step_end()
        return step

    def process(self, step: Step, time: int) -> None:
        """Journal the step, then execute its commands, each answer handled before the next.

        An answer's own step runs before the rest of this one is sent (a venue that answers at once):
        a cancel it asks for of an order this step has still to place would reach the venue before
        that order (-2011) and leave it working, a close-position stop of a position just closed. Such
        a cancel is held and sent right after its order. A cancel-all it asks for (a flatten, `halt`,
        the daily loss cap, a rule's `cancel: all`) would miss them the same way: it goes out at once
        and holds a cancel of each order of its symbol still to be placed (live, those orders reach the
        exchange first and the cancel-all takes them), not of the orders its own step places after it."""
        journal = self._journal
        for record in step.records:
            journal(record)
        if step.commands:
            self._send(step.commands, time)

    def _send(self, commands: Sequence[Command], time: int) -> None:
        """`process`'s commands, in order (its docstring says which cancels wait)."""
        unsent, held, oms = self._unsent, self._held, self.engine.state.oms
        outer = list(unsent)  # orders the steps this one runs inside of have still to place
        placing: list[str] = []
        for c in commands:
            if type(c) is PlaceOrder:
                placing.append(c.client_order_id)
                unsent[c.client_order_id] = c.symbol
        try:
            for cmd in commands:
                if type(cmd) is CancelOrder and cmd.client_order_id in unsent:
                    held[cmd.client_order_id] = cmd
                    continue
                if type(cmd) is CancelAllOrders and outer:
                    self._hold_cancels(cmd, outer)
                if type(cmd) is not PlaceOrder:
                    self._execute(cmd, time)
                    continue
                cid = cmd.client_order_id
                del unsent[cid]  # at the venue once sent: a cancel its answer asks for goes out at once
                oms.sending(cid)
                ok = self._execute(cmd, time)
                cancel = held.pop(cid, None)
                if cancel is not None and ok:  # a refused order is not there to cancel
                    self._execute(cancel, time)
        finally:
            for cid in placing:
                unsent.pop(cid, None)
                held.pop(cid, None)

    def _hold_cancels(self, cancel_all: CancelAllOrders, outer: list[str]) -> None:
        """A cancel of each order of `cancel_all`'s symbol that an outer step has still to place."""
        unsent, held, symbol = self._unsent, self._held, cancel_all.symbol
        for cid in outer:
            if unsent.get(cid) == symbol and cid not in held:
                held[cid] = CancelOrder(symbol, cid, cancel_all.time, cancel_all.reason)

    def _execute(self, cmd: Command, time: int) -> bool:
        """Send `cmd` and handle the answer; whether the venue took it."""
        self._journal(cmd)  # write-ahead: the journal hears of a command before the venue
        reply = self.venue.execute(cmd, time)
        # What the call caused came first (a dead man's switch that fired), then the refusal.
        if reply.events:
            self.reports(reply.events, time)
        if not reply.ok:
            self.refused(cmd, reply.code, reply.message or "", time)
            return False
        return True

    def refused(self, command: Command, code: int | None, message: str, time: int) -> None:
        """A command the venue refused (now, or later for a live venue): the one policy
        (`refusal`), its step processed and its notice journaled."""
        self._on_refused(command, code, message, time)
        refused = refusal(self.engine, command, code, message, time)
        if refused.step is not None:
            self.process(refused.step, time)
        if refused.notice is not None:
            self._journal(refused.notice)

    def reports(self, events: Iterable[AccountEvent], time: int) -> None:
        """What the venue reported (fills, order and account updates), journaled, to the engine.

        Every report reaches the engine before a command its steps ask for is sent. A venue that
        answers at once reports an order's fill, then the account update the fill made; a command
        sent between them (a `fill` rule's flatten) has its own reports handled first, and the older
        account update then put back the position that command had closed. Live, the stream brings
        the reports in the order the exchange made them."""
        journal, on_report, on_event = self._journal, self._on_report, self.engine.on_event
        asked: list[list[Command]] = []
        for ev in events:
            journal(ev)
            on_report(ev)
            step = on_event(ev)
            if step.records or step.commands:  # most reports ask for nothing: no step to walk
                for record in step.records:
                    journal(record)
                if step.commands:
                    asked.append(step.commands)
        for commands in asked:
            self._send(commands, time)
