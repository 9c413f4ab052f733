"""Margin figures at current prices: initial margin of positions and open orders, maintenance
margin, margin balance, available balance and margin ratio, per margin asset.

Model (Binance publishes no exact open-order margin rule; these are stated choices):
  * positions are valued at the mark price (the last trade before a mark is known, the entry
    price before either); initial margin `|notional| / leverage`, maintenance margin from the
    symbol's brackets (MARGIN.md §3, §4).
  * open-order margin counts only orders that can open exposure, at their limit price: in
    one-way mode the part of a BUY that would first close a short (and of a SELL a long) is
    free, and the larger of the symbol's BUY and SELL sides is charged (only one of them can
    become the position); in hedge mode LONG-opening BUYs and SHORT-opening SELLs add up.
    Reduce-only orders and untriggered conditional orders need none.
  * available balance = cross wallet + cross unrealized PnL - cross position initial margin
    - open-order margin of all the asset's symbols. Isolated positions live on their own
    wallet and do not count; opening one moves its margin out of the cross wallet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from rulebot.core.enums import PositionSide, Side
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable, margin_ratio
from rulebot.exchange_sim.account import Account, PositionState

ZERO = Decimal(0)
# Members at hand: a member read through its class is a slow lookup on Python 3.11 (EnumType.__getattr__),
# and every opening order's margin check reads them.
_BUY, _SELL, _BOTH, _LONG = Side.BUY, Side.SELL, PositionSide.BOTH, PositionSide.LONG


@dataclass(frozen=True, slots=True)
class Pending:
    """What an order could still add to a position, for margin: its unfilled quantity."""

    side: Side
    position_side: PositionSide
    qty: Decimal
    price: Decimal
    priority: int  # lower is first to close the position with


def _priority(o: Pending) -> int:
    return o.priority


def _side_margin(inst: Instrument, lev: int, orders: list[Pending], side: Side, closable: Decimal) -> Decimal:
    """One-way mode: the margin of `orders` on `side`, the first `closable` of them (by priority)
    closing the position for free."""
    total = ZERO
    same = [o for o in orders if o.side is side]
    if len(same) > 1:  # a stable sort, as sorted() was: one order (the usual) needs none
        same.sort(key=_priority)
    for o in same:
        closing = min(closable, o.qty)
        closable -= closing
        total += abs(inst.notional(o.qty - closing, o.price)) / lev
    return total


class Exposure:
    """Margin figures over an `Account`, with prices and open orders read through callables."""

    def __init__(
        self,
        account: Account,
        instruments: Mapping[str, Instrument],
        brackets: Mapping[str, BracketTable],
        prices: Callable[[str], Decimal | None],
        pending: Callable[[str], list[Pending]],
    ) -> None:
        self._account = account
        self._instruments = instruments
        self._brackets = brackets
        self._prices = prices
        self._pending = pending

    def brackets(self, symbol: str) -> BracketTable:
        return self._brackets[symbol]

    # -- one position ----------------------------------------------------------------------

    def price(self, pos: PositionState) -> Decimal:
        """The price a position is valued at: mark, else last trade, else its entry."""
        price = self._prices(pos.symbol)
        return pos.entry_price if price is None else price

    def unrealized(self, pos: PositionState) -> Decimal:
        if pos.qty == 0:
            return ZERO
        # `unrealized_pnl` of `pos.as_position()`: the same product, without building (and
        # validating) a Position to learn the side the sign of qty already gives.
        return self._instruments[pos.symbol].signed_pnl(pos.qty, pos.entry_price, self.price(pos))

    def notional(self, pos: PositionState) -> Decimal:
        """Signed notional at the valuation price, in the margin asset."""
        if pos.qty == 0:
            return ZERO
        return self._instruments[pos.symbol].notional(pos.qty, self.price(pos))

    def initial_margin(self, pos: PositionState) -> Decimal:
        return abs(self.notional(pos)) / self._account.leverage[pos.symbol]

    def maint_margin(self, pos: PositionState) -> Decimal:
        if pos.qty == 0:
            return ZERO
        return self._brackets[pos.symbol].maintenance_margin(self.notional(pos))

    # -- open orders ----------------------------------------------------------------------

    def pending(self, symbol: str) -> list[Pending]:
        """The symbol's open orders as margin sees them: a caller that asks several questions of one
        state (the gatekeeper's -2027 and -2019 checks) builds them once and passes them on."""
        return self._pending(symbol)

    def order_margin(self, symbol: str, extra: Pending | None = None, pending: list[Pending] | None = None) -> Decimal:
        """Initial margin of the symbol's open orders (plus `extra`, a candidate order); `pending`:
        those orders as `pending(symbol)` gives them now."""
        orders = self._pending(symbol) if pending is None else pending
        if extra is not None:
            orders = [*orders, extra]
        if not orders:
            return ZERO
        inst = self._instruments[symbol]
        lev = self._account.leverage[symbol]
        if self._account.hedge_mode:
            opening = [o for o in orders if (o.position_side is _LONG) == (o.side is _BUY)]
            return sum((abs(inst.notional(o.qty, o.price)) / lev for o in opening), ZERO)
        held = self._account.position(symbol, _BOTH).qty
        buys = _side_margin(inst, lev, orders, _BUY, max(ZERO, -held))
        return max(buys, _side_margin(inst, lev, orders, _SELL, max(ZERO, held)))

    def opening_qty(
        self, symbol: str, position_side: PositionSide, side: Side, pending: list[Pending] | None = None
    ) -> Decimal:
        """Position size on the side `side` opens, plus open orders on that side (all taken
        as adding to it: the cap check errs on the safe side); `pending` as in `order_margin`."""
        held = self._account.position(symbol, position_side).qty
        same = max(ZERO, held) if side is _BUY else max(ZERO, -held)
        adding = sum(
            (
                o.qty
                for o in (self._pending(symbol) if pending is None else pending)
                if o.side is side and o.position_side is position_side
            ),
            ZERO,
        )
        return same + adding

    # -- per margin asset ------------------------------------------------------------------

    def _symbols(self, asset: str) -> list[str]:
        return sorted(s for s, i in self._instruments.items() if i.margin_asset == asset)

    def _cross(self, asset: str) -> list[PositionState]:
        return [p for p in self._account.open_positions(asset) if not self._account.is_isolated(p.symbol)]

    def cross_unrealized(self, asset: str) -> Decimal:
        return sum((self.unrealized(p) for p in self._cross(asset)), ZERO)

    def cross_margin_balance(self, asset: str) -> Decimal:
        return self._account.cross_wallet(asset) + self.cross_unrealized(asset)

    def cross_maint_margin(self, asset: str) -> Decimal:
        return sum((self.maint_margin(p) for p in self._cross(asset)), ZERO)

    def cross_ratio(self, asset: str) -> Decimal:
        """Cross maintenance margin over cross margin balance; 0 with no cross position."""
        mm = self.cross_maint_margin(asset)
        if mm == 0:
            return ZERO
        return margin_ratio(mm, self.cross_margin_balance(asset))

    def isolated_ratio(self, pos: PositionState) -> Decimal:
        """An isolated position's maintenance margin over its wallet plus unrealized PnL."""
        if pos.qty == 0:
            return ZERO
        return margin_ratio(self.maint_margin(pos), pos.isolated_wallet + self.unrealized(pos))

    def position_initial_margin(self, asset: str) -> Decimal:
        """Initial margin of all the asset's positions (isolated ones: also at mark)."""
        return sum((self.initial_margin(p) for p in self._account.open_positions(asset)), ZERO)

    def open_order_margin(self, asset: str, known: Mapping[str, Decimal] | None = None) -> Decimal:
        """`known`: symbols whose `order_margin` the caller has just computed in this same state."""
        total = ZERO  # sum() in a loop: the same additions, in the same order
        for s in self._symbols(asset):
            total += known[s] if known is not None and s in known else self.order_margin(s)
        return total

    def available(self, asset: str, known: Mapping[str, Decimal] | None = None) -> Decimal:
        """Margin left for new orders (`availableBalance`); `known` as in `open_order_margin`."""
        cross = self._cross(asset)  # once: every opening order asks (the gatekeeper's -2019 check)
        # The two sums over the cross positions, as loops (no cross position at all, in isolated mode).
        cross_im = upnl = ZERO
        for p in cross:
            cross_im += self.initial_margin(p)
        for p in cross:
            upnl += self.unrealized(p)
        balance = self._account.cross_wallet(asset) + upnl  # margin balance
        return balance - cross_im - self.open_order_margin(asset, known)

    def maint_margin_total(self, asset: str) -> Decimal:
        """Maintenance margin of all the asset's positions, cross and isolated."""
        return sum((self.maint_margin(p) for p in self._account.open_positions(asset)), ZERO)
