"""The engine's side of the event-time guards (risk/event.py): it shows them the account through
the `GuardView` they read, runs the tables at the moments they name, and carries out their acts.

The guards decide; this room only acts: a `Reduce` is a reduce-only market exit named after its
guard, a `Protect` a close-position stop, a `Breach` the cancel-and-flatten (or halt) of the
daily loss cap.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

from rulebot.core.enums import MarginType, OrderType
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable, FloatBrackets
from rulebot.engine import records as rec
from rulebot.engine.liquidation_guard import Holding
from rulebot.engine.portfolio import PositionState
from rulebot.engine.risk import ACCOUNT_GUARDS, CLOCK_GUARDS, PRICE_GUARDS, EventGuard
from rulebot.engine.risk.event import Breach, GuardAct, GuardMemory, Note, Protect, Reduce, RefreshCapStops
from rulebot.rulebook.guards import EffectiveRisk

if TYPE_CHECKING:
    from rulebot.engine.engine import Engine, Step


class EventGuards:
    """Runs PRICE_GUARDS, ACCOUNT_GUARDS and CLOCK_GUARDS for one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ running the tables

    def on_price(self, symbol: str, fresh: bool, step: Step) -> None:
        """A symbol was valued at a new price (`fresh`: its volatility meter took the price)."""
        self._run(PRICE_GUARDS, symbol, fresh, step)

    def on_account(self, step: Step) -> None:
        """An account update after a fill: the wallet moved."""
        self._run(ACCOUNT_GUARDS, "", False, step)

    def on_clock(self, step: Step) -> None:
        for symbol in self.engine.symbols:
            self._run(CLOCK_GUARDS, symbol, False, step)

    def _run(self, table: tuple[EventGuard, ...], symbol: str, fresh: bool, step: Step) -> None:
        for guard in table:
            for act in guard.check(self, symbol, fresh):
                self._act(act, step)

    def _act(self, act: GuardAct, step: Step) -> None:
        eng = self.engine
        if isinstance(act, Reduce):
            rule = act.verdict.guard
            eng._exit(
                act.symbol, rule, act.share, None, OrderType.MARKET, None, "deleverage", step, verdict=act.verdict
            )
        elif isinstance(act, Note):
            step.records.append(rec.EngineNotice(eng.time, act.symbol, act.kind, act.text))
        elif isinstance(act, Protect):
            eng._place_protective_stop(act.symbol, act.trigger, act.verdict, step)
        elif isinstance(act, RefreshCapStops):
            eng._cap_stale = False
            eng._refresh_cap_stops(step)
        elif isinstance(act, Breach):
            eng._breach(act.asset, act.pnl, act.cap, step)

    # ------------------------------------------------------------------ GuardView

    @property
    def time(self) -> int:
        return self.engine.time

    @property
    def risk(self) -> EffectiveRisk:
        return self.engine.book.risk

    @property
    def margin_type(self) -> MarginType:
        return self.engine.book.margin_type

    def instrument(self, symbol: str) -> Instrument:
        return self.engine.instruments[symbol]

    def position(self, symbol: str) -> PositionState:
        return self.engine.portfolio.net_position(symbol)

    def mark(self, symbol: str) -> Decimal | None:
        return self.engine.portfolio.marks.get(symbol)

    def brackets(self, symbol: str) -> BracketTable:
        return self.engine.brackets[symbol]

    def float_brackets(self, symbol: str) -> FloatBrackets:
        return self.engine._float_brackets[symbol]

    def holding(self, symbol: str) -> Holding:
        return self.engine._holding(symbol)

    def memory(self, symbol: str) -> GuardMemory:
        return self.engine.symbols[symbol].guard

    def volatility_ratio(self, symbol: str) -> float:
        return self.engine.symbols[symbol].volatility.ratio()

    def has_stop(self, symbol: str) -> bool:
        return self.engine._has_stop(symbol)

    def daily_assets(self) -> Iterable[str] | None:
        eng = self.engine
        today = eng.portfolio.today
        if eng.daily_breach_day is not None or today is None:
            return None
        return today.start_equity

    def daily_cap(self, asset: str) -> Decimal | None:
        return self.engine.daily_cap(asset)

    def daily_pnl_closed(self, asset: str) -> Decimal:
        return self.engine._daily_pnl_closed(asset)

    def cap_stop_hit(self, asset: str) -> bool:
        return asset in self.engine._cap_hits

    def cap_stops_stale(self) -> bool:
        return self.engine._cap_stale and self.engine.started
