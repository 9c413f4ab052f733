"""Fills folded into round-trip trades (flat → position → flat; a flip through zero closes one
trade and opens the next), and what the summary adds up of the closed ones. Money stays Decimal.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from rulebot.backtest.packed import Packed
from rulebot.backtest.result import FillRecord

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Trade:
    """One round trip. An open trade (no exit time) is marked to the last price."""

    side: Literal["long", "short"]
    entry_time: int
    entry_rule: str  # the rule whose entry opened it; empty if it was opened otherwise
    entry_qty: Decimal
    entry_price: Decimal  # average of the opening fills (harmonic on an inverse market, see _Building)
    exit_qty: Decimal
    exit_price: Decimal  # average of the closing fills, as entry_price; 0 if none
    gross_pnl: Decimal  # realized, before fees
    fees: Decimal
    exit_time: int | None
    exit_reason: str  # the purpose of the fill that closed it: exit, stop_loss, liquidation...
    open_pnl: Decimal  # unrealized at the end, for a trade still open
    symbol: str = ""
    # For a trade still open: the taker fee closing it at the end would cost (open_end.py), which the
    # summary's net PnL counts, so the trade list's net PnL adds up to it.
    open_exit_fee: Decimal = ZERO

    @property
    def is_open(self) -> bool:
        return self.exit_time is None

    @property
    def net_pnl(self) -> Decimal:
        """After fees (and, open at the end, the fee to close it); funding is not attributed to
        trades and stays a total."""
        return self.gross_pnl - self.fees + self.open_pnl - self.open_exit_fee


@dataclass(slots=True)
class _Building:
    symbol: str
    side: Literal["long", "short"]
    entry_time: int
    entry_rule: str
    # An inverse (COIN-M) market averages prices harmonically, by coin notional, as Binance
    # averages a COIN-M entry (MARGIN.md §4): qty / sum(qty / price). The account's entry price
    # is that average, so a trade's open PnL from it matches the account's unrealized PnL.
    inverse: bool = False
    entry_qty: Decimal = ZERO
    entry_cost: Decimal = ZERO  # sum of qty * price (inverse: qty / price) of the opening fills
    exit_qty: Decimal = ZERO
    exit_cost: Decimal = ZERO
    gross_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    exit_time: int | None = None
    exit_reason: str = ""

    def cost(self, qty: Decimal, price: Decimal) -> Decimal:
        return qty / price if self.inverse else qty * price

    def average(self, qty: Decimal, cost: Decimal) -> Decimal:
        if not qty:
            return ZERO
        return qty / cost if self.inverse else cost / qty

    def done(self, open_pnl: Decimal = ZERO, open_exit_fee: Decimal = ZERO) -> Trade:
        return Trade(
            self.side,
            self.entry_time,
            self.entry_rule,
            self.entry_qty,
            self.average(self.entry_qty, self.entry_cost),
            self.exit_qty,
            self.average(self.exit_qty, self.exit_cost),
            self.gross_pnl,
            self.fees,
            self.exit_time,
            self.exit_reason,
            open_pnl,
            self.symbol,
            open_exit_fee,
        )


def round_trips(
    fills: Iterable[FillRecord],
    last_price: Decimal | None,
    inverse_size: Decimal | None = None,
    exit_fee: Decimal = ZERO,
    exit_fees: Mapping[str, Decimal] | None = None,
) -> list[Trade]:
    """Fold fills into trades. `inverse_size` (the contract size) marks an inverse market, whose
    open PnL at the end is in coin: qty * size * (1/entry - 1/last). `exit_fee`: what closing the
    position open at the end would cost (open_end.py), carried by the trade left open; `exit_fees`
    instead gives it by side ("long", "short"), as hedge mode's two legs each pay their own."""
    return list(iter_round_trips(fills, last_price, inverse_size, exit_fee, exit_fees))


