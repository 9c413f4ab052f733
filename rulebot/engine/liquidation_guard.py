"""Liquidation distance and margin ratio at the mark price, with the symbol's brackets.

Two questions the risk guards ask, both answered with Binance's own formulas
(`rulebot.core.margin`, MARGIN.md) rather than a flat maintenance rate:

- how far from the mark price would the liquidation price of the position be *after* this
  entry, and how large may the entry be for that distance to stay above the minimum?
- how close to liquidation is an open position now (its margin ratio)?
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rulebot.core.enums import MarginType
from rulebot.core.instruments import Instrument
from rulebot.core.margin import (
    BracketTable,
    Position,
    UnderMaintenanceError,
    liquidation_price,
    margin_ratio,
    unrealized_pnl,
)

ZERO = Decimal(0)
_BISECTIONS = 30


@dataclass(frozen=True, slots=True)
class Holding:
    """What the symbol holds now and the account around it, in the margin asset."""

    qty: Decimal  # signed
    entry_price: Decimal
    isolated_wallet: Decimal  # isolated mode: the position's margin; cross: unused
    cross_wallet: Decimal  # cross mode: the wallet the position shares
    other_maint: Decimal  # cross: maintenance margin of the account's other positions
    other_upnl: Decimal  # cross: their unrealized PnL


def distance_after(
    inst: Instrument,
    table: BracketTable,
    holding: Holding,
    add_qty: Decimal,
    price: Decimal,
    mark: Decimal,
    leverage: int,
    margin_type: MarginType,
) -> Decimal:
    """Relative distance |mark - liq| / mark once `add_qty` (signed) is filled at `price`.

    0 when the position would already be under maintenance; a large number when no price
    liquidates it (a fully collateralised 1x long, say).
    """
    qty = holding.qty + add_qty
    if qty == 0:
        return Decimal("Infinity")
    if holding.qty == 0 or (holding.qty > 0) != (qty > 0):
        entry = price
    elif (add_qty > 0) == (holding.qty > 0):  # adding: the entry price averages
        if inst.is_inverse:  # inverse entry averages in 1/price, weighted by contracts
            entry = abs(qty) / (abs(holding.qty) / holding.entry_price + abs(add_qty) / price)
        else:
            entry = (holding.qty * holding.entry_price + add_qty * price) / qty
    else:
        entry = holding.entry_price
    position = Position(qty, entry)
    try:
        if margin_type is MarginType.ISOLATED:
            added_margin = abs(inst.notional(abs(add_qty), price)) / leverage if (add_qty > 0) == (qty > 0) else ZERO
            liq = liquidation_price(
                inst,
                table,
                [position],
                holding.isolated_wallet + added_margin,
                margin_type=margin_type,
                mark_price=mark,
            )
        else:
            liq = liquidation_price(
                inst,
                table,
                [position],
                holding.cross_wallet,
                margin_type=margin_type,
                other_maint_margin=holding.other_maint,
                other_unrealized_pnl=holding.other_upnl,
                mark_price=mark,
            )
    except UnderMaintenanceError:
        return ZERO
    if liq is None:
        return Decimal("Infinity")
    return abs(mark - liq) / mark


def largest_entry(
    inst: Instrument,
    table: BracketTable,
    holding: Holding,
    want_qty: Decimal,
    direction: int,
    price: Decimal,
    mark: Decimal,
    leverage: int,
    margin_type: MarginType,
    min_distance: Decimal,
) -> Decimal:
    """The largest quantity up to `want_qty` whose resulting liquidation price stays at least
    `min_distance` from the mark; 0 when even a sliver would be too close.

    The distance shrinks as the position grows (more notional on the same margin, higher
    brackets), so bisection finds the boundary.
    """

    def ok(q: Decimal) -> bool:
        return distance_after(inst, table, holding, direction * q, price, mark, leverage, margin_type) >= min_distance

    if ok(want_qty):
        return want_qty
    lo, hi = ZERO, want_qty
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo


def position_margin_ratio(
    inst: Instrument,
    table: BracketTable,
    holding: Holding,
    mark: Decimal,
    margin_type: MarginType,
) -> Decimal:
    """Maintenance margin over margin balance at the mark price (liquidation at 1)."""
    if holding.qty == 0:
        return ZERO
    position = Position(holding.qty, holding.entry_price)
    maint = table.maintenance_margin(inst.notional(position.size, mark))
    upnl = unrealized_pnl(inst, position, mark)
    if margin_type is MarginType.ISOLATED:
        return margin_ratio(maint, holding.isolated_wallet + upnl)
    return margin_ratio(maint + holding.other_maint, holding.cross_wallet + upnl + holding.other_upnl)
