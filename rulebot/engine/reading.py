"""What the outer layers (backtest, runtime, status, web) may read of a running engine.

A small read API over the engine's state value, so that nothing outside the engine reaches
into the portfolio, the order manager or the symbols' runs (and nothing outside changes them).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from rulebot.core.enums import PositionSide
from rulebot.engine.market import SymbolMarket
from rulebot.engine.oms import OrderRecord
from rulebot.engine.portfolio import DayStats, PositionState
from rulebot.engine.state import EngineState
from rulebot.rulebook.compiled import CompiledRulebook


class EngineReads:
    """Read-only views of the run (mixed into Engine)."""

    state: EngineState
    book: CompiledRulebook

    # ------------------------------------------------------------------ the run

    @property
    def time(self) -> int:
        """The engine's clock: the time of the latest event (ms)."""
        return self.state.time

    @property
    def started(self) -> bool:
        return self.state.started

    @property
    def halted(self) -> str | None:
        """Why the kill switch stopped trading, or None."""
        return self.state.halted

    @property
    def daily_breach_day(self) -> int | None:
        """The day (since the epoch) whose daily loss cap was reached, or None."""
        return self.state.daily_breach_day

    @property
    def streams_down(self) -> frozenset[str]:
        return frozenset(self.state.streams_down)

    def orders_last_minute(self) -> int:
        return self.state.order_budget.peek(self.state.time)

    # ------------------------------------------------------------------ symbols

    @property
    def symbol_names(self) -> tuple[str, ...]:
        return tuple(self.state.runs)

    def symbol_state(self, symbol: str) -> str:
        return self.state.runs[symbol].state

    def states(self) -> dict[str, str]:
        """Each symbol's rule state."""
        return {s: r.state for s, r in self.state.runs.items()}

    def market(self, symbol: str) -> SymbolMarket:
        """The symbol's prices, candles and indicators (read them; the engine feeds them)."""
        return self.state.runs[symbol].market

    def markets(self) -> Mapping[str, SymbolMarket]:
        return {s: r.market for s, r in self.state.runs.items()}

    def leverage(self, symbol: str) -> int:
        return self.state.runs[symbol].leverage

    def volatility_ratio(self, symbol: str) -> float:
        return self.state.runs[symbol].volatility.ratio()

    def volatility_tripped(self, symbol: str) -> bool:
        return self.state.runs[symbol].guard.volatility_tripped

    # ------------------------------------------------------------------ the account

    def position(self, symbol: str, side: PositionSide | None = None) -> PositionState:
        """The symbol's net position, or the one of `side` (hedge mode's legs)."""
        pf = self.state.portfolio
        return pf.net_position(symbol) if side is None else pf.position(symbol, side)

    def open_positions(self) -> list[PositionState]:
        return [p for p in self.state.portfolio.positions.values() if p.amount != 0]

    def unrealized(self, symbol: str, side: PositionSide = PositionSide.BOTH) -> Decimal:
        return self.state.portfolio.unrealized(symbol, side)

    def equity(self, asset: str) -> Decimal:
        return self.state.portfolio.equity(asset)

    def daily_pnl(self, asset: str) -> Decimal:
        return self.state.portfolio.daily_pnl(asset)

    @property
    def today(self) -> DayStats | None:
        """Today's start equity and statistics (None before the first event)."""
        return self.state.portfolio.today

    @property
    def assets(self) -> tuple[str, ...]:
        """The margin assets of the wallet, sorted."""
        return tuple(sorted(self.state.portfolio.wallet))

    # ------------------------------------------------------------------ orders

    def order(self, client_order_id: str) -> OrderRecord | None:
        return self.state.oms.get(client_order_id)

    def open_orders(self, symbol: str | None = None, tag: str | None = None) -> list[OrderRecord]:
        return self.state.oms.open_orders(symbol, tag)

    def forget_finished_orders(self, keep: int = 1000) -> None:
        """Bound memory in long runs: drop the oldest finished orders beyond `keep`."""
        self.state.oms.forget_finished(keep)
