"""What a backtest made of its money: round-trip trades and the numbers a trader asks for.

Fills are folded into round trips (flat → position → flat; a flip through zero closes one
trade and opens the next). Money stays Decimal; only display rounds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Literal

from rulebot.backtest.metrics import Metrics, compute_metrics
from rulebot.backtest.result import BacktestResult, EquityPoint, FillRecord, GuardEvent
from rulebot.backtest.tally import DrawdownTally, SymbolTally, drawdown_of, exposure_of, tally_of

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Trade:
    """One round trip. An open trade (no exit time) is marked to the last price."""

    side: Literal["long", "short"]
    entry_time: int
    entry_rule: str  # the rule whose entry opened it; empty if it was opened otherwise
    entry_qty: Decimal
    entry_price: Decimal  # quantity-weighted average of the opening fills
    exit_qty: Decimal
    exit_price: Decimal  # quantity-weighted average of the closing fills; 0 if none
    gross_pnl: Decimal  # realized, before fees
    fees: Decimal
    exit_time: int | None
    exit_reason: str  # the purpose of the fill that closed it: exit, stop_loss, liquidation...
    open_pnl: Decimal  # unrealized at the end, for a trade still open
    symbol: str = ""

    @property
    def is_open(self) -> bool:
        return self.exit_time is None

    @property
    def net_pnl(self) -> Decimal:
        """After fees; funding is not attributed to trades and stays a total."""
        return self.gross_pnl - self.fees + self.open_pnl


@dataclass(slots=True)
class _Building:
    symbol: str
    side: Literal["long", "short"]
    entry_time: int
    entry_rule: str
    entry_qty: Decimal = ZERO
    entry_cost: Decimal = ZERO  # sum of qty * price of the opening fills
    exit_qty: Decimal = ZERO
    exit_cost: Decimal = ZERO
    gross_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    exit_time: int | None = None
    exit_reason: str = ""

    def done(self, open_pnl: Decimal = ZERO) -> Trade:
        return Trade(
            self.side,
            self.entry_time,
            self.entry_rule,
            self.entry_qty,
            self.entry_cost / self.entry_qty if self.entry_qty else ZERO,
            self.exit_qty,
            self.exit_cost / self.exit_qty if self.exit_qty else ZERO,
            self.gross_pnl,
            self.fees,
            self.exit_time,
            self.exit_reason,
            open_pnl,
            self.symbol,
        )


@dataclass(frozen=True, slots=True)
class Drawdown:
    amount: Decimal = ZERO
    pct: Decimal | None = None  # of the peak it fell from
    peak_time: int | None = None
    trough_time: int | None = None


@dataclass(frozen=True, slots=True)
class Stats:
    trades: tuple[Trade, ...]
    closed: int
    wins: int
    losses: int  # closed trades that did not make money after fees (break-even counts here)
    win_rate: Decimal | None  # of closed trades
    start_equity: Decimal
    end_equity: Decimal
    net_pnl: Decimal  # end - start equity: after fees and funding, open trades at mark
    gross_realized: Decimal
    fees: Decimal
    funding: Decimal  # paid (positive) or received (negative)
    unrealized: Decimal  # what remains of net PnL: the open position at the end
    return_pct: Decimal | None  # a fraction: 0.05 is 5 %
    max_drawdown: Decimal  # amount, from the sampled equity curve
    max_drawdown_pct: Decimal | None
    drawdown_peak_time: int | None
    drawdown_trough_time: int | None
    exposure: Decimal | None  # share of the sampled time with a position
    average_trade: Decimal | None  # net, closed trades
    profit_factor: Decimal | None  # net won / net lost, closed trades; None when nothing was lost
    best_trade: Decimal | None
    worst_trade: Decimal | None
    liquidations: int
    guard_interventions: dict[str, int] = field(default_factory=dict)
    fills: int = 0
    decisions: int = 0
    events: int = 0
    duration_ms: int = 0
    metrics: Metrics | None = None  # the account's risk-adjusted numbers, months and benchmark

    @property
    def open_trades(self) -> int:
        return len(self.trades) - self.closed


def round_trips(
    fills: Iterable[FillRecord], last_price: Decimal | None, inverse_size: Decimal | None = None
) -> list[Trade]:
    """Fold fills into trades. `inverse_size` (the contract size) marks an inverse market, whose
    open PnL at the end is in coin: qty * size * (1/entry - 1/last)."""
    trades: list[_Building] = []
    position = ZERO  # signed
    current: _Building | None = None
    for f in fills:
        remaining = f.quantity if f.side == "BUY" else -f.quantity
        fee_left, pnl_left = f.fee, f.realized_pnl
        while remaining != 0:
            if current is None or position == 0:
                side: Literal["long", "short"] = "long" if remaining > 0 else "short"
                current = _Building(f.symbol, side, f.time, f.rule if f.purpose == "entry" else "")
                trades.append(current)
            if position == 0 or (position > 0) == (remaining > 0):  # opening or adding
                current.entry_qty += abs(remaining)
                current.entry_cost += abs(remaining) * f.price
                current.fees += fee_left
                position += remaining
                break
            closing = min(abs(remaining), abs(position))
            # A flip's fee is shared by quantity; the exchange reports realized PnL for the
            # closing part only, so all of it belongs to the trade being closed.
            fee_part = fee_left * closing / abs(remaining)
            current.exit_qty += closing
            current.exit_cost += closing * f.price
            current.fees += fee_part
            current.gross_pnl += pnl_left
            fee_left -= fee_part
            pnl_left = ZERO
            step = closing if remaining > 0 else -closing
            position += step
            remaining -= step
            if position == 0:
                current.exit_time = f.time
                current.exit_reason = f.purpose
    done = [t.done() for t in trades]
    if current is not None and position != 0 and last_price is not None:
        done[-1] = current.done(_open_pnl(position, done[-1].entry_price, last_price, inverse_size))
    return done


def _open_pnl(position: Decimal, entry: Decimal, last: Decimal, inverse_size: Decimal | None) -> Decimal:
    if inverse_size is not None:
        if entry <= 0 or last <= 0:
            return ZERO
        return position * inverse_size * (1 / entry - 1 / last)
    return position * (last - entry)


def drawdown(curve: Sequence[EquityPoint]) -> Drawdown:
    """The deepest fall of equity from a running peak."""
    return _drawdown(drawdown_of((p.time, p.equity) for p in curve))


def _drawdown(tally: DrawdownTally) -> Drawdown:
    return Drawdown(tally.amount, tally.pct, tally.peak_at, tally.trough_at)


def exposure(curve: Sequence[EquityPoint]) -> Decimal | None:
    """Share of the sampled time spent with a position (each sample holds until the next)."""
    return exposure_of((p.time, p.position != 0) for p in curve).share()


InverseSizes = Decimal | Mapping[str, Decimal] | None
"""The contract size of inverse (COIN-M) symbols: one for all, or by symbol; None for linear."""


def _inverse_of(inverse_size: InverseSizes, symbol: str) -> Decimal | None:
    if inverse_size is None or isinstance(inverse_size, Decimal):
        return inverse_size
    return inverse_size.get(symbol)


def all_round_trips(result: BacktestResult, inverse_size: InverseSizes = None) -> list[Trade]:
    """Every symbol's round trips, by entry time. Each symbol is folded on its own: a BTC sell
    never closes an ETH long."""
    symbols = result.all_symbols
    if len(symbols) == 1:
        last = result.equity_curve[-1].price if result.equity_curve else None
        return round_trips(result.fills, last, _inverse_of(inverse_size, symbols[0]))
    trades: list[Trade] = []
    for s in symbols:
        curve = result.symbol_curves.get(s) or []
        last = curve[-1].price if curve else None
        trades += round_trips([f for f in result.fills if f.symbol == s], last, _inverse_of(inverse_size, s))
    trades.sort(key=lambda t: t.entry_time)
    return trades


def compute_stats(result: BacktestResult, inverse_size: InverseSizes = None) -> Stats:
    """The whole account: every symbol's trades, the account's equity and drawdown."""
    trades = all_round_trips(result, inverse_size)
    gross_realized = sum((f.realized_pnl for f in result.fills), ZERO)
    fees = sum((f.fee for f in result.fills), ZERO)
    net = result.end_equity - result.start_equity
    tally = tally_of(result)
    stats = _stats(
        result,
        trades,
        net=net,
        gross_realized=gross_realized,
        fees=fees,
        funding=result.funding_paid,
        unrealized=net - gross_realized + fees + result.funding_paid,
        dd=_drawdown(tally.drawdown),
        held=tally.exposure.share(),
        liquidations=result.liquidations,
        guards=result.guard_events,
        fills=len(result.fills),
        decisions=result.decisions,
        events=result.events,
    )
    closed = [(t.entry_time, t.exit_time) for t in trades if t.exit_time is not None]
    return replace(stats, metrics=compute_metrics(result, tally, stats.end_equity, closed))


def compute_symbol_stats(result: BacktestResult, symbol: str, inverse_size: InverseSizes = None) -> Stats:
    """One symbol of a several-symbol backtest: its trades, and its PnL as a share of the account
    (its `end_equity` is the start plus its own net PnL; its drawdown is that of its own PnL)."""
    fills = [f for f in result.fills if f.symbol == symbol]
    curve = result.symbol_curves.get(symbol) or []
    last = curve[-1].price if curve else None
    trades = round_trips(fills, last, _inverse_of(inverse_size, symbol))
    gross_realized = sum((f.realized_pnl for f in fills), ZERO)
    fees = sum((f.fee for f in fills), ZERO)
    funding = result.funding_by_symbol.get(symbol, ZERO)
    unrealized = result.unrealized_by_symbol.get(symbol, ZERO)
    own = tally_of(result).symbols.get(symbol) or SymbolTally(result.start_equity)
    return _stats(
        result,
        trades,
        net=gross_realized - fees - funding + unrealized,
        gross_realized=gross_realized,
        fees=fees,
        funding=funding,
        unrealized=unrealized,
        dd=_drawdown(own.drawdown),
        held=own.exposure.share(),
        # One liquidation may take several fills (tiers), all at one time.
        liquidations=len({f.time for f in fills if f.purpose == "liquidation"}),
        guards=[g for g in result.guard_events if g.symbol == symbol],
        fills=len(fills),
        decisions=result.decisions_by_symbol.get(symbol, 0),
        events=result.events_by_symbol.get(symbol, 0),
    )


def _stats(
    result: BacktestResult,
    trades: list[Trade],
    *,
    net: Decimal,
    gross_realized: Decimal,
    fees: Decimal,
    funding: Decimal,
    unrealized: Decimal,
    dd: Drawdown,
    held: Decimal | None,
    liquidations: int,
    guards: Iterable[GuardEvent],
    fills: int,
    decisions: int,
    events: int,
) -> Stats:
    closed = [t.net_pnl for t in trades if not t.is_open]
    won = [p for p in closed if p > 0]
    lost = [p for p in closed if p <= 0]
    net_lost = -sum(lost, ZERO)
    return Stats(
        trades=tuple(trades),
        closed=len(closed),
        wins=len(won),
        losses=len(lost),
        win_rate=Decimal(len(won)) / len(closed) if closed else None,
        start_equity=result.start_equity,
        end_equity=result.start_equity + net,
        net_pnl=net,
        gross_realized=gross_realized,
        fees=fees,
        funding=funding,
        unrealized=unrealized,
        return_pct=net / result.start_equity if result.start_equity else None,
        max_drawdown=dd.amount,
        max_drawdown_pct=dd.pct,
        drawdown_peak_time=dd.peak_time,
        drawdown_trough_time=dd.trough_time,
        exposure=held,
        average_trade=sum(closed, ZERO) / len(closed) if closed else None,
        profit_factor=sum(won, ZERO) / net_lost if net_lost > 0 else None,
        best_trade=max(closed, default=None),
        worst_trade=min(closed, default=None),
        liquidations=liquidations,
        guard_interventions=dict(Counter(g.guard for g in guards)),
        fills=fills,
        decisions=decisions,
        events=events,
        duration_ms=max(0, result.end_time - result.start_time),
    )


def per_symbol_stats(result: BacktestResult, inverse_size: InverseSizes = None) -> dict[str, Stats]:
    """Each symbol's own numbers; where the symbols do not interact (sizes that do not read the
    shared equity), each equals that symbol backtested alone, and they add up to the total."""
    return {s: compute_symbol_stats(result, s, inverse_size) for s in result.all_symbols}
