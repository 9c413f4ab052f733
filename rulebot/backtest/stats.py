"""What a backtest made of its money: round-trip trades and the numbers a trader asks for.

Fills are folded into round trips (flat → position → flat; a flip through zero closes one
trade and opens the next). Money stays Decimal; only display rounds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise

from rulebot.backtest.result import BacktestResult, FillRecord

ZERO = Decimal(0)


@dataclass
class Trade:
    side: str  # long | short
    entry_time: int
    entry_rule: str
    entry_qty: Decimal = ZERO
    entry_cost: Decimal = ZERO  # sum of qty * price of the opening fills
    exit_qty: Decimal = ZERO
    exit_cost: Decimal = ZERO
    gross_pnl: Decimal = ZERO  # realized, before fees
    fees: Decimal = ZERO
    exit_time: int | None = None
    exit_reason: str = ""  # the purpose of the fill that closed it: exit, stop_loss, liquidation...
    open_pnl: Decimal = ZERO  # unrealized at the end, for a trade still open

    @property
    def is_open(self) -> bool:
        return self.exit_time is None

    @property
    def entry_price(self) -> Decimal:
        return self.entry_cost / self.entry_qty if self.entry_qty else ZERO

    @property
    def exit_price(self) -> Decimal:
        return self.exit_cost / self.exit_qty if self.exit_qty else ZERO

    @property
    def net_pnl(self) -> Decimal:
        return self.gross_pnl - self.fees + self.open_pnl


@dataclass
class Stats:
    trades: list[Trade]
    closed: int
    wins: int
    losses: int
    win_rate: Decimal | None  # of closed trades
    start_equity: Decimal
    end_equity: Decimal
    net_pnl: Decimal  # end - start equity: after fees and funding, open trades at mark
    gross_realized: Decimal
    fees: Decimal
    funding: Decimal  # paid (positive) or received (negative)
    unrealized: Decimal
    return_pct: Decimal | None
    max_drawdown: Decimal  # amount, from the sampled equity curve
    max_drawdown_pct: Decimal | None  # of the peak it fell from
    drawdown_peak_time: int | None
    drawdown_trough_time: int | None
    exposure: Decimal | None  # share of the sampled time with a position
    average_trade: Decimal | None  # net, closed trades
    profit_factor: Decimal | None  # gross wins / gross losses, closed trades
    best_trade: Decimal | None
    worst_trade: Decimal | None
    liquidations: int
    guard_interventions: dict[str, int] = field(default_factory=dict)
    fills: int = 0
    decisions: int = 0
    events: int = 0
    duration_ms: int = 0


def round_trips(
    fills: list[FillRecord], last_price: Decimal | None, inverse_size: Decimal | None = None
) -> list[Trade]:
    """Fold fills into trades. `inverse_size` (contract size) marks an inverse market, whose
    open PnL at the end is computed in coin."""
    trades: list[Trade] = []
    position = ZERO  # signed
    current: Trade | None = None
    for f in fills:
        signed = f.quantity if f.side == "BUY" else -f.quantity
        remaining = signed
        fee_left = f.fee
        pnl_left = f.realized_pnl
        while remaining != 0:
            if current is None or position == 0:
                current = Trade("long" if remaining > 0 else "short", f.time, f.rule if f.purpose == "entry" else "")
                trades.append(current)
            if position == 0 or (position > 0) == (remaining > 0):  # opening or adding
                current.entry_qty += abs(remaining)
                current.entry_cost += abs(remaining) * f.price
                current.fees += fee_left
                position += remaining
                remaining = ZERO
                continue
            closing = min(abs(remaining), abs(position))
            share = closing / abs(remaining)  # the part of this fill that closes; the rest opens anew
            # The exchange reports the fill's realized PnL for the closing part only.
            fee_part, pnl_part = fee_left * share, pnl_left
            current.exit_qty += closing
            current.exit_cost += closing * f.price
            current.fees += fee_part
            current.gross_pnl += pnl_part
            fee_left -= fee_part
            pnl_left -= pnl_part
            step = closing if remaining > 0 else -closing
            position += step
            remaining -= step
            if position == 0:
                current.exit_time = f.time
                current.exit_reason = f.purpose
    if current is not None and current.is_open and last_price is not None and position != 0:
        qty = abs(position)
        direction = 1 if position > 0 else -1
        entry = current.entry_price
        if inverse_size is not None and entry > 0 and last_price > 0:
            current.open_pnl = direction * qty * inverse_size * (1 / entry - 1 / last_price)
        else:
            current.open_pnl = direction * qty * (last_price - entry)
    return trades


def compute_stats(result: BacktestResult, inverse_size: Decimal | None = None) -> Stats:
    last_price = result.equity_curve[-1].price if result.equity_curve else None
    trades = round_trips(result.fills, last_price, inverse_size)
    closed = [t for t in trades if not t.is_open]
    wins = [t for t in closed if t.net_pnl > 0]
    losses = [t for t in closed if t.net_pnl <= 0]
    gross_realized = sum((f.realized_pnl for f in result.fills), ZERO)
    fees = sum((f.fee for f in result.fills), ZERO)
    net = result.end_equity - result.start_equity
    unrealized = net - gross_realized + fees + result.funding_paid

    peak: Decimal | None = None
    peak_at = 0
    max_dd = ZERO
    dd_peak: Decimal | None = None
    peak_time: int | None = None
    trough_time: int | None = None
    for point in result.equity_curve:
        if peak is None or point.equity > peak:
            peak, peak_at = point.equity, point.time
        dd = peak - point.equity
        if dd > max_dd:
            max_dd, dd_peak, peak_time, trough_time = dd, peak, peak_at, point.time
    max_dd_pct = max_dd / dd_peak if dd_peak else None

    exposure: Decimal | None = None
    curve = result.equity_curve
    if len(curve) > 1:
        span = curve[-1].time - curve[0].time
        held = sum(b.time - a.time for a, b in pairwise(curve) if a.position != 0)
        exposure = Decimal(held) / Decimal(span) if span > 0 else None

    gross_win = sum((t.net_pnl for t in wins), ZERO)
    gross_loss = -sum((t.net_pnl for t in losses), ZERO)
    return Stats(
        trades=trades,
        closed=len(closed),
        wins=len(wins),
        losses=len(losses),
        win_rate=Decimal(len(wins)) / len(closed) if closed else None,
        start_equity=result.start_equity,
        end_equity=result.end_equity,
        net_pnl=net,
        gross_realized=gross_realized,
        fees=fees,
        funding=result.funding_paid,
        unrealized=unrealized,
        return_pct=net / result.start_equity if result.start_equity else None,
        max_drawdown=max_dd,
        max_drawdown_pct=max_dd_pct,
        drawdown_peak_time=peak_time,
        drawdown_trough_time=trough_time,
        exposure=exposure,
        average_trade=sum((t.net_pnl for t in closed), ZERO) / len(closed) if closed else None,
        profit_factor=gross_win / gross_loss if gross_loss > 0 else None,
        best_trade=max((t.net_pnl for t in closed), default=None),
        worst_trade=min((t.net_pnl for t in closed), default=None),
        liquidations=result.liquidations,
        guard_interventions=dict(Counter(g.guard for g in result.guard_events)),
        fills=len(result.fills),
        decisions=result.decisions,
        events=result.events,
        duration_ms=max(0, result.end_time - result.start_time),
    )
