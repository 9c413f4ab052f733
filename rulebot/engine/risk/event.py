"""The guards that act on their own as prices and time arrive (margin ratio, volatility breaker,
daily loss cap, protective stop), behind one interface.

Such a guard reads the account through a `GuardView` and returns acts; the engine carries the
acts out (an exit through the order manager, a notice in the journal, a stop, a flatten) in the
order the guards returned them. A guard keeps what it must remember per symbol (its throttle,
whether it tripped) in that symbol's `GuardMemory`, which is part of the engine state, so it
survives a hot reload. Adding one is a module here with `check(view, symbol, fresh)` and one row
in the table of the moment it runs at (`PRICE_GUARDS`, `ACCOUNT_GUARDS`, `CLOCK_GUARDS`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from rulebot.core.enums import MarginType, PositionSide
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable, FloatBrackets
from rulebot.engine.liquidation_guard import Holding
from rulebot.engine.portfolio import PositionState
from rulebot.engine.risk.verdict import Verdict
from rulebot.rulebook.guards import EffectiveRisk

NEVER = 1 << 62  # a deadline that never comes
GUARD_COOLDOWN_MS = 10_000  # between two reductions by the margin-ratio guard


@dataclass(slots=True)
class GuardMemory:
    """What the event-time guards remember about one symbol."""

    last_margin_check: int = -1000  # the margin ratio is checked at most once a second
    last_guard_reduce: int = -GUARD_COOLDOWN_MS
    last_guard_closed_all: bool = False  # the margin-ratio guard's last act closed the whole position
    volatility_tripped: bool = False
    protect_deadline: int = NEVER  # the first of `protect_due`'s deadlines: when the protective-stop guard acts
    # The protective-stop guard's countdown, one per position without a stop for all of it (in hedge mode
    # each leg its own: a leg losing its stop while the other counts down waits its own full countdown, and
    # the guard's stop on one leg ends no other leg's): when it ends, what started it when not the
    # position's opening ("its stop t-3 was ..."), and how long it is (ms).
    protect_due: dict[PositionSide, tuple[int, str, int]] = field(default_factory=dict)
    # How many times in a row the exchange refused the guard's own stop, per leg: it is tried again
    # after a growing wait (1 s, 2 s, 4 s ...), not a whole countdown later.
    protect_refused: dict[PositionSide, int] = field(default_factory=dict)

    def due_again(self) -> None:
        """`protect_deadline` read again from `protect_due`, once that changed."""
        due = self.protect_due
        self.protect_deadline = min((d for d, _, _ in due.values()), default=NEVER) if due else NEVER


@dataclass(frozen=True, slots=True)
class ReducePosition:
    """Close `share` of the symbol's position (None: all of it) with a reduce-only market order."""

    symbol: str
    share: Decimal | None
    verdict: Verdict  # its guard names the exit in the journal
    position_side: PositionSide | None = None  # hedge mode: the leg to reduce (None: the open one, long first)


@dataclass(frozen=True, slots=True)
class Note:
    """A notice for the journal."""

    symbol: str
    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class Protect:
    """Place a close-position stop-market at `trigger` (mark price) on the symbol's position."""

    symbol: str
    trigger: Decimal
    verdict: Verdict
    position_side: PositionSide = PositionSide.BOTH  # hedge mode: the leg it protects


@dataclass(frozen=True, slots=True)
class RefreshCapStops:
    """Price the daily-cap stops again (a restart or a new day left them stale)."""


@dataclass(frozen=True, slots=True)
class Breach:
    """Today's loss in `asset` reached the cap: cancel, flatten (or halt), no entries until 00:00 UTC."""

    asset: str
    pnl: Decimal
    cap: Decimal


GuardAct = ReducePosition | Note | Protect | RefreshCapStops | Breach


class GuardView(Protocol):
    """What an event-time guard may read of the engine."""

    @property
    def time(self) -> int: ...
    @property
    def risk(self) -> EffectiveRisk: ...
    @property
    def margin_type(self) -> MarginType: ...
    def instrument(self, symbol: str) -> Instrument: ...
    def position(self, symbol: str) -> PositionState: ...
    def mark(self, symbol: str) -> Decimal | None: ...
    def brackets(self, symbol: str) -> BracketTable: ...
    def float_brackets(self, symbol: str) -> FloatBrackets: ...
    def holding(self, symbol: str, leg: PositionSide | None = None) -> Holding: ...
    def legs(self, symbol: str) -> Sequence[PositionState]:
        """The symbol's open positions: the one of one-way mode, each open leg in hedge mode."""
        ...

    def memory(self, symbol: str) -> GuardMemory: ...
    def volatility_ratio(self, symbol: str) -> float: ...
    def unprotected(self, symbol: str, leg: PositionSide | None = None) -> PositionState | None:
        """The symbol's open position (in hedge mode: a leg; `leg` when given) with no stop working on all
        of it; None when every one held has its stop, or nothing is held."""
        ...

    def covered(self, pos: PositionState) -> Decimal:
        """How much of the open position `pos` its working stops close: all of it, or the most one of
        them closes (0: it has none; a trailing stop placed before the position grew: its quantity)."""
        ...

    # the daily loss cap
    def daily_assets(self) -> Iterable[str] | None: ...  # None before the first day starts or once breached
    def daily_cap(self, asset: str) -> Decimal | None: ...
    def daily_pnl_closed(self, asset: str) -> Decimal: ...
    def cap_stop_hit(self, asset: str) -> bool: ...
    def cap_stops_stale(self) -> bool: ...


# check(view, symbol, fresh): `fresh` says the symbol's price just moved (its volatility meter took it)
GuardCheck = Callable[[GuardView, str, bool], Sequence[GuardAct]]


@dataclass(frozen=True, slots=True)
class EventGuard:
    """One row of an event-time table: a name for people and the check that runs."""

    name: str
    check: GuardCheck