def iter_round_trips(
    fills: Iterable[FillRecord],
    last_price: Decimal | None,
    inverse_size: Decimal | None = None,
    exit_fee: Decimal = ZERO,
    exit_fees: Mapping[str, Decimal] | None = None,
) -> Iterator[Trade]:
    """`round_trips` as a stream: each trade once it is closed (a year's trades need not be held at
    once, issue 14), by entry time. Each position side is folded on its own: one-way mode's BOTH,
    or hedge mode's LONG and SHORT legs, where a SELL that opens the short does not close the long.
    A leg's closed trade waits only for the other leg's trade opened before it."""
    inverse = inverse_size is not None
    legs: dict[str, _Leg] = {}
    closed: list[tuple[int, int, Trade]] = []  # a heap by (entry time, order closed)
    n = 0
    for f in fills:
        leg = legs.get(f.position_side)
        if leg is None:
            leg = legs[f.position_side] = _Leg(inverse)
        for trade in leg.fold(f):
            if len(legs) == 1:
                yield trade
                continue
            heapq.heappush(closed, (trade.entry_time, n, trade))
            n += 1
        if closed:
            held = [lg.current.entry_time for lg in legs.values() if lg.current is not None]
            while closed and (not held or closed[0][0] <= min(held)):
                yield heapq.heappop(closed)[2]
    for leg in legs.values():
        current = leg.current
        if current is None:
            continue
        fee = exit_fee if exit_fees is None else exit_fees.get(current.side, ZERO)
        marked = ZERO
        if last_price is not None:
            entry = current.average(current.entry_qty, current.entry_cost)
            marked = _open_pnl(leg.position, entry, last_price, inverse_size)
        trade = current.done(marked, fee)
        heapq.heappush(closed, (trade.entry_time, n, trade))
        n += 1
    while closed:
        yield heapq.heappop(closed)[2]


class _Leg:
    """One position side's fold: its signed position and the trade it is building."""

    __slots__ = ("current", "inverse", "position")

    def __init__(self, inverse: bool) -> None:
        self.inverse = inverse
        self.position = ZERO
        self.current: _Building | None = None

    def fold(self, f: FillRecord) -> Iterator[Trade]:
        """Add one fill; yield the trade it closes (a flip through zero closes one and opens the next)."""
        remaining = f.quantity if f.side == "BUY" else -f.quantity
        fee_left, pnl_left = f.fee, f.realized_pnl
        while remaining != 0:
            current = self.current
            if current is None:
                side: Literal["long", "short"] = "long" if remaining > 0 else "short"
                rule = f.rule if f.purpose == "entry" else ""
                current = self.current = _Building(f.symbol, side, f.time, rule, self.inverse)
            if self.position == 0 or (self.position > 0) == (remaining > 0):  # opening or adding
                current.entry_qty += abs(remaining)
                current.entry_cost += current.cost(abs(remaining), f.price)
                current.fees += fee_left
                self.position += remaining
                return
            closing = min(abs(remaining), abs(self.position))
            # A flip's fee is shared by quantity; the exchange reports realized PnL for the
            # closing part only, so all of it belongs to the trade being closed.
            fee_part = fee_left * closing / abs(remaining)
            current.exit_qty += closing
            current.exit_cost += current.cost(closing, f.price)
            current.fees += fee_part
            current.gross_pnl += pnl_left
            fee_left -= fee_part
            pnl_left = ZERO
            step = closing if remaining > 0 else -closing
            self.position += step
            remaining -= step
            if self.position == 0:
                current.exit_time = f.time
                current.exit_reason = f.purpose
                self.current = None
                yield current.done()


def _open_pnl(position: Decimal, entry: Decimal, last: Decimal, inverse_size: Decimal | None) -> Decimal:
    if inverse_size is not None:
        if entry <= 0 or last <= 0:
            return ZERO
        return position * inverse_size * (1 / entry - 1 / last)
    return position * (last - entry)


class TradeTally:
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
        str(t.open_exit_fee),
    )


def _trade_of(r: tuple[Any, ...]) -> Trade:
    d = Decimal
    return Trade(
        r[0], r[1], r[2], d(r[3]), d(r[4]), d(r[5]), d(r[6]), d(r[7]), d(r[8]), r[9], r[10], d(r[11]), r[12], d(r[13])
    )
