"""The engine: events in, commands and journal records out. Pure, synchronous, deterministic.

    step = engine.on_event(event)      # step.commands for the venue, step.records for the journal

It never awaits and never reads a clock: time comes with the events, and timers (cron,
`every`, `before_funding`, state timeouts, the 00:00 UTC day roll) fire on that clock, before
the event that carries time past them. The same object serves backtests, dry-runs and live.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from rulebot.core.account_events import AccountEvent, AccountUpdate, AlgoUpdate, OrderUpdate, StreamStatus
from rulebot.core.commands import (
    CancelAllOrders,
    CancelOrder,
    Command,
    PlaceOrder,
    SetLeverage,
    SetMarginType,
    SetPositionMode,
)
from rulebot.core.enums import MarginType, OrderType, PositionSide, Side, TimeInForce, WorkingType
from rulebot.core.events import BookTop, CandleClosed, FundingRate, MarketEvent, MarkPrice, Timer, Trade
from rulebot.core.fees import DEFAULT_FEE_RATES, FeeRates
from rulebot.core.instruments import Instrument
from rulebot.core.intents import EnterIntent
from rulebot.core.margin import (
    Bracket,
    BracketTable,
    FloatBrackets,
    float_pnl_and_notional,
)
from rulebot.engine import records as rec
from rulebot.engine.binding import CLOSING_PURPOSES, PendingExit, retry_delay_ms, state_for, state_for_flat
from rulebot.engine.daily_cap import cap_amount, cap_price, cap_trigger
from rulebot.engine.event_guards import EventGuards
from rulebot.engine.liquidation_guard import Holding
from rulebot.engine.market import Env, SymbolMarket
from rulebot.engine.oms import OrderManager, OrderRecord, Purpose
from rulebot.engine.portfolio import Portfolio
from rulebot.engine.risk import AccountView, RiskEngine, Verdict
from rulebot.engine.risk.event import NEVER, GuardMemory
from rulebot.engine.risk.order_rate import OrderBudget
from rulebot.engine.sizing import SizingError, entry_quantity, to_decimal, trigger_price
from rulebot.engine.timers import TimerWheel
from rulebot.engine.volatility import VolatilityMeter
from rulebot.rulebook import compiled as c
from rulebot.rulebook.expr import PREV_PREFIX, CompiledExpr

ZERO = Decimal(0)
_MAINT = Decimal("0.004")  # maintenance rate for the liq_price estimate shown to conditions
_NEVER = NEVER
_STOP_PURPOSES = frozenset({"stop_loss", "trailing_stop", "protective"})
_LEFTOVER_PURPOSES = _STOP_PURPOSES | {"take_profit"}
# A daily-cap stop is re-priced only when that moves the loss at its trigger by more than this
# share of the cap: another symbol's fee must not cancel and re-place it on every fill. The
# engine's own check at every price holds the exact cap; the slack only matters while it is dead.
_CAP_SLACK = Decimal("0.005")


class Step:
    """What one event produced."""

    __slots__ = ("commands", "records")

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self.records: list[rec.Record] = []


@dataclass
class _SymbolRun:
    market: SymbolMarket
    state: str
    entered_at: int
    leverage: int
    # trigger key → the values its rules' crossover/crossunder saw last time
    prev: dict[tuple[str, str | None], dict[str, Any]] = field(default_factory=dict)
    protections: dict[str, list[c.CompiledAction]] = field(default_factory=dict)  # entry id → actions
    entry_pending: set[str] = field(default_factory=set)
    volatility: VolatilityMeter = field(default_factory=VolatilityMeter)
    guard: GuardMemory = field(default_factory=GuardMemory)  # the event-time guards' memory of the symbol
    exiting: PendingExit | None = None  # a move to a position-less state, waiting for the close
    fill_time: int = -1  # transaction time of the latest fill on the symbol
    account_time: int = -1  # of the latest account update that reported the symbol's position
    unbound_noted: str = ""  # the side of a held position no state is bound to, once noted


class Engine:
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
    ) -> None:
        self.book = book
        self.fee_rates = fee_rates  # the account's commission rates: the daily cap counts fees before an order
        self.instruments = instruments
        # The symbol's real brackets when the venue gave them; otherwise a one-bracket table
        # with a deliberately high maintenance rate, so the guards err on the safe side.
        self.brackets = {s: (brackets or {}).get(s) or _fallback_brackets(s) for s in book.symbols}
        self._float_brackets = {sym: FloatBrackets(t) for sym, t in self.brackets.items()}
        self.streams_down: set[str] = set()
        self._margin_type = book.margin_type
        self.order_budget = OrderBudget()
        self._next_protect = _NEVER
        self._next_retry = _NEVER  # when a refused exit is due to be sent again
        for s in book.symbols:
            if s not in instruments:
                raise ValueError(f"no instrument for {s}: the venue's exchange info does not list it")
        self.portfolio = Portfolio(instruments, balances)
        self.oms = OrderManager(run_id)
        self.risk = RiskEngine(book.risk)
        self.record_all = record_all_decisions
        self.hedge = book.hedge
        self.symbols = {
            s: _SymbolRun(
                SymbolMarket(s, book, instruments[s].price_filter.tick_size), book.initial_state, 0, book.leverage
            )
            for s in book.symbols
        }
        self.timers = TimerWheel(book)
        self.halted: str | None = None
        self.daily_breach_day: int | None = None
        self._cap_cancels: set[str] = set()  # daily-cap stops being replaced: cancel sent, not yet confirmed
        self._cap_hits: set[str] = set()  # margin assets whose daily-cap stop filled (a breach)
        self._cap_stale = True  # the cap stops want pricing once a mark is known (start, restart, new day)
        self.time = 0
        # The latest receive stamp (exchange clock) of a live event: "now" as the edge saw it.
        # The data clock alone cannot tell a lagging feed from a fresh one (its times are old
        # and consistent); the stale-data guard measures data age against this too.
        self.received = 0
        self._last_loss_check = -1000
        self._next_day = 0
        self._next_timeout = 1 << 62
        self.started = False
        self._prev_by_key: dict[tuple[str, str | None], tuple[str, ...]] = {}
        for rule in book.rules:
            if rule.when is not None and rule.when.prev_names:
                cur = set(self._prev_by_key.get(rule.trigger.key, ()))
                self._prev_by_key[rule.trigger.key] = tuple(sorted(cur | set(rule.when.prev_names)))
        for symbol in self.symbols:
            self.symbols[symbol].market.env.resolve = lambda env, s=symbol: self._account_view(s, env)
        self._markets = [run.market for run in self.symbols.values()]
        self._envs = [m.env for m in self._markets]
        self.guards = EventGuards(self)
        # The typed event union, routed by type (core/events.py, core/account_events.py).
        self._handlers: dict[type, Callable[[Any, Step], None]] = {
            Trade: self._on_trade,
            BookTop: self._on_book,
            MarkPrice: self._on_mark,
            CandleClosed: self._on_candle,
            FundingRate: self._on_funding,
            OrderUpdate: self._on_order,
            AlgoUpdate: self._on_algo,
            AccountUpdate: self._on_account,
            StreamStatus: self._on_stream,
            Timer: _on_timer,
        }

    # ================================================================== entry points

    def start(self, time: int) -> Step:
        """Set the account up on the exchange, then fire `start` rules."""
        step = Step()
        self._clock(time, step)
        step.commands.append(SetPositionMode(self.hedge, time))
        margin = self.book.margin_type
        for symbol, run in self.symbols.items():
            step.commands.append(SetMarginType(symbol, margin, time))
            step.commands.append(SetLeverage(symbol, run.leverage, time))
        self.started = True
        for symbol in self.symbols:  # the journal's state against the account's position
            self._check_binding(symbol, time, step, why="no position on the exchange at start")
        for symbol in self.symbols:
            self._dispatch(symbol, ("start", None), step)
        return step

    def on_event(self, event: MarketEvent | AccountEvent) -> Step:
        step = Step()
        for env in self._envs:
            if env.filled:
                env.forget_account()
        t = getattr(event, "time", 0)
        received = getattr(event, "received", 0)
        if received > self.received:
            self.received = received
        if t > self.time:
            if (
                t < self._next_day
                and t < self._next_timeout
                and t < self._next_protect
                and t < self._next_retry
                and self.timers.next_due is not None
                and t < self.timers.next_due
                and (self.oms.next_expiry is None or t < self.oms.next_expiry)
            ):
                self.time = t  # nothing falls due: only the clock moves (the common case)
                for market in self._markets:
                    market.set_clock(t)
            else:
                self._clock(t, step)
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event, step)
        return step

    # ================================================================== market events

    def _on_trade(self, event: Trade, step: Step) -> None:
        run = self.symbols.get(event.symbol)
        if run is None:
            return
        closed = run.market.on_trade(event)
        if not run.market.has_mark:
            self.portfolio.set_mark(event.symbol, event.price)
            # Without a mark stream the trades are the only valuation; check at the mark
            # stream's own pace (once a second) rather than on every trade.
            if event.time - self._last_loss_check >= 1000:
                self._last_loss_check = event.time
                run.volatility.update(event.time, float(event.price))
                self.guards.on_price(event.symbol, True, step)
        for candle in closed:
            self._dispatch(event.symbol, ("candle_close", candle.timeframe), step)
        self._dispatch(event.symbol, ("trade", None), step)

    def _on_book(self, event: BookTop, step: Step) -> None:
        run = self.symbols.get(event.symbol)
        if run is None:
            return
        run.market.on_book(event)
        self._dispatch(event.symbol, ("book", None), step)

    def _on_mark(self, event: MarkPrice, step: Step) -> None:
        run = self.symbols.get(event.symbol)
        if run is None:
            return
        run.market.on_mark(event)
        self.portfolio.set_mark(event.symbol, event.mark_price)
        run.volatility.update(event.time, float(event.mark_price))
        self.guards.on_price(event.symbol, True, step)
        self._dispatch(event.symbol, ("mark_price", None), step)

    def _on_candle(self, event: CandleClosed, step: Step) -> None:
        run = self.symbols.get(event.symbol)
        if run is None:
            return
        closed = run.market.on_candle(event)
        fresh = False
        if not run.market.has_mark and run.market.last is not None:
            self.portfolio.set_mark(event.symbol, run.market.last)
            run.volatility.update(event.close_time, float(run.market.last))
            fresh = True
        self.guards.on_price(event.symbol, fresh, step)
        for candle in closed:
            self._dispatch(event.symbol, ("candle_close", candle.timeframe), step)
        # Candle-only data has no trade or mark stream: the close of the shortest candle is
        # the only tick there is, so rules on those triggers see it (stated in the README).
        mkt = run.market
        if not mkt.has_trades and mkt.price_candle_ms == event.close_time - event.open_time + 1:
            self._dispatch(event.symbol, ("trade", None), step)
            if not mkt.has_mark:
                self._dispatch(event.symbol, ("mark_price", None), step)

    def _on_funding(self, event: FundingRate, step: Step) -> None:
        run = self.symbols.get(event.symbol)
        if run is None:
            return
        run.market.on_funding(event)
        self._dispatch(event.symbol, ("funding", None), step)

    def _on_algo(self, event: AlgoUpdate, step: Step) -> None:
        record = self.oms.apply_algo(event)
        if record is not None and record.purpose == "daily_cap":
            self._on_cap_order(record, False, step)
        if record is not None and event.status == "REJECTED":
            step.records.append(
                rec.EngineNotice(
                    event.time,
                    event.symbol,
                    "order-rejected",
                    f"{record.purpose} order {record.client_order_id} rejected: {event.reason}",
                )
            )

    def on_reject(self, client_order_id: str, code: int | None, message: str, time: int) -> Step:
        """The venue refused a command outright (a REST error): record it, repair the state."""
        step = Step()
        record = self.oms.rejected(client_order_id, f"{code}: {message}")
        if record is not None:
            symbol = record.command.symbol
            run = self.symbols.get(symbol)
            if record.purpose == "entry":
                outcome = "nothing was opened"
            elif record.purpose in CLOSING_PURPOSES:
                outcome = "the position is unchanged"
                ex = run.exiting if run is not None else None
                if run is not None and ex is not None and ex.order_id == client_order_id:
                    wait = max(ex.retry_at - time, 0) / 1000
                    outcome += f"; the state stays {run.state} and the exit is sent again in {wait:g} s"
            else:
                outcome = "the order is not working"
            step.records.append(
                rec.EngineNotice(
                    time,
                    symbol,
                    "order-rejected",
                    f"{record.purpose} order {client_order_id} rejected by the exchange ({code}: {message}); {outcome}",
                )
            )
            if run is not None:
                run.entry_pending.discard(client_order_id)
                run.protections.pop(client_order_id, None)
                self._check_binding(symbol, time, step)
        return step

    def on_setup_rejected(self, command: Command, code: int | None, message: str, time: int) -> Step:
        """The exchange refused to set margin type, position mode or leverage as the rulebook
        needs them: trading on an account set up otherwise would break the guards' sums, so
        the bot halts (no orders exist yet when this happens at start)."""
        step = Step()
        what = {SetMarginType: "margin type", SetPositionMode: "position mode", SetLeverage: "leverage"}.get(
            type(command), type(command).__name__
        )
        self.halt(
            f"the exchange refused to set the {what} ({code}: {message}); the account is not set up as "
            "the rulebook requires — close positions and orders of another mode on the exchange, or change "
            "the rulebook's account settings, then restart",
            step,
        )
        return step

    # ================================================================== clock

    def _clock(self, time: int, step: Step) -> None:
        """Fire what fell due up to `time` (on_event checks first that something did)."""
        self._next_day = (time // 86_400_000 + 1) * 86_400_000
        for due_time, key in self.timers.due(self.time, time):
            self._set_time(due_time)
            for symbol in self.symbols:
                self._dispatch(symbol, key, step)
        self._set_time(time)
        if self.portfolio.on_time(time):
            self.daily_breach_day = None if self.daily_breach_day != time // 86_400_000 else self.daily_breach_day
            self._cap_stale = True  # a new start equity moves every cap price
        for symbol, run in self.symbols.items():
            spec = self.book.states[run.state]
            if spec.timeout_ms is not None and spec.then and time - run.entered_at >= spec.timeout_ms:
                self._goto(symbol, spec.then, time, "timeout", step)
        self._update_next_timeout()
        if time >= self._next_protect:
            self.guards.on_clock(step)
            self._next_protect = min(r.guard.protect_deadline for r in self.symbols.values())
        if time >= self._next_retry:
            self._next_retry = _NEVER
            for symbol, run in self.symbols.items():
                if run.exiting is not None:
                    self._check_binding(symbol, time, step)
        for record in self.oms.expired(time):
            step.commands.append(CancelOrder(record.command.symbol, record.client_order_id, time))
            record.command = _without_expiry(record.command)

    def _update_next_timeout(self) -> None:
        nxt = 1 << 62
        for run in self.symbols.values():
            spec = self.book.states[run.state]
            if spec.timeout_ms is not None and spec.then:
                nxt = min(nxt, run.entered_at + spec.timeout_ms)
        self._next_timeout = nxt

    def _set_time(self, time: int) -> None:
        self.time = time
        for run in self.symbols.values():
            run.market.set_clock(time)

    # ================================================================== dispatch

    def _dispatch(self, symbol: str, key: tuple[str, str | None], step: Step) -> None:
        run = self.symbols[symbol]
        env = run.market.env
        prev_names = self._prev_by_key.get(key)
        snapshot = run.prev.get(key) if prev_names else None
        if prev_names:
            if snapshot is None:
                snapshot = run.prev[key] = {}
            for n in prev_names:
                env[PREV_PREFIX + n] = snapshot.get(n, env.get(n, math.nan))
        rules = self.book.dispatch.get((key, run.state))
        if rules:
            env["state"] = run.state
            start_state, start_exiting = run.state, run.exiting
            for rule in rules:
                if symbol not in rule.symbols:
                    continue
                nr = run.market.not_ready
                if nr and not rule.reads.isdisjoint(nr):
                    continue
                fired, error = True, None
                when = rule.when
                if when is not None:
                    try:
                        fired = bool(when.fn(env))
                        # A NaN compares false (and `!=` true) without a word: when one is among
                        # the inputs, the checking twin says whether it decided the result.
                        if when.reads_nan is not None and when.reads_nan(env):
                            when.nan_checked(env)  # type: ignore[misc]  # set together with reads_nan
                    except (ArithmeticError, ValueError, TypeError) as exc:
                        fired, error = False, f"{type(exc).__name__}: {exc}"
                if fired or self.record_all or error:
                    step.records.append(
                        rec.Decision(
                            self.time,
                            symbol,
                            rule.name,
                            str(rule.trigger),
                            run.state,
                            {n: _read(env, n) for n in sorted(rule.reads)},
                            fired,
                            self.book.source_hash,
                            error,
                        )
                    )
                if fired:
                    self._run_actions(symbol, rule, step)
                    # A refused entry followed by `goto: long` would leave a state that claims
                    # a position nobody holds: fall back at once.
                    self._check_binding(symbol, self.time, step, why="no position (entry not placed)")
                    if run.state != start_state or run.exiting is not start_exiting:
                        break  # the remaining rules were chosen for the state we just left (or are leaving)
        if prev_names and snapshot is not None:
            for n in prev_names:
                snapshot[n] = env.get(n, math.nan)

    def _account_view(self, symbol: str, env: Env) -> None:
        """Position and account values for conditions, at the mark price.

        Conditions read floats, so this is float arithmetic on the portfolio's exact values:
        a condition that reads `upnl` on every trade must not pay for Decimal math. Orders
        and the guards keep using the exact figures.
        """
        env.filled = True  # whoever filled them, the next event must recompute them
        pf = self.portfolio
        inst = self.instruments[symbol]
        run = self.symbols[symbol]
        asset = inst.margin_asset
        pos = pf.net_position(symbol)
        mark_d = pf.marks.get(symbol)
        wallet = float(pf.wallet.get(asset, ZERO))
        equity = wallet
        used = 0.0
        this_upnl = 0.0
        for (s, _), p in pf.positions.items():
            if p.amount == 0:
                continue
            other = self.instruments[s]
            m = pf.marks.get(s)
            if other.margin_asset != asset or m is None:
                continue
            pnl, notional = float_pnl_and_notional(other, float(p.amount), float(p.entry_price), float(m))
            equity += pnl
            used += notional / self.symbols[s].leverage if s in self.symbols else 0.0
            if s == symbol and p is pos:
                this_upnl = pnl
        env["position.side"] = pos.side
        size = float(pos.size)
        env["position.size"] = size
        if pos.amount and mark_d is not None:
            e = float(pos.entry_price)
            _, notional = float_pnl_and_notional(inst, float(pos.amount), e, float(mark_d))
            margin = notional / run.leverage
            lev = run.leverage
            maint = float(_MAINT)
            # Isolated estimate with a flat maintenance rate; the liquidation-distance guard
            # uses the symbol's brackets instead.
            liq = e * (1 - 1 / lev) / (1 - maint) if pos.amount > 0 else e * (1 + 1 / lev) / (1 + maint)
            env["entry_price"] = e
            env["upnl"] = this_upnl
            env["margin"] = margin
            env["roe"] = this_upnl / margin if margin else 0.0
            env["leverage"] = notional / equity if equity > 0 else 0.0
            env["liq_price"] = liq
        else:
            env["entry_price"] = env["liq_price"] = math.nan
            env["upnl"] = env["margin"] = env["roe"] = env["leverage"] = 0.0
        env["equity"] = equity
        env["available"] = equity - used
        start = pf.today.start_equity.get(asset) if pf.today is not None else None
        env["daily_pnl"] = equity - float(start) if start is not None else 0.0

    # ================================================================== actions

    def _run_actions(
        self, symbol: str, rule: c.CompiledRule, step: Step, actions: tuple[c.CompiledAction, ...] | None = None
    ) -> None:
        run = self.symbols[symbol]
        entry_id: str | None = None
        entry_refused = False
        todo = rule.actions if actions is None else actions
        for j, action in enumerate(todo):
            if isinstance(action, c.Enter):
                entry_id = self._enter(symbol, rule, action, step)
                entry_refused = entry_id is None
            elif isinstance(action, c.StopOrder | c.TrailingStop):
                if entry_id is not None:
                    run.protections.setdefault(entry_id, []).append(action)
                elif self.portfolio.net_position(symbol).amount != 0:
                    self._protect(symbol, rule.name, action, step)
            elif isinstance(action, c.Exit | c.Reduce):
                cid = self._exit(
                    symbol, rule.name, action.fraction, action.size, action.order, action.price, "exit", step
                )
                if cid is not None and self._reverses(action, todo[j + 1 :]):
                    self._reverse_once_flat(symbol, rule, cid, todo[j + 1 :], step)
                    return
            elif isinstance(action, c.Deleverage):
                self._deleverage(symbol, rule.name, action, step)
            elif isinstance(action, c.ChangeLeverage):
                lev, verdict = self.risk.clamp_leverage(max(action.to, action.requested))
                run.leverage = lev
                step.records.append(
                    rec.GuardRecord(self.time, symbol, rule.name, f"set_leverage {action.requested}x", (verdict,), None)
                )
                step.commands.append(SetLeverage(symbol, lev, self.time))
            elif isinstance(action, c.Cancel):
                self._cancel(symbol, action.tag, step)
            elif isinstance(action, c.Goto):
                if entry_refused and self.book.states[action.state].position in ("long", "short"):
                    continue  # the entry was refused: no position to hold, so no state claiming one
                self._goto(symbol, action.state, self.time, f"rule {rule.name}", step)
            elif isinstance(action, c.Log):
                env = run.market.env
                self._account_view(symbol, env)
                message = action.template
                for name in action.names:
                    value = env.get(name)
                    shown = f"{value:.6g}" if isinstance(value, float) else str(value)
                    message = message.replace("{" + name + "}", shown)
                step.records.append(rec.LogLine(self.time, symbol, rule.name, message))
            elif isinstance(action, c.Halt):
                self.halt(action.reason, step, rule=rule.name)

    def _reverses(self, action: c.Exit | c.Reduce, rest: tuple[c.CompiledAction, ...]) -> bool:
        """A full exit followed by an entry in one-way mode: stop and reverse."""
        return (
            not self.hedge
            and isinstance(action, c.Exit)
            and action.fraction is None
            and action.size is None
            and any(isinstance(a, c.Enter) for a in rest)
        )

    def _reverse_once_flat(
        self, symbol: str, rule: c.CompiledRule, exit_id: str, rest: tuple[c.CompiledAction, ...], step: Step
    ) -> None:
        """Stop and reverse: the reduce-only exit is out; the rest of the rule (the entry, its stops,
        the goto) waits until the exchange reports the position flat. In one-way mode an entry
        sent beside the exit would flip the position if the exit filled and add to it if the exit
        was refused; waiting keeps the position within the rulebook's size whatever the exchange
        does. Until then the state stays, and a refused exit is sent again as for `goto: flat`."""
        run = self.symbols[symbol]
        for entry_id in sorted(run.entry_pending):  # an entry still working would refill the old side
            step.commands.append(CancelOrder(symbol, entry_id, self.time))
        ex = run.exiting
        if ex is None:
            flat = state_for_flat(self.book, run.state)
            ex = PendingExit(
                flat, f"rule {rule.name}", rule.name, exit_id, 1, self.time + retry_delay_ms(1), rest, rule
            )
            run.exiting = ex
        else:
            ex.order_id, ex.then, ex.then_rule = exit_id, rest, rule
        self._next_retry = min(self._next_retry, ex.retry_at)

    def _enter(self, symbol: str, rule: c.CompiledRule, action: c.Enter, step: Step) -> str | None:
        run = self.symbols[symbol]
        blocked = self._entry_blocked(symbol)
        if blocked is not None:
            verdict = Verdict("reject", "one_entry_at_a_time", blocked)
            step.records.append(rec.GuardRecord(self.time, symbol, rule.name, f"enter {action.side}", (verdict,), None))
            return None
        market = run.market
        inst = self.instruments[symbol]
        env = market.env
        self._account_view(symbol, env)
        try:
            price = None
            if action.price is not None:
                price = to_decimal(action.price.fn(env), f"price {action.price.text!r}")
            ref = price if price is not None else (market.last or ZERO)
            equity = self.portfolio.equity(inst.margin_asset)
            qty = entry_quantity(action.size, inst, env, ref, equity, run.leverage)
        except (SizingError, ArithmeticError) as exc:
            step.records.append(
                rec.GuardRecord(
                    self.time, symbol, rule.name, f"enter {action.side}", (Verdict("reject", "sizing", str(exc)),), None
                )
            )
            return None
        intent = EnterIntent(
            symbol,
            action.side,
            qty,
            action.order,
            price,
            action.time_in_force,
            action.expire_ms,
            action.tag,
            rule.name,
            self.time,
        )
        pos = self.portfolio.net_position(symbol)
        mark = market.mark or ZERO
        funding_rate = env.get("funding_rate")
        nft = market.next_funding_time
        view = AccountView(
            time=self.time,
            instrument=inst,
            last_price=market.last or ZERO,
            mark_price=mark,
            equity=self.portfolio.equity(inst.margin_asset),
            position_notional=self.portfolio.notional(symbol),
            position_side=pos.side,
            open_orders=len(self.oms.open_orders(symbol)),
            last_data_time=market.last_data_time,
            received=self.received,
            leverage=run.leverage,
            halted=self.halted,
            daily_loss_breached=self.daily_breach_day is not None,
            daily_pnl=self._daily_pnl_closed(inst.margin_asset),
            daily_loss_cap=self.daily_cap(inst.margin_asset),
            fee_rates=self.fee_rates,
            orders_last_minute=self.order_budget.used(self.time),
            streams_down=tuple(sorted(self.streams_down)),
            funding_rate=Decimal(repr(funding_rate))
            if isinstance(funding_rate, float) and funding_rate == funding_rate
            else None,
            funding_in_ms=nft - self.time if nft is not None else None,
            volatility_ratio=run.volatility.ratio(),
            brackets=self.brackets[symbol],
            holding=self._holding(symbol) if mark > 0 else None,
            margin_type=self._margin_type,
        )
        checked = self.risk.check_entry(intent, view)
        described = f"enter {action.side} {qty:.8g} {action.order.lower()}" + (
            f" @ {price}" if price is not None else ""
        )
        if checked.quantity is None:
            step.records.append(rec.GuardRecord(self.time, symbol, rule.name, described, tuple(checked.verdicts), None))
            return None
        side = action.order_side
        cmd = PlaceOrder(
            client_order_id=self.oms.next_id(),
            symbol=symbol,
            side=side,
            order_type=checked.order_type,
            quantity=checked.quantity,
            price=checked.price,
            time_in_force=checked.time_in_force,
            position_side=self._pos_side(action.side),
            expire_at=self.time + action.expire_ms if action.expire_ms else None,
            tag=action.tag,
            time=self.time,
        )
        self.oms.track(cmd, "entry", rule.name)
        run.entry_pending.add(cmd.client_order_id)
        step.records.append(
            rec.GuardRecord(self.time, symbol, rule.name, described, tuple(checked.verdicts), cmd.client_order_id)
        )
        self._send(cmd, step)
        return cmd.client_order_id

    def _entry_blocked(self, symbol: str) -> str | None:
        """Why no entry may go out on the symbol now (None: it may). Entries go one at a time,
        each once the last one's outcome is in the position the exchange reported, and never
        add to a position that the state does not expect."""
        run = self.symbols[symbol]
        if run.exiting is not None:
            return f"the position is being closed ({run.exiting.why}): no entry until the exchange confirms it"
        if run.entry_pending:
            return (
                f"entry {min(run.entry_pending)} is still working: one entry at a time on {symbol} "
                "until the exchange reports its outcome"
            )
        if run.fill_time > run.account_time:
            return "the last fill is not in the position the exchange reported yet: one entry at a time"
        binding = self.book.states[run.state].position
        for pos in self._open_legs(symbol):
            if binding not in (pos.side, "any"):
                return (
                    f"the exchange holds a {pos.side} position of {pos.size} and state {run.state} is bound to "
                    f"position {binding}: no entry adds to a position the state does not expect"
                )
        return None

    def _open_legs(self, symbol: str) -> list[Any]:
        return [p for (s, _), p in self.portfolio.positions.items() if s == symbol and p.amount != 0]

    def _pos_side(self, side: str) -> PositionSide:
        if not self.hedge:
            return PositionSide.BOTH
        return PositionSide.LONG if side == "long" else PositionSide.SHORT

    def _exit(
        self,
        symbol: str,
        rule: str,
        fraction: Decimal | None,
        size: CompiledExpr | None,
        order: OrderType,
        price_expr: CompiledExpr | None,
        purpose: Purpose,
        step: Step,
        verdict: Verdict | None = None,
    ) -> str | None:
        pos = self.portfolio.net_position(symbol)
        if pos.amount == 0:
            return None
        if purpose == "exit" and self.symbols[symbol].exiting is not None and self._closing(symbol):
            return None  # the position is already being closed: a second exit would only be refused
        inst = self.instruments[symbol]
        env = self.symbols[symbol].market.env
        order_type = order
        try:
            if size is not None:
                qty = min(to_decimal(size.fn(env), f"size {size.text!r}"), pos.size)
            elif fraction is not None:
                qty = pos.size * fraction
            else:
                qty = pos.size
            price = None
            if price_expr is not None:
                price = to_decimal(price_expr.fn(env), f"price {price_expr.text!r}")
        except (SizingError, ArithmeticError) as exc:
            step.records.append(
                rec.GuardRecord(self.time, symbol, rule, "exit", (Verdict("reject", "sizing", str(exc)),), None)
            )
            return None
        side = Side.SELL if pos.amount > 0 else Side.BUY
        qty = inst.round_qty(qty, order_type)
        if qty <= 0:
            return None
        if price is not None:
            price = inst.round_price(price, side)
        cmd = PlaceOrder(
            client_order_id=self.oms.next_id(),
            symbol=symbol,
            side=side,
            order_type=order_type,
            quantity=qty,
            price=price,
            time_in_force=TimeInForce.GTC if order_type is OrderType.LIMIT else None,
            position_side=pos.position_side,
            reduce_only=not self.hedge,
            time=self.time,
        )
        self.oms.track(cmd, purpose, rule)
        step.records.append(
            rec.GuardRecord(
                self.time,
                symbol,
                rule,
                f"{purpose} {qty} reduce-only",
                (verdict or Verdict("allow", "reduce_only", "exits are always allowed"),),
                cmd.client_order_id,
            )
        )
        self._send(cmd, step)
        return cmd.client_order_id

    def _closing(self, symbol: str) -> bool:
        """An order of ours that closes (part of) the position is working."""
        return any(r.purpose in CLOSING_PURPOSES for r in self.oms.open_orders(symbol))

    def _deleverage(self, symbol: str, rule: str, action: c.Deleverage, step: Step) -> None:
        pos = self.portfolio.net_position(symbol)
        inst = self.instruments[symbol]
        mark = self.portfolio.marks.get(symbol)
        equity = self.portfolio.equity(inst.margin_asset)
        if pos.amount == 0 or mark is None or equity <= 0:
            return
        try:
            target = to_decimal(action.to.fn(self.symbols[symbol].market.env), "deleverage to")
        except SizingError:
            return
        keep_notional = target * equity
        notional = abs(inst.notional(pos.size, mark))
        if notional <= keep_notional:
            return
        keep_qty = keep_notional * mark / inst.contract_size if inst.is_inverse else keep_notional / mark
        fraction = (pos.size - keep_qty) / pos.size
        self._exit(symbol, rule, fraction, None, OrderType.MARKET, None, "deleverage", step)

    def _protect(self, symbol: str, rule: str, action: c.StopOrder | c.TrailingStop, step: Step) -> None:
        pos = self.portfolio.net_position(symbol)
        if pos.amount == 0:
            return
        inst = self.instruments[symbol]
        run = self.symbols[symbol]
        env = run.market.env
        self._account_view(symbol, env)
        side = Side.SELL if pos.amount > 0 else Side.BUY
        long = pos.amount > 0
        try:
            if isinstance(action, c.TrailingStop):
                activation = None
                if action.activation is not None:
                    activation = trigger_price(inst, action.activation.fn(env), "activation price")
                cmd = PlaceOrder(
                    client_order_id=self.oms.next_id(),
                    symbol=symbol,
                    side=side,
                    order_type=OrderType.TRAILING_STOP_MARKET,
                    quantity=inst.round_qty(pos.size, OrderType.MARKET),
                    position_side=pos.position_side,
                    reduce_only=not self.hedge,
                    working_type=action.working_type,
                    callback_rate=(action.callback * 100).normalize(),
                    activation_price=activation,
                    tag=action.tag,
                    time=self.time,
                )
                purpose: Purpose = "trailing_stop"
            else:
                if action.price is not None:
                    trig = trigger_price(inst, action.price.fn(env), f"{action.kind} price")
                else:
                    assert action.distance is not None
                    d = action.distance
                    below = long == (action.kind == "stop_loss")
                    trig = trigger_price(inst, pos.entry_price * (1 - d if below else 1 + d), f"{action.kind} price")
                order_type = OrderType.STOP_MARKET if action.kind == "stop_loss" else OrderType.TAKE_PROFIT_MARKET
                cmd = PlaceOrder(
                    client_order_id=self.oms.next_id(),
                    symbol=symbol,
                    side=side,
                    order_type=order_type,
                    quantity=None,
                    trigger_price=trig,
                    position_side=pos.position_side,
                    close_position=True,
                    working_type=action.working_type,
                    price_protect=action.price_protect,
                    tag=action.tag,
                    time=self.time,
                )
                purpose = action.kind
        except (SizingError, ArithmeticError) as exc:
            step.records.append(
                rec.GuardRecord(
                    self.time, symbol, rule, type(action).__name__, (Verdict("reject", "sizing", str(exc)),), None
                )
            )
            return
        for old in self.oms.open_orders(symbol):
            # The new stop covers the whole position: the one it replaces goes, or each added
            # entry's stop would stay until the exchange's limit refuses the next (-4045).
            was = old.command
            if old.purpose == purpose and was.tag == cmd.tag and was.position_side is cmd.position_side:
                step.commands.append(CancelOrder(symbol, old.client_order_id, self.time))
        self.oms.track(cmd, purpose, rule)
        step.records.append(
            rec.GuardRecord(
                self.time,
                symbol,
                rule,
                f"{purpose} {cmd.trigger_price or ''}".strip(),
                (Verdict("allow", "reduce_only", "protective orders are always allowed"),),
                cmd.client_order_id,
            )
        )
        self._send(cmd, step)
        run.guard.protect_deadline = _NEVER

    def _cancel(self, symbol: str, tag: str | None, step: Step) -> None:
        if tag is None:
            step.commands.append(CancelAllOrders(symbol, self.time))
            return
        for record in self.oms.open_orders(symbol, tag):
            step.commands.append(CancelOrder(symbol, record.client_order_id, self.time))

    def _goto(self, symbol: str, state: str, time: int, why: str, step: Step) -> None:
        run = self.symbols[symbol]
        if state != run.state and self.book.states[state].position == "none" and not self._known_flat(symbol):
            self._goto_when_flat(symbol, state, time, why, step)
            return
        if state == run.state:
            run.entered_at = time
            self._update_next_timeout()
            return
        step.records.append(rec.StateChange(time, symbol, run.state, state, why))
        run.state = state
        run.entered_at = time
        run.market.env["state"] = state
        self._update_next_timeout()

    def _known_flat(self, symbol: str) -> bool:
        """No position, no entry working, and every fill already in the position reported."""
        run = self.symbols[symbol]
        return not run.entry_pending and run.fill_time <= run.account_time and not self._open_legs(symbol)

    def _goto_when_flat(self, symbol: str, state: str, time: int, why: str, step: Step) -> None:
        """A `position: none` state is entered once the exchange reports the position closed: until
        then the state stays, and the exit the rule sent is watched (and sent again if refused)."""
        run = self.symbols[symbol]
        closing = [r for r in self.oms.open_orders(symbol) if r.purpose in CLOSING_PURPOSES]
        run.entered_at = time  # a `timeout: … then:` waits again rather than firing on every event
        self._update_next_timeout()
        ex = run.exiting
        if ex is not None:
            ex.target, ex.why = state, why
            ex.then, ex.then_rule = (), None  # a later move to a flat state replaces a pending reversal
            if closing:
                ex.order_id = closing[-1].client_order_id
            return
        reflected = run.fill_time <= run.account_time
        if not closing and not run.entry_pending and reflected:
            pos = self.portfolio.net_position(symbol)
            step.records.append(
                rec.EngineNotice(
                    time,
                    symbol,
                    "state-kept",
                    f"{why}: not moving to {state}: the exchange holds a {pos.side} position of {pos.size} and "
                    f"no exit is working; the state stays {run.state}",
                )
            )
            return
        for entry_id in sorted(run.entry_pending):  # an exit before the entry's outcome: stop the entry
            step.commands.append(CancelOrder(symbol, entry_id, time))
        rule = closing[-1].rule if closing else why.removeprefix("rule ")
        order_id = closing[-1].client_order_id if closing else None
        run.exiting = PendingExit(state, why, rule, order_id, len(closing[-1:]), time + retry_delay_ms(1))

    def _send_exit_again(self, symbol: str, step: Step) -> None:
        """The position a pending exit was to close is still open and nothing closes it: close it,
        no sooner than the backoff after the last try and within the order budget."""
        run = self.symbols[symbol]
        ex = run.exiting
        if ex is None or self._closing(symbol):
            return  # a closing order works: its outcome decides
        if ex.attempts and self.time < ex.retry_at:
            self._next_retry = min(self._next_retry, ex.retry_at)
            return
        if self.order_budget.used(self.time) >= self.book.risk.max_orders_per_minute:
            ex.retry_at = self.time + 1000
            self._next_retry = min(self._next_retry, ex.retry_at)
            return
        cid = self._exit(symbol, ex.rule, None, None, OrderType.MARKET, None, "exit", step)
        if cid is not None:
            ex.order_id, ex.attempts = cid, ex.attempts + 1
            ex.retry_at = self.time + retry_delay_ms(ex.attempts)

    def _bind_to_position(self, symbol: str, time: int, step: Step) -> None:
        """The exchange holds a position the state does not expect (a restart, a fresh journal on a
        held position, a fill that arrived late): move to the state bound to it."""
        run = self.symbols[symbol]
        pos = self.portfolio.net_position(symbol)
        target = state_for(self.book, pos.side)
        if target is not None and target != run.state:
            self._goto(symbol, target, time, f"the exchange holds a {pos.side} position of {pos.size}", step)
        elif run.unbound_noted != pos.side:
            run.unbound_noted = pos.side
            step.records.append(
                rec.EngineNotice(
                    time,
                    symbol,
                    "position-unbound",
                    f"the exchange holds a {pos.side} position of {pos.size} and no state of the rulebook holds "
                    f"one: no entries on {symbol} while it is open; stops and the guards still act",
                )
            )

    def halt(self, reason: str, step: Step, rule: str = "") -> None:
        """The kill switch: cancel everything, flatten reduce-only, refuse entries from now on."""
        if self.halted is None:
            self.halted = reason
            step.records.append(rec.EngineNotice(self.time, "", "halt", f"halted: {reason}"))
        self._flatten(step, rule or "halt")

    def _flatten(self, step: Step, rule: str) -> None:
        for symbol, run in self.symbols.items():
            step.commands.append(CancelAllOrders(symbol, self.time))
            run.protections.clear()
            cid = self._exit(symbol, rule, None, None, OrderType.MARKET, None, "flatten", step)
            if cid is None:
                continue
            # Watched like a rule's exit: sent again while the exchange refuses it.
            if run.exiting is None:
                target = self.book.states[run.state].on_close or run.state
                run.exiting = PendingExit(target, f"flattened ({rule})", rule, cid, 1, self.time + retry_delay_ms(1))
            else:
                run.exiting.order_id = cid
                run.exiting.then, run.exiting.then_rule = (), None  # no reversal's entry after a flatten

    def daily_cap(self, asset: str) -> Decimal | None:
        """Today's daily loss cap in `asset` (None before the first event or without equity)."""
        today = self.portfolio.today
        start = today.start_equity.get(asset) if today is not None else None
        if start is None or start <= 0:
            return None
        r = self.book.risk
        return cap_amount(start, r.daily_loss_cap_fraction, r.daily_loss_cap_amount)

    def check_price(self, symbol: str, price: Decimal, time: int) -> Step:
        """A price the venue walked inside a candle (candle-only data has no trade or mark
        stream): value positions there and check the daily loss cap and the margin ratio, as
        a mark price would, without firing any rule. A breach flattens at this price, not at
        the candle's close."""
        step = Step()
        run = self.symbols.get(symbol)
        if run is None or run.market.has_mark or run.market.has_trades:
            return step  # a real stream is checked on its own events
        if self.portfolio.net_position(symbol).amount == 0:
            return step  # flat: the price alone moves no PnL (and the clock waits for the candle)
        if time > self.time:
            self._clock(time, step)
        self.portfolio.set_mark(symbol, price)
        self.guards.on_price(symbol, False, step)
        return step

    def _refresh_cap_stops(self, step: Step) -> None:
        """Keep one reduce-only stop per open position on the exchange at the mark price where
        the daily loss cap would be reached (daily_cap.py): it holds through gaps and while
        the bot is dead. Re-priced when the position, the wallet or the day changes."""
        if self.daily_breach_day is not None or self.halted is not None:
            return
        for symbol in self.symbols:
            self._cap_stop(symbol, step)

    def _cap_stop(self, symbol: str, step: Step) -> None:
        pf = self.portfolio
        inst = self.instruments[symbol]
        asset = inst.margin_asset
        cap = self.daily_cap(asset)
        mark = pf.marks.get(symbol)
        if cap is None or pf.today is None:
            return
        if mark is None:  # cannot price it yet (a restart): leave what works, try again at the next check
            self._cap_stale = True
            return
        wanted: dict[PositionSide, tuple[Decimal, Decimal]] = {}  # trigger, size
        floor = pf.today.start_equity[asset] - cap
        equity = pf.equity(asset)
        for (s, side), pos in pf.positions.items():
            if s != symbol or pos.amount == 0:
                continue
            at = cap_price(
                inst, pos.amount, pos.entry_price, equity - pf.unrealized(s, side), floor, self.fee_rates.taker
            )
            if at is None:
                continue
            long = pos.amount > 0
            trig = cap_trigger(inst, at, long)
            if (trig < mark) if long else (trig > mark):  # else the cap is reached: the check flattens
                wanted[side] = (trig, pos.size)
        for record in self.oms.open_orders(symbol):
            cid = record.client_order_id
            if record.purpose != "daily_cap" or cid in self._cap_cancels:
                continue
            side = record.command.position_side
            want, working = wanted.get(side), record.command.trigger_price
            if (
                want is not None
                and working is not None
                and cap is not None
                and abs(working - want[0]) * want[1] <= cap * _CAP_SLACK
            ):
                del wanted[side]
                continue
            self._cap_cancels.add(cid)
            step.commands.append(CancelOrder(symbol, cid, self.time))
        for side, (trig, _) in wanted.items():
            long = side is PositionSide.LONG or (side is PositionSide.BOTH and pf.position(symbol, side).amount > 0)
            cmd = PlaceOrder(
                client_order_id=self.oms.next_id(),
                symbol=symbol,
                side=Side.SELL if long else Side.BUY,
                order_type=OrderType.STOP_MARKET,
                quantity=None,
                trigger_price=trig,
                position_side=side,
                close_position=True,
                working_type=WorkingType.MARK_PRICE,  # daily PnL is valued at the mark
                tag="daily_loss_cap",
                time=self.time,
            )
            self.oms.track(cmd, "daily_cap", "daily_loss_cap")
            step.records.append(
                rec.GuardRecord(
                    self.time,
                    symbol,
                    "daily_loss_cap",
                    f"daily_cap stop {trig}",  # the first word is the purpose a restart adopts it as
                    (
                        Verdict(
                            "act",
                            "daily_loss_cap",
                            f"stop-market at mark {trig}, where daily PnL would reach the cap -{cap:.2f} {asset}",
                        ),
                    ),
                    cmd.client_order_id,
                )
            )
            self._send(cmd, step)

    def _daily_pnl_closed(self, asset: str) -> Decimal:
        """Daily PnL as if every open position of `asset` were closed now at its mark by a
        market order: the fee to get out is as lost as the fee that got in (the cap stop is
        priced the same way, daily_cap.py)."""
        pf = self.portfolio
        fees = ZERO
        for (symbol, _), pos in pf.positions.items():
            inst = self.instruments.get(symbol)
            mark = pf.marks.get(symbol)
            if pos.amount and inst is not None and mark is not None and inst.margin_asset == asset:
                fees += abs(inst.notional(pos.size, mark)) * self.fee_rates.taker
        return pf.daily_pnl(asset) - fees

    def _on_cap_order(self, record: OrderRecord, filled: bool, step: Step) -> None:
        if filled:
            self._cap_hits.add(self.instruments[record.command.symbol].margin_asset)
        if not record.is_open:
            ours = record.client_order_id in self._cap_cancels
            self._cap_cancels.discard(record.client_order_id)
            if record.filled_qty == 0 and not ours:
                self._refresh_cap_stops(step)  # canceled by someone else (a rule's `cancel`): put it back

    def _breach(self, asset: str, pnl: Decimal, cap: Decimal, step: Step) -> None:
        """Today's loss reached the cap (risk/daily_loss_cap.py decided): cancel, flatten or halt."""
        self._cap_hits.clear()
        self.daily_breach_day = self.time // 86_400_000
        step.records.append(
            rec.EngineNotice(
                self.time,
                "",
                "daily-loss-cap",
                f"daily loss {pnl:.2f} {asset} reached the cap {cap:.2f}: "
                f"orders canceled, positions flattened, no entries until 00:00 UTC",
            )
        )
        if self.book.risk.on_breach == "halt":
            self.halt("daily loss cap", step)
        else:
            self._flatten(step, "daily_loss_cap")

    # ================================================================== venue reports

    def _on_order(self, u: OrderUpdate, step: Step) -> None:
        record = self.oms.apply(u)
        self.portfolio.apply_fill(u)
        run = self.symbols.get(u.symbol)
        if run is not None and u.last_filled_qty > 0:
            run.fill_time = max(run.fill_time, u.time)  # the position moved: wait for the account's word
        if record is None or run is None:
            return
        if record.purpose == "daily_cap":
            self._on_cap_order(record, u.last_filled_qty > 0, step)
        if u.last_filled_qty > 0:
            self._dispatch(u.symbol, ("fill", None), step)
        if record.purpose == "entry" and record.status is not None and not record.is_open:
            run.entry_pending.discard(record.client_order_id)
            if record.filled_qty == 0:
                run.protections.pop(record.client_order_id, None)
            self._check_binding(u.symbol, u.time, step)
        elif record.purpose in CLOSING_PURPOSES and not record.is_open:
            self._check_binding(u.symbol, u.time, step)
        self._place_protections(u.symbol, step)
        self._refresh_protection(u.symbol)

    def _on_account(self, u: AccountUpdate, step: Step) -> None:
        closed = self.portfolio.apply_account_update(u)
        for p in u.positions:
            held = self.symbols.get(p.symbol)
            if held is not None:
                held.account_time = max(held.account_time, u.time)
        for pos in closed:
            run = self.symbols.get(pos.symbol)
            if run is None:
                continue
            self._cancel_leftover_stops(pos.symbol, pos.position_side, step)
            self._dispatch(pos.symbol, ("position_closed", None), step)
            self._check_binding(pos.symbol, u.time, step)
        for symbol in sorted({p.symbol for p in u.positions}):
            if symbol in self.symbols:
                self._place_protections(symbol, step)
                self._refresh_protection(symbol)
                self._check_binding(symbol, u.time, step)
        if u.reason == "ORDER":
            self.guards.on_account(step)
        self._refresh_cap_stops(step)  # the position or the wallet changed: so did the cap price

    def _cancel_leftover_stops(self, symbol: str, position_side: PositionSide, step: Step) -> None:
        """The position is gone: its stops and take-profits go too. Binance leaves them working,
        and a close-position stop left over from the last trade would close the next one."""
        for record in self.oms.open_orders(symbol):
            cmd = record.command
            if record.purpose in _LEFTOVER_PURPOSES and cmd.position_side is position_side:
                step.commands.append(CancelOrder(symbol, record.client_order_id, self.time))

    def _place_protections(self, symbol: str, step: Step) -> None:
        run = self.symbols[symbol]
        if not run.protections or self.portfolio.net_position(symbol).amount == 0:
            return
        for entry_id in list(run.protections):
            entry = self.oms.get(entry_id)
            if entry is None or entry.filled_qty == 0 or entry.is_open:
                continue  # place once the entry is done filling, sized to the position it made
            for action in run.protections.pop(entry_id):
                assert isinstance(action, c.StopOrder | c.TrailingStop)
                self._protect(symbol, entry.rule, action, step)

    # ================================================================== guards the engine runs itself

    def _send(self, cmd: PlaceOrder, step: Step) -> None:
        self.order_budget.sent(cmd.time)
        step.commands.append(cmd)

    def _holding(self, symbol: str) -> Holding:
        pf = self.portfolio
        inst = self.instruments[symbol]
        pos = pf.net_position(symbol)
        run = self.symbols[symbol]
        wallet = pos.isolated_wallet
        if pos.amount != 0 and wallet <= 0:  # the venue has not said: the initial margin it took
            wallet = abs(inst.notional(pos.size, pos.entry_price)) / run.leverage
        other_maint = other_upnl = ZERO
        if self._margin_type is MarginType.CROSSED:
            for other in self.symbols:
                mark = pf.marks.get(other)
                if other == symbol or mark is None or self.instruments[other].margin_asset != inst.margin_asset:
                    continue
                o = pf.net_position(other)
                if o.amount:
                    other_maint += self.brackets[other].maintenance_margin(
                        self.instruments[other].notional(o.size, mark)
                    )
                    other_upnl += pf.unrealized(other, o.position_side)
        return Holding(
            pos.amount, pos.entry_price, wallet, pf.wallet.get(inst.margin_asset, ZERO), other_maint, other_upnl
        )

    def _on_stream(self, e: StreamStatus, step: Step) -> None:
        if e.connected:
            if e.stream in self.streams_down:
                self.streams_down.discard(e.stream)
                step.records.append(
                    rec.EngineNotice(
                        e.time, "", "stream-up", f"stream {e.stream} is back; entries allowed again once data is fresh"
                    )
                )
        elif e.stream not in self.streams_down:
            self.streams_down.add(e.stream)
            step.records.append(
                rec.EngineNotice(
                    e.time,
                    "",
                    "stream-down",
                    f"stream {e.stream} disconnected"
                    f"{': ' + e.detail if e.detail else ''}; no new entries until it is "
                    "back; exits and stops still go out",
                )
            )

    def _refresh_protection(self, symbol: str) -> None:
        """Start (or stop) the protective-stop guard's countdown for the symbol."""
        run = self.symbols[symbol]
        if self.portfolio.net_position(symbol).amount == 0 or self._has_stop(symbol):
            run.guard.protect_deadline = _NEVER
        elif run.guard.protect_deadline == _NEVER:
            run.guard.protect_deadline = self.time + self.book.risk.protective_stop_within_ms
        self._next_protect = min(r.guard.protect_deadline for r in self.symbols.values())

    def _has_stop(self, symbol: str) -> bool:
        for record in self.oms.open_orders(symbol):
            if record.purpose in _STOP_PURPOSES or (
                record.command.close_position
                and record.command.order_type is OrderType.STOP_MARKET
                and record.purpose != "daily_cap"  # it moves with the day's PnL: not the position's stop
            ):
                return True
        return False

    def _place_protective_stop(self, symbol: str, trig: Decimal, verdict: Verdict, step: Step) -> None:
        """The protective-stop guard found the position without a stop: place one at `trig`."""
        pos = self.portfolio.net_position(symbol)
        long = pos.amount > 0
        cmd = PlaceOrder(
            client_order_id=self.oms.next_id(),
            symbol=symbol,
            side=Side.SELL if long else Side.BUY,
            order_type=OrderType.STOP_MARKET,
            quantity=None,
            trigger_price=trig,
            position_side=pos.position_side,
            close_position=True,
            working_type=WorkingType.MARK_PRICE,
            tag="protective",
            time=self.time,
        )
        self.oms.track(cmd, "protective", "protective_stop")
        step.records.append(
            rec.GuardRecord(
                self.time, symbol, "protective_stop", f"protective stop {trig}", (verdict,), cmd.client_order_id
            )
        )
        self._send(cmd, step)

    # ================================================================== daily loss state (survives restarts)

    def daily_state(self) -> DailyState | None:
        today = self.portfolio.today
        if today is None:
            return None
        return DailyState(today.day, dict(today.start_equity), self.daily_breach_day == today.day)

    def restore_daily(self, state: DailyState) -> None:
        """Carry today's start equity and a breach over a restart (call before `start`)."""
        from rulebot.engine.portfolio import DayStats

        if self.portfolio.today is not None and self.portfolio.today.day != state.day:
            return  # the saved day is over: a new day starts fresh
        self.portfolio.today = DayStats(state.day, dict(state.start_equity))
        if state.breached:
            self.daily_breach_day = state.day

    # ================================================================== restart recovery

    def warm(self, symbol: str, candles: list[CandleClosed]) -> int:
        """Candles from before the start (a restart, REST klines) into `symbol`'s history and
        indicators; no rule runs on them. Returns how many were new."""
        run = self.symbols.get(symbol)
        return run.market.warm(candles) if run is not None else 0

    def restore_state(self, symbol: str, state: str, entered_at: int) -> bool:
        """Put a symbol back in the state the journal says it was in (call before `start`).

        False when the rulebook has no such state any more: the symbol stays in the initial
        state, and `_check_binding` moves it on once the positions are known.
        """
        if state not in self.book.states or symbol not in self.symbols:
            return False
        run = self.symbols[symbol]
        run.state, run.entered_at = state, entered_at
        run.market.env["state"] = state
        self._update_next_timeout()
        return True

    def adopt_order(self, command: PlaceOrder, purpose: Purpose, rule: str, filled_qty: Decimal = ZERO) -> None:
        """Track an order that was working on the exchange before a restart, under its own
        client order id, so its fills and cancels land where they belong and ids never repeat."""
        record = self.oms.track(command, purpose, rule)
        record.filled_qty = filled_qty
        self.oms.observe_id(command.client_order_id)
        self._refresh_protection(command.symbol)

    def _check_binding(self, symbol: str, time: int, step: Step, why: str = "position closed") -> None:
        """Bring the state in line with the position the exchange reported, once no entry is working
        and every fill is in that position: a position-bound state whose position is gone falls
        back, a pending exit completes (or is sent again), and a state that does not expect the
        position held moves to one that does."""
        run = self.symbols[symbol]
        if run.entry_pending or run.fill_time > run.account_time:
            return  # an entry's outcome, or a fill's effect on the position, is not known yet
        legs = self._open_legs(symbol)
        ex = run.exiting
        if ex is not None:
            if legs:
                self._send_exit_again(symbol, step)
            else:
                run.exiting = None
                states = self.book.states  # a reload may have removed the target
                target = ex.target if ex.target in states else states[run.state].on_close or self.book.initial_state
                self._goto(symbol, target, time, ex.why, step)
                if ex.then and ex.then_rule is not None:  # stop and reverse: flat now, so the entry goes
                    self._run_actions(symbol, ex.then_rule, step, ex.then)
                    self._check_binding(symbol, self.time, step, why="no position (entry not placed)")
            return
        spec = self.book.states[run.state]
        if not legs:
            run.unbound_noted = ""
            if spec.position in ("long", "short") and spec.on_close:
                self._goto(symbol, spec.on_close, time, why, step)
        elif spec.position != "any" and all(p.side != spec.position for p in legs):
            self._bind_to_position(symbol, time, step)


@dataclass(frozen=True, slots=True)
class DailyState:
    """What the daily loss cap must remember across a restart."""

    day: int  # days since the epoch (UTC)
    start_equity: dict[str, Decimal]
    breached: bool


def _on_timer(event: Timer, step: Step) -> None:
    """The clock advanced; due timers fired before the handler ran."""


def _fallback_brackets(symbol: str) -> BracketTable:
    return BracketTable(symbol, (Bracket(1, 10, ZERO, Decimal(10) ** 12, Decimal("0.01"), ZERO),))


def _read(env: dict[str, Any], name: str) -> Any:
    try:
        return env[name]  # [] rather than get(): account values are computed on first read
    except KeyError:
        return None


def _without_expiry(cmd: PlaceOrder) -> PlaceOrder:
    return replace(cmd, expire_at=None)
