"""The engine: events in, commands and journal records out. Pure, synchronous, deterministic.

    step = engine.on_event(event)      # step.commands for the venue, step.records for the journal

It never awaits and never reads a clock: time comes with the events, and timers (cron,
`every`, `before_funding`, state timeouts, the 00:00 UTC day roll) fire on that clock, before
the event that carries time past them. The same object serves backtests, dry-runs and live.

This class is the hub: it routes each event by type to the room that handles it and holds the
run's state as one value (state.py), so a hot reload is `Engine(new_book, …, state=old.state)`.
The rooms, one module each: clock, market_events (prices into markets, valuation, price
guards), dispatch (rules), actions (→ intents), entries, exits, protections, cap_stops (the daily
loss cap's stops and breach), reports (the venue's reports), binding (state ↔ position),
event_guards (the guards of risk/ that act on their own), account_view (what conditions read).
Only the order manager (oms.py) builds orders and cancels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from rulebot.core.account_events import AccountEvent, AccountUpdate, AlgoUpdate, OrderUpdate, StreamStatus
from rulebot.core.commands import CancelOrder, Command, PlaceOrder, SetLeverage, SetMarginType, SetPositionMode
from rulebot.core.enums import PositionSide
from rulebot.core.events import BookTop, CandleClosed, CandleEnd, FundingRate, MarketEvent, MarkPrice, Timer, Trade
from rulebot.core.fees import DEFAULT_FEE_RATES, FeeRates
from rulebot.core.instruments import Instrument
from rulebot.core.intents import HaltIntent, SetLeverageIntent
from rulebot.core.margin import Bracket, BracketTable, FloatBrackets
from rulebot.engine import records as rec
from rulebot.engine.account_view import AccountValues, holding
from rulebot.engine.actions import Actions, stops_after_entry
from rulebot.engine.binding import Binding
from rulebot.engine.cap_stops import CapStops
from rulebot.engine.clock import Clock
from rulebot.engine.dispatch import RuleDispatch
from rulebot.engine.entries import Entries
from rulebot.engine.event_guards import EventGuards
from rulebot.engine.exits import Exits
from rulebot.engine.liquidation_guard import Holding
from rulebot.engine.market import SymbolMarket
from rulebot.engine.market_events import MarketEvents
from rulebot.engine.oms import OrderManager, Purpose
from rulebot.engine.portfolio import DayStats, Portfolio
from rulebot.engine.protections import Protections
from rulebot.engine.quiet_walk import QuietWalk
from rulebot.engine.reading import EngineReads
from rulebot.engine.reports import VenueReports
from rulebot.engine.risk import RiskEngine
from rulebot.engine.state import DailyState, EngineState, Step, SymbolRun
from rulebot.engine.timers import TimerWheel
from rulebot.rulebook import compiled as c

__all__ = ["DailyState", "Engine", "EngineState", "Step"]

ZERO = Decimal(0)
# The notice of a halt that holds across restarts (recovery.py reads the last one), and of its lifting.
HALT_HOLDS = "halt-holds"
HALT_LIFTED = "halt-lifted"
HOLDS_TEXT = "the halt holds across restarts; start with --resume to trade again"


class Engine(EngineReads, QuietWalk):
    """Runs one compiled rulebook over one account."""

    def __init__(
        self,
        book: c.CompiledRulebook,
        instruments: Mapping[str, Instrument],
        balances: Mapping[str, Decimal],
        *,
        run_id: str = "rb",
        record_all_decisions: bool = False,
        brackets: Mapping[str, BracketTable] | None = None,
        fee_rates: FeeRates = DEFAULT_FEE_RATES,
        state: EngineState | None = None,
    ) -> None:
        """A new run over `balances`, or (`state`) the run of another rulebook taken over as it is:
        positions, orders, symbol states and markets carry on; indicators are rebuilt from this
        rulebook and re-warmed from the markets' candle history (`balances` is then unused)."""
        self.book = book
        self.fee_rates = fee_rates  # the account's commission rates: the daily cap counts fees before an order
        self.instruments = instruments
        for s in book.symbols:
            if s not in instruments:
                raise ValueError(f"no instrument for {s}: the venue's exchange info does not list it")
        # The symbol's real brackets when the venue gave them; otherwise a one-bracket table
        # with a deliberately high maintenance rate, so the guards err on the safe side. Real
        # tables of symbols the book does not trade stay too: a reload may bring them back.
        given = brackets or {}
        self.brackets = {**given, **{s: given.get(s) or _fallback_brackets(s) for s in book.symbols}}
        self.float_brackets = {sym: FloatBrackets(self.brackets[sym]) for sym in book.symbols}
        self.risk = RiskEngine(book.risk)
        self.record_all = record_all_decisions
        self.hedge = book.hedge
        self.timers = self._timers = TimerWheel(book)
        self.state = (
            _new_state(book, instruments, balances, run_id) if state is None else _take_over(book, instruments, state)
        )
        st = self.state
        self.account_values = {s: AccountValues.of(self, s) for s in st.runs}
        for symbol, run in st.runs.items():
            values = self.account_values[symbol]
            run.market.env.resolve = values  # given what it reads: no call back up
            run.market.env.resolve_position = values.position
        self._markets = [run.market for run in st.runs.values()]
        self._envs = [market.env for market in self._markets]
        # The rooms (one module each), sharing this engine's state.
        self.clock = Clock(self)
        self.rules = RuleDispatch(self)
        self.actions = Actions(self)
        self.entries = Entries(self)
        self.exits = Exits(self)
        self.protections = Protections(self)
        self.cap_stops = CapStops(self)
        self.binding = Binding(self)
        self.guards = EventGuards(self)
        self.reports = VenueReports(self)
        self.market_events = MarketEvents(self)
        if state is not None:
            self.clock.update_next_timeout()
            self.clock.update_next_protect()
        # The typed event union (core/events.py, core/account_events.py), routed by type.
        self._handlers: dict[type, Callable[[Any, Step], None]] = {
            Trade: self.market_events.on_trade,
            BookTop: self.market_events.on_book,
            MarkPrice: self.market_events.on_mark,
            CandleClosed: self.market_events.on_candle,
            FundingRate: self.market_events.on_funding,
            CandleEnd: self.market_events.on_candle_end,
            OrderUpdate: self.reports.on_order,
            AlgoUpdate: self.reports.on_algo,
            AccountUpdate: self.reports.on_account,
            StreamStatus: self.reports.on_stream,
            Timer: _on_timer,
        }

    # ================================================================== entry points

    def start(self, time: int) -> Step:
        """Set the account up on the exchange, then fire `start` rules."""
        step = Step()
        st = self.state
        self.clock.advance(time, step)
        step.commands.append(SetPositionMode(self.hedge, time))
        margin = self.book.margin_type
        for symbol, run in st.runs.items():
            step.commands.append(SetMarginType(symbol, margin, time))
            step.commands.append(SetLeverage(symbol, run.leverage, time))
        st.started = True
        for symbol in st.runs:  # the journal's state against the account's position
            self.binding.check(symbol, time, step, why="no position on the exchange at start")
        for symbol in st.runs:
            self.rules.dispatch(symbol, ("start", None), step)
        return step

    def on_event(self, event: MarketEvent | AccountEvent) -> Step:
        step = Step()
        for env in self._envs:
            if env.filled:
                env.forget_account()
        st = self.state
        received = getattr(event, "received", 0)
        if received > st.received:
            st.received = received
        t = event.time
        if t > st.time:
            self._move_clock(t, step)
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event, step)
        return step

    def _move_clock(self, t: int, step: Step) -> None:
        """Carry the clock to `t` (later than now), firing what falls due on the way."""
        st = self.state
        nxt, expiry = self._timers.next_due, st.oms.next_expiry
        if (
            t < st.next_day
            and t < st.next_timeout
            and t < st.next_protect
            and t < st.next_retry
            and nxt is not None
            and t < nxt
            and (expiry is None or t < expiry)
        ):
            st.time = t  # nothing falls due (the common case): only the clock moves
            for market in self._markets:
                market.set_clock(t)
        else:
            self.clock.advance(t, step)

    def on_reject(self, client_order_id: str, code: int | None, message: str, time: int) -> Step:
        """The venue refused a command outright (a REST error): record it, repair the state."""
        return self.reports.on_reject(client_order_id, code, message, time)

    def on_setup_rejected(self, command: Command, code: int | None, message: str, time: int) -> Step:
        """The exchange refused to set margin type, position mode or leverage: the bot halts."""
        return self.reports.on_setup_rejected(command, code, message, time)

    def check_price(self, symbol: str, price: Decimal, time: int) -> Step:
        """A price the venue walked inside a candle (candle-only data has no trade or mark
        stream): value positions there and run the price guards (daily loss cap, margin
        ratio), as a mark price would, without firing any rule. A breach flattens at this
        price, not at the candle's close. Flat, or with a mark of its own (markPriceKlines),
        only the clock's own actions (timers, timeouts, the day roll) move the clock here, so
        that their orders fill at this price too."""
        step = Step()
        st = self.state
        run = st.runs.get(symbol)
        if run is None or run.market.has_trades:
            return step  # trades carry the clock and the price on their own events
        if run.market.has_mark or st.portfolio.net_amount(symbol) == 0:
            # Flat (or valued at a mark of its own), the price moves no PnL, and the clock waits for the
            # candle, unless the clock itself acts inside it (a timer, a timeout, the day roll): what it
            # sends goes out at the first price at or after its time, not at the candle's close.
            if time > st.time and time >= self.quiet_until():
                self._move_clock(time, step)
            return step
        if time > st.time:
            self._move_clock(time, step)  # a walked price carries the clock as an event does
        st.portfolio.set_mark(symbol, price)
        self.guards.on_price(symbol, False, step)
        return step

    def halt(self, reason: str, step: Step, rule: str = "", holds: bool = False) -> None:
        """The kill switch: cancel everything, flatten reduce-only, refuse entries from now on."""
        self.halt_for(HaltIntent(reason, rule, self.state.time), step, holds)

    def halt_for(self, intent: HaltIntent, step: Step, holds: bool = False) -> None:
        """`holds`: the rulebook asked for it (its `halt` action, `on_breach: halt`), so a restart
        stays halted (runtime/recovery.py) until started with --resume. A kill, a signal or an
        account the exchange refused to set up is over with the run that stopped."""
        st = self.state
        if st.halted is None:
            st.halted = intent.reason
            step.records.append(rec.EngineNotice(st.time, "", "halt", f"halted: {intent.reason}"))
        if holds and not st.halt_holds:
            st.halt_holds = True
            step.records.append(rec.EngineNotice(st.time, "", HALT_HOLDS, f"{intent.reason}: {HOLDS_TEXT}"))
        self.exits.flatten(step, intent.rule or "halt")

    def restore_halt(self, reason: str) -> None:
        """Halted before a restart by a halt that holds (see `halt_for`): entries stay refused.
        Nothing is cancelled or closed here; a position still held is flattened when the account
        reports it (reports.py)."""
        self.state.halted = reason
        self.state.halt_holds = True

    def refuse_entries(self, reason: str) -> None:
        """The kill switch's `keep`: from now on no rule runs and the kill_switch guard refuses
        every entry (a stop and reverse's waiting for its exit), while positions keep their stops;
        nothing is cancelled or closed here."""
        if self.state.stopping is None:
            self.state.stopping = reason

    def change_leverage(self, symbol: str, leverage: int, rule: str, step: Step) -> None:
        """Set the symbol's leverage (within the max_leverage guard) on the exchange and for sizing."""
        self.actions.set_leverage(SetLeverageIntent(symbol, leverage, rule, self.state.time), leverage, step)

    def entry_cancels(self, time: int) -> list[CancelOrder]:
        """Cancels for every working entry (a shutdown that keeps positions with their stops)."""
        oms = self.state.oms
        why = "shutdown (keep): no entry works while the bot is down"
        return [oms.cancel(r, time, why) for r in oms.open_orders() if r.purpose == "entry"]

    def send(self, cmd: PlaceOrder, step: Step) -> None:
        """An order the order manager built goes out (and counts against the order budget)."""
        self.state.order_budget.sent(cmd.time)
        step.commands.append(cmd)

    def daily_cap(self, asset: str) -> Decimal | None:
        """Today's daily loss cap in `asset` (None before the first event or without equity)."""
        return self.cap_stops.daily_cap(asset)

    def holding(self, symbol: str, leg: PositionSide | None = None) -> Holding:
        """The symbol's position (in hedge mode the leg `leg`, when given) and what backs it, as the
        margin and liquidation guards see it."""
        st = self.state
        return holding(
            symbol,
            st.portfolio,
            self.instruments,
            st.runs,
            self.brackets,
            self.book.margin_type,
            leg if self.hedge else None,
        )

    # ================================================================== restarts

    def daily_state(self) -> DailyState | None:
        today = self.state.portfolio.today
        if today is None:
            return None
        return DailyState(today.day, dict(today.start_equity), self.state.daily_breach_day == today.day)

    def restore_daily(self, state: DailyState) -> None:
        """Carry today's start equity and a breach over a restart (call before `start`)."""
        pf = self.state.portfolio
        if pf.today is not None and pf.today.day != state.day:
            return  # the saved day is over: a new day starts fresh
        pf.today = DayStats(state.day, dict(state.start_equity))
        if state.breached:
            self.state.daily_breach_day = state.day

    def open_day(self, time: int) -> None:
        """Start the trading day at `time` before the first event (a session's start)."""
        self.state.portfolio.on_time(time)

    def warm(self, symbol: str, candles: list[CandleClosed]) -> int:
        """Candles from before the start (a restart, REST klines) into `symbol`'s history and
        indicators; no rule runs on them. Returns how many were new."""
        run = self.state.runs.get(symbol)
        if run is None:
            return 0
        taken = run.market.warm(candles)
        for tf in {candle.timeframe for candle in candles} if taken else ():
            self.rules.remember_closed(symbol, tf)  # a crossover on the first live candle has its candle before
        return taken

    def restore_state(self, symbol: str, state: str, entered_at: int) -> bool:
        """Put a symbol back in the state the journal says it was in (call before `start`).

        False when the rulebook has no such state any more: the symbol stays in the initial
        state, and the binding check moves it on once the positions are known.
        """
        if state not in self.book.states or symbol not in self.state.runs:
            return False
        run = self.state.runs[symbol]
        run.state, run.entered_at = state, entered_at
        run.market.env["state"] = state
        self.clock.update_next_timeout()
        return True

    def adopt_order(self, command: PlaceOrder, purpose: Purpose, rule: str, filled_qty: Decimal = ZERO) -> None:
        """Track an order that was working on the exchange before a restart, under its own
        client order id, so its fills and cancels land where they belong and ids never repeat."""
        oms = self.state.oms
        record = oms.track(command, purpose, rule)
        record.filled_qty = filled_qty
        oms.observe_id(command.client_order_id)
        if purpose == "entry":  # still the symbol's one entry: none goes out beside it, no state falls back
            run = self.state.runs[command.symbol]
            run.entry_pending.add(command.client_order_id)
            stops = stops_after_entry(self.book, rule)
            if stops:  # its rule's stops, placed once it fills (as they would have been before the restart)
                run.protections[command.client_order_id] = stops
        self.protections.refresh(command.symbol)


