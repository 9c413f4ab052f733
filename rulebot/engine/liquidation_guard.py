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
from rulebot.core.frozen import fast_init
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
_HALF = Decimal("0.5")
_BISECTIONS = 30
_ISOLATED = MarginType.ISOLATED  # a slow lookup on Python 3.11 (EnumType.__getattr__): every entry asks


@fast_init
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
    position = Position(qty, _entry_after(inst, holding, add_qty, price))
    try:
        if margin_type is MarginType.ISOLATED:
            liq = liquidation_price(
                inst,
                table,
                [position],
                _isolated_wallet_after(inst, holding, add_qty, price, leverage),
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


def _entry_after(inst: Instrument, holding: Holding, add_qty: Decimal, price: Decimal) -> Decimal:
    """The entry price once `add_qty` (signed) is filled at `price`."""
    qty = holding.qty + add_qty
    if holding.qty == 0 or (holding.qty > 0) != (qty > 0):
        return price
    if (add_qty > 0) == (holding.qty > 0):  # adding: the entry price averages
        if inst.is_inverse:  # inverse entry averages in 1/price, weighted by contracts
            return abs(qty) / (abs(holding.qty) / holding.entry_price + abs(add_qty) / price)
        return (holding.qty * holding.entry_price + add_qty * price) / qty
    return holding.entry_price


def _isolated_wallet_after(
    inst: Instrument, holding: Holding, add_qty: Decimal, price: Decimal, leverage: int
) -> Decimal:
    """The isolated wallet once `add_qty` is filled: an entry that adds brings its initial margin."""
    qty = holding.qty + add_qty
    added = abs(inst.notional(abs(add_qty), price)) / leverage if (add_qty > 0) == (qty > 0) else ZERO
    return holding.isolated_wallet + added


# Each table's brackets in floats, built once per table (every entry asks, and a table has a dozen
# brackets). Keyed by identity with the table kept beside its rows: a table is frozen, so the rows
# cannot go stale, and a kept table's id cannot be reused by another while it is cached.
_FLOAT_ROWS: dict[int, tuple[BracketTable, list[tuple[float, float, float]]]] = {}


def _float_rows(table: BracketTable) -> list[tuple[float, float, float]]:
    """(notional cap, maintenance rate, cum) of each bracket, in floats."""
    hit = _FLOAT_ROWS.get(id(table))
    if hit is not None and hit[0] is table:
        return hit[1]
    rows = [(float(b.notional_cap), float(b.maint_margin_ratio), float(b.cum)) for b in table.brackets]
    if len(_FLOAT_ROWS) >= 64:  # a reload brings new tables: keep the cache small
        _FLOAT_ROWS.clear()
    _FLOAT_ROWS[id(table)] = (table, rows)
    return rows


def clearly_far(
    inst: Instrument,
    table: BracketTable,
    holding: Holding,
    add_qty: Decimal,
    price: Decimal,
    mark: Decimal,
    leverage: int,
    margin_type: MarginType,
    min_distance: Decimal,
) -> bool:
    """True when floats show `distance_after` at least `min_distance` with room to spare: an
    isolated linear position whose margin balance is clearly above maintenance at the mark, and
    whose liquidation price for every bracket (the exact one is one of them) lies clearly
    farther from the mark. False means "compute it exactly"; it is never wrong the other way.

    Every entry asks; the exact answer solves every bracket in Decimal (about a third of an
    entry's cost on the backtest path), this one a few float operations a bracket."""
    if margin_type is not _ISOLATED or inst.is_inverse or not ZERO <= min_distance < _HALF:
        return False
    qty = holding.qty + add_qty
    if qty == 0 or mark <= 0:
        return False
    q, m = float(qty), float(mark)
    e = float(_entry_after(inst, holding, add_qty, price))
    w = float(_isolated_wallet_after(inst, holding, add_qty, price, leverage))
    size = abs(q)
    rows = _float_rows(table)
    notional = size * m
    _, mmr, cum = rows[-1]
    for cap, r_mmr, r_cum in rows:  # the bracket of the notional at the mark (a loop: no generator)
        if notional < cap:
            mmr, cum = r_mmr, r_cum
            break
    if w + q * (m - e) <= (notional * mmr - cum) * (1 + 1e-6) + 1e-6:
        return False  # not clearly above maintenance at the mark: the exact answer may be 0
    need = m * (float(min_distance) * (1 + 1e-6) + 1e-9)
    for _, mmr, cum in rows:
        den = size * mmr - q
        if abs(den) <= size * 1e-9:
            return False  # a near-zero denominator: leave it to the exact solve
        at = (w + cum - q * e) / den
        if at > 0 and abs(m - at) < need:
            return False
    return True


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

    if clearly_far(inst, table, holding, direction * want_qty, price, mark, leverage, margin_type, min_distance):
        return want_qty
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
