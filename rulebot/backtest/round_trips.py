"""Fills folded into round-trip trades (flat → position → flat; a flip through zero closes one
trade and opens the next), and what the summary adds up of the closed ones. Money stays Decimal.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
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
) -> list[Trade]:
    """Fold fills into trades. `inverse_size` (the contract size) marks an inverse market, whose
    open PnL at the end is in coin: qty * size * (1/entry - 1/last). `exit_fee`: what closing the
    position open at the end would cost (open_end.py), carried by the trade left open."""
    return list(iter_round_trips(fills, last_price, inverse_size, exit_fee))


def iter_round_trips(
    fills: Iterable[FillRecord],
    last_price: Decimal | None,
    inverse_size: Decimal | None = None,
    exit_fee: Decimal = ZERO,
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
                rule = f.rule if f.purpose == "entry" else ""
                current = _Building(f.symbol, side, f.time, rule, inverse_size is not None)
            if position == 0 or (position > 0) == (remaining > 0):  # opening or adding
                current.entry_qty += abs(remaining)
                current.entry_cost += current.cost(abs(remaining), f.price)
                current.fees += fee_left
                position += remaining
                break
            closing = min(abs(remaining), abs(position))
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
            position += step
            remaining -= step
            if position == 0:
                current.exit_time = f.time
                current.exit_reason = f.purpose
    if current is None:
        return
    last = current.done()
    if position != 0:
        marked = _open_pnl(position, last.entry_price, last_price, inverse_size) if last_price is not None else ZERO
        last = current.done(marked, exit_fee)
    yield last


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
