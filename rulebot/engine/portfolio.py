"""Positions, balances, equity and daily PnL, as the venue reports them.

The venue is the source of truth: ACCOUNT_UPDATE-style events set positions and balances;
order fills only add to the statistics (fees, realized PnL, trade count). Unrealized PnL is
valued at the mark price, never the last price, because that is what liquidation uses.
The trading day starts at 00:00 UTC of the event clock, so replay and live agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from rulebot.core.account_events import AccountUpdate, OrderUpdate
from rulebot.core.enums import Direction, PositionSide
from rulebot.core.instruments import Instrument

DAY_MS = 86_400_000
ZERO = Decimal(0)
_NET_ORDER = (PositionSide.BOTH, PositionSide.LONG, PositionSide.SHORT)  # read on every valuation
_TRADES_REMEMBERED = 4096  # fills whose trade id is kept, to know a report said twice
_BOTH = PositionSide.BOTH  # PositionSide.BOTH is a slow lookup on Python 3.11 (EnumType.__getattr__)
_LONG, _SHORT = Direction.LONG, Direction.SHORT


@dataclass(slots=True)
class PositionState:
    symbol: str
    position_side: PositionSide
    amount: Decimal = ZERO  # signed: negative is short
    entry_price: Decimal = ZERO
    opened_at: int | None = None
    isolated_wallet: Decimal = ZERO  # the position's margin in isolated mode, as the venue reports it

    @property
    def direction(self) -> Direction | None:
        """Which way the position goes; None when flat."""
        amount = self.amount
        return _LONG if amount > 0 else _SHORT if amount < 0 else None

    @property
    def side(self) -> str:
        """The rulebook's word for `direction` ("none" when flat): for messages and `position.side`
        in expressions. Compare `direction`, never this."""
        direction = self.direction
        return "none" if direction is None else direction.word

    @property
    def size(self) -> Decimal:
        return abs(self.amount)


@dataclass(slots=True)
class DayStats:
    day: int  # days since the epoch
    start_equity: dict[str, Decimal]  # by margin asset
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    funding: Decimal = ZERO


class Portfolio:
    """What the account holds, per symbol and position side."""

    def __init__(self, instruments: Mapping[str, Instrument], balances: Mapping[str, Decimal]) -> None:
        self.instruments = instruments
        self.wallet: dict[str, Decimal] = dict(balances)
        self.positions: dict[tuple[str, PositionSide], PositionState] = {}
        self.marks: dict[str, Decimal] = {}
        self.fees_paid = ZERO
        self.realized_pnl = ZERO
        self.funding_paid = ZERO
        self.fills = 0
        self.today: DayStats | None = None
        self._trades_seen: dict[tuple[str, int], None] = {}  # (symbol, trade id) of fills counted, oldest first

    # ------------------------------------------------------------------ updates

    def on_time(self, time: int) -> bool:
        """Roll the trading day at 00:00 UTC; True when a new day began."""
        day = time // DAY_MS
        if self.today is not None and self.today.day == day:
            return False
        self.today = DayStats(day, {asset: self.equity(asset) for asset in self.wallet})
        return True

    def set_mark(self, symbol: str, mark: Decimal) -> None:
        self.marks[symbol] = mark

    def apply_account_update(self, update: AccountUpdate) -> list[PositionState]:
        """Apply balances and positions; returns positions that went from open to closed."""
        closed: list[PositionState] = []
        for b in update.balances:
            old = self.wallet.get(b.asset, ZERO)
            self.wallet[b.asset] = b.wallet_balance
            if update.reason == "FUNDING_FEE":
                change = b.wallet_balance - old
                self.funding_paid -= change
                if self.today is not None:
                    self.today.funding -= change
        for p in update.positions:
            key = (p.symbol, p.position_side)
            pos = self.positions.get(key)
            if pos is None:
                pos = self.positions[key] = PositionState(p.symbol, p.position_side)
            was_open = pos.amount != 0
            pos.amount = p.amount
            pos.entry_price = p.entry_price
            pos.isolated_wallet = p.isolated_wallet
            if p.amount == 0:
                pos.opened_at = None
                if was_open:
                    closed.append(pos)
            elif not was_open:
                pos.opened_at = update.time
        return closed

    def apply_fill(self, update: OrderUpdate, new: bool = True) -> None:
        """Count a fill's commission and realized PnL once per trade, and the fill itself when it
        is `new` to the order manager. A fill settled from REST while the user stream was silent
        carries neither (REST's order does not say); the stream's report of it, arriving late, is
        stale to the order manager but brings them: its money counts, the fill does not again. A
        report said twice (same trade id) counts nothing the second time."""
        if update.last_filled_qty <= 0:
            return
        if new:
            self.fills += 1
        trade = update.trade_id
        if trade is not None:
            key = (update.symbol, trade)
            seen = self._trades_seen
            if key in seen:
                return
            seen[key] = None
            if len(seen) > _TRADES_REMEMBERED:  # the oldest goes: a repeat comes within moments
                del seen[next(iter(seen))]
        self.fees_paid += update.commission
        self.realized_pnl += update.realized_pnl
        if self.today is not None:
            self.today.fees += update.commission
            self.today.realized_pnl += update.realized_pnl

    # ------------------------------------------------------------------ views

    def position(self, symbol: str, position_side: PositionSide = PositionSide.BOTH) -> PositionState:
        return self.positions.get((symbol, position_side)) or PositionState(symbol, position_side)

    def net_position(self, symbol: str) -> PositionState:
        """One-way: the BOTH position. Hedge: the leg that is open (long first)."""
        positions = self.positions
        pos = positions.get((symbol, _BOTH))
        if pos is not None and (pos.amount != 0 or len(positions) == 1):
            # Held; or the only position there is, flat: no hedge leg to look for (one symbol, one-way).
            return pos if pos.amount != 0 else PositionState(symbol, _BOTH)
        for side in _NET_ORDER:
            pos = positions.get((symbol, side))
            if pos is not None and pos.amount != 0:
                return pos
        return PositionState(symbol, _BOTH)

    def net_amount(self, symbol: str) -> Decimal:
        """`net_position(symbol).amount`, without building a flat position to read 0 from (the
        engine asks "is anything held?" several times a report)."""
        positions = self.positions
        pos = positions.get((symbol, _BOTH))
        if pos is not None:
            if pos.amount != 0:
                return pos.amount
            if len(positions) == 1:
                return ZERO  # the only position there is, flat: no hedge leg to look for
        for side in _NET_ORDER:
            pos = positions.get((symbol, side))
            if pos is not None and pos.amount != 0:
                return pos.amount
        return ZERO

    def unrealized(self, symbol: str, position_side: PositionSide = PositionSide.BOTH) -> Decimal:
        pos = self.positions.get((symbol, position_side))
        if pos is None or not pos.amount:
            return ZERO
        mark = self.marks.get(symbol)
        if mark is None:
            return ZERO
        inst = self.instruments[symbol]
        if position_side is _BOTH:
            # The one-way amount is already signed: d * size == amount, exactly (valued on every bar).
            return inst.signed_pnl(pos.amount, pos.entry_price, mark)
        return inst.pnl(position_side, abs(pos.amount), pos.entry_price, mark)

    def equity(self, asset: str) -> Decimal:
        """Wallet plus unrealized PnL at mark of every position margined in `asset`."""
        total = self.wallet.get(asset, ZERO)
        instruments, marks = self.instruments, self.marks
        for (symbol, side), pos in self.positions.items():
            amount = pos.amount
            if not amount:
                continue
            inst = instruments[symbol]
            if inst.margin_asset != asset:
                continue
            # `unrealized(symbol, side)` inlined (valued on every bar): the same operations, and
            # ZERO added when no mark is known, as it returns then (a sum's exponent may change).
            mark = marks.get(symbol)
            if mark is None:
                total += ZERO
            elif side is _BOTH:
                total += inst.signed_pnl(amount, pos.entry_price, mark)
            else:
                total += inst.pnl(side, abs(amount), pos.entry_price, mark)
        return total

    def equity_and_exit_fees(self, asset: str, taker: Decimal) -> tuple[Decimal, Decimal]:
        """`equity(asset)`, and the taker fee of closing every position of `asset` at its mark by a
        market order, in one walk over the positions (the daily loss cap reads both at every price
        walked while a position is held). The same operations in the same order as `equity` and as
        the fee sum of `CapStops.daily_pnl_closed` took them apart, so the same Decimals."""
        total = self.wallet.get(asset, ZERO)
        fees = ZERO
        instruments, marks = self.instruments, self.marks
        for (symbol, side), pos in self.positions.items():
            amount = pos.amount
            if not amount:
                continue
            inst = instruments[symbol]
            if inst.margin_asset != asset:
                continue
            mark = marks.get(symbol)
            if mark is None:
                total += ZERO  # as `equity` (a sum's exponent may change); no fee without a mark
            else:
                if side is _BOTH:
                    total += inst.signed_pnl(amount, pos.entry_price, mark)
                else:
                    total += inst.pnl(side, abs(amount), pos.entry_price, mark)
                fees += abs(inst.notional(abs(amount), mark)) * taker  # pos.size, without the property call
        return total, fees

    def daily_pnl(self, asset: str) -> Decimal:
        if self.today is None:
            return ZERO
        return self.equity(asset) - self.today.start_equity.get(asset, ZERO)

    def notional(self, symbol: str) -> Decimal:
        """Open notional of the symbol at mark, in the margin asset."""
        mark = self.marks.get(symbol)
        if mark is None:
            return ZERO
        inst = self.instruments[symbol]
        total = ZERO  # sum() over a generator, as a loop: the same additions (every entry asks)
        for (s, _), p in self.positions.items():
            if s == symbol and p.amount != 0:
                total += inst.notional(abs(p.amount), mark)  # p.size
        return total
