"""What a backtest made of its money: round-trip trades and the numbers a trader asks for.

Fills are folded into round trips (flat → position → flat; a flip through zero closes one
trade and opens the next). Money stays Decimal; only display rounds.
"""

from __future__ import annotations

import heapq
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

from rulebot.backtest.metrics import Metrics, compute_metrics
from rulebot.backtest.packed import Packed
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
    trades: Sequence[Trade]  # packed (packed.py) when computed from a result: read as a stream
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
    return list(iter_round_trips(fills, last_price, inverse_size))


def iter_round_trips(
    fills: Iterable[FillRecord], last_price: Decimal | None, inverse_size: Decimal | None = None
) -> Iterator[Trade]:
    """`round_trips` as a stream: each trade as soon as the next one opens (a year's trades need
    not be held at once, issue 14)."""
    position = ZERO  # signed
    current: _Building | None = None
    for f in fills:
        remaining = f.quantity if f.side == "BUY" else -f.quantity
        fee_left, pnl_left = f.fee, f.realized_pnl
        while remaining != 0:
            if current is None or position == 0:
                side: Literal["long", "short"] = "long" if remaining > 0 else "short"
                if current is not None:
                    yield current.done()
                current = _Building(f.symbol, side, f.time, f.rule if f.purpose == "entry" else "")
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
    if current is None:
        return
    last = current.done()
    if position != 0 and last_price is not None:
        last = current.done(_open_pnl(position, last.entry_price, last_price, inverse_size))
    yield last


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
    return list(_all_round_trips(result, inverse_size, result.fills))


def _all_round_trips(
    result: BacktestResult, inverse_size: InverseSizes, fills: Iterable[FillRecord]
) -> Iterator[Trade]:
    """`all_round_trips` as a stream; `fills` is `result.fills` (read once for one symbol)."""
    symbols = result.all_symbols
    if len(symbols) == 1:
        last = result.equity_curve[-1].price if result.equity_curve else None
        return iter_round_trips(fills, last, _inverse_of(inverse_size, symbols[0]))
    streams = []
    for s in symbols:
        curve = result.symbol_curves.get(s) or []
        last = curve[-1].price if curve else None
        streams.append(iter_round_trips(_of_symbol(result.fills, s), last, _inverse_of(inverse_size, s)))
    # Each symbol's trades come by entry time; a stable merge is the stable sort of them all.
    return heapq.merge(*streams, key=lambda t: t.entry_time)


def _of_symbol(fills: Iterable[FillRecord], symbol: str) -> Iterator[FillRecord]:
    return (f for f in fills if f.symbol == symbol)


class _Sums:
    """The realized PnL and fees of the fills that pass through, added in their order."""

    __slots__ = ("fees", "gross")

    def __init__(self) -> None:
        self.gross = self.fees = ZERO

    def through(self, fills: Iterable[FillRecord]) -> Iterator[FillRecord]:
        for f in fills:
            self.gross += f.realized_pnl
            self.fees += f.fee
            yield f


def compute_stats(result: BacktestResult, inverse_size: InverseSizes = None) -> Stats:
    """The whole account: every symbol's trades, the account's equity and drawdown."""
    sums = _Sums()
    if len(result.all_symbols) == 1:  # one pass over the fills: the trades and the sums
        folded = _TradeTally(_all_round_trips(result, inverse_size, sums.through(result.fills)))
    else:
        folded = _TradeTally(_all_round_trips(result, inverse_size, result.fills))
        for _ in sums.through(result.fills):
            pass
    gross_realized, fees = sums.gross, sums.fees
    net = result.end_equity - result.start_equity
    tally = tally_of(result)
    stats = _stats(
        result,
        folded,
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
    closed = list(zip(folded.entries, folded.exits, strict=True))
    return replace(stats, metrics=compute_metrics(result, tally, stats.end_equity, closed))


def compute_symbol_stats(result: BacktestResult, symbol: str, inverse_size: InverseSizes = None) -> Stats:
    """One symbol of a several-symbol backtest: its trades, and its PnL as a share of the account
    (its `end_equity` is the start plus its own net PnL; its drawdown is that of its own PnL)."""
    curve = result.symbol_curves.get(symbol) or []
    last = curve[-1].price if curve else None
    sums, liquidated, count = _Sums(), set(), 0
    for f in sums.through(_of_symbol(result.fills, symbol)):
        count += 1
        if f.purpose == "liquidation":
            liquidated.add(f.time)
    trades = _TradeTally(iter_round_trips(_of_symbol(result.fills, symbol), last, _inverse_of(inverse_size, symbol)))
    gross_realized, fees = sums.gross, sums.fees
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
        liquidations=len(liquidated),
        guards=(g for g in result.guard_events if g.symbol == symbol),
        fills=count,
        decisions=result.decisions_by_symbol.get(symbol, 0),
        events=result.events_by_symbol.get(symbol, 0),
    )


class _TradeTally:
    """Round trips packed as they come (packed.py), with what the summary reads of the closed
    ones added up in their order: the same Decimals as sums over a list of them."""

    def __init__(self, trades: Iterable[Trade]) -> None:
        self.trades: Packed[Trade] = Packed(_trade_row, _trade_of)
        self.closed = self.wins = self.losses = 0
        self.total = self.won = self.lost = ZERO  # net PnL of the closed, of those that won, that lost
        self.best: Decimal | None = None
        self.worst: Decimal | None = None
        self.entries, self.exits = array("q"), array("q")  # times of the closed ones (metrics)
        for t in trades:
            self.trades.append(t)
            if t.exit_time is None:
                continue
            p = t.net_pnl
            self.closed += 1
            self.total += p
            if p > 0:
                self.wins += 1
                self.won += p
            else:
                self.losses += 1
                self.lost += p
            if self.best is None or p > self.best:  # max() and min() keep the first of equals
                self.best = p
            if self.worst is None or p < self.worst:
                self.worst = p
            self.entries.append(t.entry_time)
            self.exits.append(t.exit_time)


def _trade_row(t: Trade) -> tuple[Any, ...]:
    return (
        t.side,
        t.entry_time,
        t.entry_rule,
        str(t.entry_qty),
        str(t.entry_price),
        str(t.exit_qty),
        str(t.exit_price),
        str(t.gross_pnl),
        str(t.fees),
        t.exit_time,
        t.exit_reason,
        str(t.open_pnl),
        t.symbol,
    )


def _trade_of(r: tuple[Any, ...]) -> Trade:
    d = Decimal
    return Trade(r[0], r[1], r[2], d(r[3]), d(r[4]), d(r[5]), d(r[6]), d(r[7]), d(r[8]), r[9], r[10], d(r[11]), r[12])


def _stats(
    result: BacktestResult,
    trades: _TradeTally,
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
    closed = trades.closed
    net_lost = -trades.lost
    return Stats(
        trades=trades.trades,
        closed=closed,
        wins=trades.wins,
        losses=trades.losses,
        win_rate=Decimal(trades.wins) / closed if closed else None,
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
        average_trade=trades.total / closed if closed else None,
        profit_factor=trades.won / net_lost if net_lost > 0 else None,
        best_trade=trades.best,
        worst_trade=trades.worst,
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