def _new_state(
    book: c.CompiledRulebook, instruments: Mapping[str, Instrument], balances: Mapping[str, Decimal], run_id: str
) -> EngineState:
    runs = {
        s: SymbolRun(SymbolMarket(s, book, instruments[s].price_filter.tick_size), book.initial_state, 0, book.leverage)
        for s in book.symbols
    }
    return EngineState(runs, Portfolio(instruments, balances), OrderManager(run_id))


def _take_over(book: c.CompiledRulebook, instruments: Mapping[str, Instrument], old: EngineState) -> EngineState:
    """`old` under `book`: the symbols it keeps carry on with markets rebuilt for the book's
    indicators (warmed from the candle history); a symbol the book adds starts now."""
    runs: dict[str, SymbolRun] = {}
    for s in book.symbols:
        market = SymbolMarket(s, book, instruments[s].price_filter.tick_size)
        before = old.runs.get(s)
        if before is None:
            runs[s] = SymbolRun(market, book.initial_state, old.time, book.leverage)
            continue
        market.carry_from(before.market)
        market.set_clock(old.time)
        market.env["state"] = before.state
        exiting = before.exiting
        if exiting is not None and exiting.then:
            # A pending stop and reverse holds the old rulebook's entry and goto (its states may be
            # gone): the exit completes, and the new rules decide from the flat state what comes next.
            exiting = replace(exiting, then=(), then_rule=None)
        # prev: kept anew by reload_engine from the re-warmed values, where they are of one timeframe
        runs[s] = replace(before, market=market, prev={}, exiting=exiting)
    return replace(old, runs=runs)


def _on_timer(event: Timer, step: Step) -> None:
    """The clock advanced; due timers fired before the handler ran."""


def _fallback_brackets(symbol: str) -> BracketTable:
    return BracketTable(symbol, (Bracket(1, 10, ZERO, Decimal(10) ** 12, Decimal("0.01"), ZERO),))
