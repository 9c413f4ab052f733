"""The engine's state as one value: everything a run has learnt that the rulebook does not say.

`EngineState` holds the account (portfolio), the orders (order manager), the order budget, the
clock and its deadlines, the kill switch and the daily loss state, and per symbol a `SymbolRun`
(its market and indicators, rule state, when it was entered, leverage, pending entries, exits
and protections, and the guards' memory). The engine's rooms read and change it; nothing else
about a run lives elsewhere. A hot reload is therefore `Engine(new_book, …, state=old.state)`:
the new engine takes the value over and only rebuilds what the rulebook defines (indicators,
timers, rule tables).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rulebot.core.commands import Command
from rulebot.engine import records as rec
from rulebot.engine.market import SymbolMarket
from rulebot.engine.oms import OrderManager
from rulebot.engine.portfolio import Portfolio
from rulebot.engine.risk.event import NEVER, GuardMemory
from rulebot.engine.risk.order_rate import OrderBudget
from rulebot.engine.volatility import VolatilityMeter
from rulebot.rulebook import compiled as c

DAY_MS = 86_400_000


@dataclass(slots=True)
class PendingExit:
    """A move to a position-less state that waits for the exchange to confirm the close (binding.py)."""

    target: str  # the state to enter once the position is gone
    why: str  # as the rule said it, for the state change when it happens
    rule: str  # whose exit it is (a resent exit carries its name)
    order_id: str | None  # the closing order now working, or the last one sent
    attempts: int  # closing orders sent for it so far
    retry_at: int = 0  # no new closing order before this time (backoff after a refusal)
    # Stop and reverse (`do: [exit, {enter: …}, {goto: …}]`, one-way mode): the rest of the rule,
    # run once the exchange reports the position flat. Sent at once, the entry would flip the
    # position if the exit filled, and add to it (or hold both sides' orders) if it was refused.
    then: tuple[c.CompiledAction, ...] = ()
    then_rule: c.CompiledRule | None = None


class Step:
    """What one event produced: commands for the venue, records for the journal."""

    __slots__ = ("commands", "records")

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self.records: list[rec.Record] = []


@dataclass(slots=True)
class SymbolRun:
    """One symbol of the run."""

    market: SymbolMarket
    state: str
    entered_at: int
    leverage: int
    # A leverage change a rule (or a reload) sent, (asked, before), until the next one: the exchange
    # may refuse it (Binance: -4161, lowering an isolated position's), and then `before` still holds.
    leverage_asked: tuple[int, int] | None = None
    # trigger key → the values its rules' crossover/crossunder saw last time
    prev: dict[tuple[str, str | None], dict[str, Any]] = field(default_factory=dict)
    protections: dict[str, list[c.CompiledAction]] = field(default_factory=dict)  # entry id → actions
    entry_pending: set[str] = field(default_factory=set)
    volatility: VolatilityMeter = field(default_factory=VolatilityMeter)
    guard: GuardMemory = field(default_factory=GuardMemory)  # the event-time guards' memory of the symbol
    exiting: PendingExit | None = None  # a move to a position-less state, waiting for the close
    exit_held_at: int = -1  # when an exit was last held back as the exchange would refuse it (Exits.exit)
    fill_time: int = -1  # transaction time of the latest fill on the symbol
    # Fills stamped up to this time are in the position the account last reported: an account
    # update's time, a reconcile's fill_time, or one less than a fill's time when the update at that
    # millisecond was heard before the fill's order was sent (VenueReports.on_order). A fill is
    # settled when fill_time <= account_time.
    account_time: int = -1
    account_heard: int = 0  # OrderManager.accounts_heard at the latest account update naming the symbol
    unbound_noted: c.PositionBinding | None = None  # the binding a held position lacks a state for, once noted


@dataclass(frozen=True, slots=True)
class Swap:
    """What a new stop replaces (stop_swap.py): the stops it replaces, and the words the journal and
    their cancels give (`why` follows the new stop's id: "replaced by t-7: one stop_loss for the
    whole position"; `kind` is the notice's)."""

    olds: tuple[str, ...]
    why: str = ", as the rulebook names it now"
    kind: str = "reload-stop"


@dataclass(slots=True)
class EngineState:
    """A run's state, apart from the rulebook (see the module docstring)."""

    runs: dict[str, SymbolRun]
    portfolio: Portfolio
    oms: OrderManager
    order_budget: OrderBudget = field(default_factory=OrderBudget)
    time: int = 0
    # The latest receive stamp (exchange clock) of a live event: "now" as the edge saw it.
    # The data clock alone cannot tell a lagging feed from a fresh one (its times are old
    # and consistent); the stale-data guard measures data age against this too.
    received: int = 0
    started: bool = False
    halted: str | None = None  # why the kill switch stopped trading
    halt_holds: bool = False  # that halt holds across restarts (Engine.halt_for)
    stopping: str | None = None  # the kill switch's keep: no entry while the bot winds down, positions kept
    daily_breach_day: int | None = None
    streams_down: set[str] = field(default_factory=set)
    cap_cancels: set[str] = field(default_factory=set)  # daily-cap stops being replaced: cancel sent, not confirmed
    cap_hits: set[str] = field(default_factory=set)  # margin assets whose daily-cap stop filled (a breach)
    # Stops replaced new-first (stop_swap.py: a reload moved them, or the position grew): the new
    # one's id → the ones it replaces, cancelled once the exchange has the new one working.
    swaps: dict[str, Swap] = field(default_factory=dict)
    cap_stale: bool = True  # the cap stops want pricing once a mark is known (start, restart, new day)
    last_loss_check: int = -1000  # without a mark stream, trades are valued once a second
    # Deadlines: an event before all of them only moves the clock (clock.py).
    next_day: int = 0
    next_timeout: int = NEVER
    next_protect: int = NEVER
    next_retry: int = NEVER  # when a refused exit (or cancel) is due to be sent again
    # Cancels the exchange refused without executing them (cancel_retry.py): id -> (tries, when the
    # cancel is due to be sent again, or, once sent again, looked at again).
    cancel_retries: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DailyState:
    """What the daily loss cap must remember across a restart."""

    day: int  # days since the epoch (UTC)
    start_equity: dict[str, Decimal]
    breached: bool
