"""The engine's side of the event-time guards (risk/event.py): it shows them the account through
the `GuardView` they read, runs the tables at the moments they name, and carries out their acts.

The guards decide; this room only acts: a `ReducePosition` is a reduce-only market exit named after its
guard, a `Protect` a close-position stop, a `Breach` the cancel-and-flatten (or halt) of the
daily loss cap.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from rulebot.core.enums import MarginType, OrderType, PositionSide
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable, FloatBrackets
from rulebot.engine import records as rec
from rulebot.engine.liquidation_guard import Holding
from rulebot.engine.portfolio import PositionState
from rulebot.engine.risk import ACCOUNT_GUARDS, CLOCK_GUARDS, PRICE_GUARDS, EventGuard
from rulebot.engine.risk.event import Breach, GuardAct, GuardMemory, Note, Protect, ReducePosition, RefreshCapStops
from rulebot.engine.risk.margin_ratio import pass_idle
from rulebot.rulebook.guards import EffectiveRisk

if TYPE_CHECKING:
    from rulebot.engine.engine import Engine
    from rulebot.engine.state import Step


_SHOWN_BY_FAST_PATH = frozenset({"daily_loss_cap", "max_margin_ratio"})


class EventGuards:
    """Runs PRICE_GUARDS, ACCOUNT_GUARDS and CLOCK_GUARDS for one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.state = engine.state
        self.book = engine.book
        self.risk: EffectiveRisk = engine.book.risk
        self.margin_type: MarginType = engine.book.margin_type
        self._runs = engine.state.runs
        self._portfolio = engine.state.portfolio
        self._cap_stops = engine.cap_stops  # built before this room
        self._price_checks = tuple(guard.check for guard in PRICE_GUARDS)
        # The fast backtest path shows the daily loss cap unreached and the margin ratio clearly
        # below its limit at every price of a candle it jumps (backtest/fast_path.py); at that
        # candle's close neither is checked again (`quiet_close`), only the throttle moves.
        self._price_checks_shown = tuple(g.check for g in PRICE_GUARDS if g.name not in _SHOWN_BY_FAST_PATH)
        self.quiet_close = False

    # ------------------------------------------------------------------ running the tables

    def on_price(self, symbol: str, fresh: bool, step: Step) -> None:
        """A symbol was valued at a new price (`fresh`: its volatility meter took the price)."""
        if self.quiet_close:
            checks = self._price_checks_shown
            pass_idle(self._runs[symbol].guard, self.state.time)  # what margin_ratio.check leaves behind
        else:
            checks = self._price_checks
        for check in checks:  # at every valuation: keep it lean
            acts = check(self, symbol, fresh)
            if acts:
                for act in acts:
                    self._act(act, step)

    def on_account(self, step: Step) -> None:
        """An account update after a fill: the wallet moved."""
        self._run(ACCOUNT_GUARDS, "", False, step)

    def on_clock(self, step: Step) -> None:
        for symbol in self.state.runs:
            self._run(CLOCK_GUARDS, symbol, False, step)

    def _run(self, table: tuple[EventGuard, ...], symbol: str, fresh: bool, step: Step) -> None:
        for guard in table:
            for act in guard.check(self, symbol, fresh):
                self._act(act, step)

    def _act(self, act: GuardAct, step: Step) -> None:
        eng = self.engine
        if isinstance(act, ReducePosition):
            verdict = act.verdict
            eng.exits.exit(
                act.symbol,
                verdict.guard,
                act.share,
                None,
                OrderType.MARKET,
                None,
                "deleverage",
                step,
                verdict,
                act.position_side,
            )
        elif isinstance(act, Note):
            step.records.append(rec.EngineNotice(self.state.time, act.symbol, act.kind, act.text))
        elif isinstance(act, Protect):
            eng.protections.place_protective_stop(act.symbol, act.trigger, act.verdict, act.position_side, step)
        elif isinstance(act, RefreshCapStops):
            self.state.cap_stale = False
            eng.cap_stops.refresh(step)
        elif isinstance(act, Breach):
            eng.cap_stops.breach(act.asset, act.pnl, act.cap, step)

    # ------------------------------------------------------------------ GuardView

    @property
    def time(self) -> int:
        return self.state.time

    def instrument(self, symbol: str) -> Instrument:
        return self.engine.instruments[symbol]

    def position(self, symbol: str) -> PositionState:
        return self._portfolio.net_position(symbol)

    def mark(self, symbol: str) -> Decimal | None:
        return self._portfolio.marks.get(symbol)

    def brackets(self, symbol: str) -> BracketTable:
        return self.engine.brackets[symbol]

    def float_brackets(self, symbol: str) -> FloatBrackets:
        return self.engine.float_brackets[symbol]

    def holding(self, symbol: str, leg: PositionSide | None = None) -> Holding:
        return self.engine.holding(symbol, leg)

    def legs(self, symbol: str) -> Sequence[PositionState]:
        if not self.engine.hedge:
            pos = self._portfolio.net_position(symbol)
            return (pos,) if pos.amount != 0 else ()
        return [p for (s, _), p in self._portfolio.positions.items() if s == symbol and p.amount != 0]

    def memory(self, symbol: str) -> GuardMemory:
        return self._runs[symbol].guard

    def volatility_ratio(self, symbol: str) -> float:
        return self._runs[symbol].volatility.ratio()

    def unprotected(self, symbol: str, leg: PositionSide | None = None) -> PositionState | None:
        return self.engine.protections.unprotected(symbol, leg)

    def covered(self, pos: PositionState) -> Decimal:
        return self.engine.protections.covered(pos)

    def daily_assets(self) -> Iterable[str] | None:
        st = self.state
        today = st.portfolio.today
        if st.daily_breach_day is not None or today is None:
            return None
        return today.start_equity

    def daily_cap(self, asset: str) -> Decimal | None:
        return self._cap_stops.daily_cap(asset)

    def daily_pnl_closed(self, asset: str) -> Decimal:
        return self._cap_stops.daily_pnl_closed(asset)

    def cap_stop_hit(self, asset: str) -> bool:
        return asset in self.state.cap_hits

    def cap_stops_stale(self) -> bool:
        return self.state.cap_stale and self.state.started
