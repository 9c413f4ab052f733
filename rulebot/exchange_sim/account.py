"""The account: a wallet per margin asset, positions per symbol and position side, leverage and
margin type per symbol, and the account-wide position mode (one-way or hedge).

Money moves here only: fills (realized PnL, commission, isolated margin), funding and
liquidation. Margin figures that need prices and open orders are in `exposure.py`.

Every amount booked (realized PnL, commission, funding, isolated margin moved) is rounded to
8 decimals, half up, as Binance's balances, fills and income records carry 8 (its rounding
direction is unverified). Sums of such amounts are exact, so the wallet always equals the
start plus what the events report, to the last digit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from rulebot.core.enums import MarginType, PositionSide, Side
from rulebot.core.instruments import Instrument
from rulebot.core.margin import Position

ZERO = Decimal(0)
MONEY_STEP = Decimal("1e-8")
ONE_WAY_SIDES = (PositionSide.BOTH,)
# Enum members read through the class cost ~0.1 us each on Python 3.11 (EnumType.__getattr__ makes
# every class attribute lookup a slow one): the hot paths compare with these module constants.
_BUY, _ISOLATED = Side.BUY, MarginType.ISOLATED
_BOTH, _LONG = PositionSide.BOTH, PositionSide.LONG
HEDGE_SIDES = (PositionSide.LONG, PositionSide.SHORT)


@dataclass(slots=True, eq=False)  # mutable state: identity, not value, equality
class PositionState:
    """One position: signed `qty` (Binance's positionAmt), entry price, isolated wallet."""

    symbol: str
    position_side: PositionSide
    qty: Decimal = ZERO
    entry_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO  # accumulated, before fees (ACCOUNT_UPDATE `cr`)
    isolated_wallet: Decimal = ZERO
    update_time: int = 0

    @property
    def size(self) -> Decimal:
        return abs(self.qty)

    def as_position(self) -> Position:
        return Position(self.qty, self.entry_price, self.position_side)


@dataclass(slots=True)
class Ledger:
    """Where one asset's wallet changes came from since the start (for audits and tests)."""

    realized_pnl: Decimal = ZERO
    commission: Decimal = ZERO
    funding: Decimal = ZERO


def money(amount: Decimal) -> Decimal:
    """An amount as it is booked: 8 decimals, half up."""
    return amount.quantize(MONEY_STEP, rounding=ROUND_HALF_UP)


def reducible(position: PositionState, side: Side) -> Decimal:
    """How much of `position` an order on `side` can close (0 if it would only add)."""
    if side is _BUY:
        return max(ZERO, -position.qty)
    return max(ZERO, position.qty)


def closes(position_side: PositionSide, side: Side) -> bool:
    """Hedge mode: a SELL closes the LONG position, a BUY the SHORT one."""
    if position_side is PositionSide.BOTH:
        return False
    return (position_side is PositionSide.LONG) == (side is Side.SELL)


def _symbol_and_side(p: PositionState) -> tuple[str, str]:
    return (p.symbol, p.position_side.value)


class Account:
    """Wallets, positions and settings. Positions are created on first use, flat."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        balances: Mapping[str, Decimal],
        *,
        hedge_mode: bool,
        leverage: Mapping[str, int],
        margin_type: MarginType,
    ) -> None:
        self._instruments = instruments
        self.wallets: dict[str, Decimal] = {a: Decimal(v) for a, v in balances.items()}
        for inst in instruments.values():
            self.wallets.setdefault(inst.margin_asset, ZERO)
        self.ledgers: dict[str, Ledger] = {asset: Ledger() for asset in self.wallets}
        self.hedge_mode = hedge_mode
        self.leverage: dict[str, int] = dict(leverage)
        self.margin_type: dict[str, MarginType] = dict.fromkeys(instruments, margin_type)
        self._positions: dict[tuple[str, PositionSide], PositionState] = {}
        self.update_time: dict[str, int] = dict.fromkeys(self.wallets, 0)

    # -- positions -----------------------------------------------------------------------

    @property
    def position_sides(self) -> tuple[PositionSide, ...]:
        return HEDGE_SIDES if self.hedge_mode else ONE_WAY_SIDES

    def position(self, symbol: str, position_side: PositionSide) -> PositionState:
        key = (symbol, position_side)
        pos = self._positions.get(key)
        if pos is None:
            pos = self._positions[key] = PositionState(symbol, position_side)
        return pos

    def legs(self, symbol: str) -> list[PositionState]:
        """The symbol's positions in the current mode: [BOTH] or [LONG, SHORT]."""
        return [self.position(symbol, ps) for ps in self.position_sides]

    def open_positions(self, asset: str | None = None) -> list[PositionState]:
        """Non-flat positions (of one margin asset), in symbol then side order."""
        out = [
            p
            for p in self._positions.values()
            if p.qty != 0 and (asset is None or self._instruments[p.symbol].margin_asset == asset)
        ]
        if len(out) > 1:  # none or one (the usual) needs no key built for a sort
            out.sort(key=_symbol_and_side)
        return out

    def is_isolated(self, symbol: str) -> bool:
        return self.margin_type[symbol] is _ISOLATED

    def isolated_total(self, asset: str) -> Decimal:
        # sum() over a generator, as a loop (every fill's account update asks): the same additions.
        total = ZERO
        instruments = self._instruments
        for p in self._positions.values():
            if instruments[p.symbol].margin_asset == asset:
                total += p.isolated_wallet
        return total

    def cross_wallet(self, asset: str) -> Decimal:
        """`crossWalletBalance`: the wallet less what sits in isolated positions."""
        return self.wallets[asset] - self.isolated_total(asset)

    # -- money movements -------------------------------------------------------------------

    def apply_fill(
        self,
        inst: Instrument,
        position_side: PositionSide,
        side: Side,
        qty: Decimal,
        price: Decimal,
        commission: Decimal,
        time: int,
    ) -> Decimal:
        """Book a fill on a position; returns its realized PnL (before the commission).

        `commission` must already be rounded (`money`), as the OrderUpdate reports it.

        Adding averages the entry (`Instrument.average_entry`); an opposite fill realizes PnL
        on the part it closes and, in one-way mode, opens the rest the other way at `price`.
        Isolated: opening moves `notional / leverage` from the cross wallet into the
        position's wallet; closing releases the closed share of it. The commission and the
        realized PnL are paid from/to the wallet (its cross part).
        """
        symbol = inst.symbol
        pos = self.position(symbol, position_side)
        isolated = self.margin_type[symbol] is _ISOLATED  # is_isolated, without the call (every fill)
        buy = side is _BUY
        closed = min(qty, reducible(pos, side))
        realized = ZERO
        if closed:
            # `inst.pnl(side, closed, ...)` with the position's side as the sign of `closed`.
            realized = money(inst.signed_pnl(closed if pos.qty > 0 else -closed, pos.entry_price, price))
            if isolated:
                pos.isolated_wallet -= money(pos.isolated_wallet * closed / abs(pos.qty))
            pos.qty += closed if buy else -closed
            pos.realized_pnl += realized
            if pos.qty == 0:
                pos.entry_price = ZERO
        opened = qty - closed
        if opened:
            if position_side is not _BOTH and ((position_side is _LONG) != buy):
                raise ValueError(f"a {side} fill cannot open a {position_side} position")
            if pos.qty == 0:
                pos.entry_price = price
            else:
                pos.entry_price = inst.average_entry(abs(pos.qty), pos.entry_price, opened, price)
            # The signed fill (`qty` on a BUY, `-qty` on a SELL) is positive exactly on a BUY: `opened`
            # is positive, and so is `qty`.
            pos.qty += opened if buy else -opened
            if isolated:
                pos.isolated_wallet += money(abs(inst.notional(opened, price)) / self.leverage[symbol])
        pos.update_time = time
        self._book(inst.margin_asset, realized=realized, commission=commission, time=time)
        return realized

    def apply_funding(self, inst: Instrument, pos: PositionState, amount: Decimal, time: int) -> None:
        """Credit (positive) or debit a funding payment; an isolated position's wallet too."""
        if self.is_isolated(inst.symbol):
            pos.isolated_wallet += amount
        pos.update_time = time
        self._book(inst.margin_asset, funding=amount, time=time)

    def liquidate(
        self, inst: Instrument, pos: PositionState, qty: Decimal, realized: Decimal, fee: Decimal, time: int
    ) -> None:
        """Close `qty` of the position in a liquidation, booking `realized` and the clearance `fee`.

        The caller passes the exact amounts (`liquidation.py` bounds them by the margin). An
        isolated position pays both out of its own wallet, as its margin is what a liquidation
        spends; what is left of that wallet when the position is gone goes back to the cross part.
        """
        pos.qty += -qty if pos.qty > 0 else qty
        pos.realized_pnl += realized
        if self.is_isolated(inst.symbol):
            pos.isolated_wallet += realized - fee
        if pos.qty == 0:
            pos.entry_price = ZERO
            pos.isolated_wallet = ZERO
        pos.update_time = time
        self._book(inst.margin_asset, realized=realized, commission=fee, time=time)

    def _book(
        self,
        asset: str,
        *,
        realized: Decimal = ZERO,
        commission: Decimal = ZERO,
        funding: Decimal = ZERO,
        time: int,
    ) -> None:
        self.wallets[asset] += realized - commission + funding
        ledger = self.ledgers.get(asset)
        if ledger is None:  # not setdefault: that builds a Ledger on every fill
            ledger = self.ledgers[asset] = Ledger()
        ledger.realized_pnl += realized
        ledger.commission += commission
        ledger.funding += funding
        self.update_time[asset] = time

    def assets(self) -> Iterable[str]:
        return sorted(self.wallets)
