"""Margin math of Binance futures: leverage brackets, margin, PnL, ROE and liquidation price.

Formulas and the worked examples they are tested against are in shared/binance/MARGIN.md.
Every notional here is in the margin asset (USDT for USDⓈ-M, the coin for COIN-M), as
`Instrument.notional` returns it, because that is the unit Binance's brackets use.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise, product

from rulebot.core.enums import MarginType, PositionSide
from rulebot.core.instruments import Instrument

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Bracket:
    """One leverage bracket: `notional_floor <= notional < notional_cap` (margin asset)."""

    bracket: int
    initial_leverage: int
    notional_floor: Decimal
    notional_cap: Decimal
    maint_margin_ratio: Decimal
    cum: Decimal  # maintenance amount that makes tiered MM continuous (MARGIN.md §2)


@dataclass(frozen=True, slots=True)
class BracketTable:
    """A symbol's leverage brackets, lowest first."""

    symbol: str
    brackets: tuple[Bracket, ...]
    # Binance: "user symbol bracket multiplier, only appears when the user's symbol bracket is
    # adjusted". Whether the returned caps already include it is undocumented: kept, not used.
    notional_coef: Decimal | None = None

    def __post_init__(self) -> None:
        if not self.brackets:
            raise ValueError(f"{self.symbol}: no leverage brackets")
        for lower, upper in pairwise(self.brackets):
            if lower.notional_cap != upper.notional_floor:
                raise ValueError(
                    f"{self.symbol}: bracket {lower.bracket} ends at {lower.notional_cap} but "
                    f"bracket {upper.bracket} starts at {upper.notional_floor}"
                )

    def for_notional(self, notional: Decimal) -> Bracket:
        """The bracket containing `abs(notional)`.

        At or above the last cap the last bracket is returned: such a position cannot be
        opened, but a liquidation-price search may probe prices where its notional is larger.
        """
        size = abs(notional)
        # Floor inclusive, cap exclusive (MARGIN.md; Binance's choice exactly at a cap is
        # unverified). The table is contiguous, so the first cap above the size decides.
        for b in self.brackets:
            if size < b.notional_cap:
                return b
        return self.brackets[-1]

    def maintenance_margin(self, notional: Decimal) -> Decimal:
        """`notional * MMR - cum` of the containing bracket (equal to summing each slice)."""
        b = self.for_notional(notional)
        return abs(notional) * b.maint_margin_ratio - b.cum

    def max_leverage(self, notional: Decimal) -> int:
        """Highest leverage Binance lets a position of this notional use."""
        return self.for_notional(notional).initial_leverage

    def max_notional(self, leverage: int) -> Decimal:
        """Largest position notional allowed at `leverage` (positionRisk's maxNotionalValue;
        COIN-M: its maxQty, in coin)."""
        allowed = [b.notional_cap for b in self.brackets if b.initial_leverage >= leverage]
        if leverage < 1 or not allowed:
            top = self.brackets[0].initial_leverage
            raise ValueError(f"{self.symbol}: leverage {leverage} is not within 1..{top}")
        return max(allowed)


# -- positions, margin, PnL ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Position:
    """One position of a symbol: Binance's `positionAmt` (signed) and `entryPrice`.

    One-way mode has one `BOTH` position per symbol; hedge mode a `LONG` (qty >= 0) and a
    `SHORT` (qty <= 0), as positionRisk reports them.
    """

    qty: Decimal
    entry_price: Decimal
    position_side: PositionSide = PositionSide.BOTH

    def __post_init__(self) -> None:
        if self.position_side is PositionSide.LONG and self.qty < 0:
            raise ValueError("a LONG position has positionAmt >= 0")
        if self.position_side is PositionSide.SHORT and self.qty > 0:
            raise ValueError("a SHORT position has positionAmt <= 0")
        if self.qty != 0 and self.entry_price <= 0:
            raise ValueError(f"an open position needs a positive entry price, got {self.entry_price}")

    @property
    def size(self) -> Decimal:
        """Absolute size (base asset or contracts)."""
        return abs(self.qty)

    @property
    def direction(self) -> int:
        """+1 long, -1 short, 0 flat."""
        return (self.qty > 0) - (self.qty < 0)

    @property
    def side(self) -> PositionSide:
        """LONG or SHORT by the sign of `qty` (also for a one-way BOTH position)."""
        if self.qty == 0:
            raise ValueError("a flat position has no side")
        return PositionSide.LONG if self.qty > 0 else PositionSide.SHORT


def unrealized_pnl(inst: Instrument, position: Position, mark_price: Decimal) -> Decimal:
    """`side * Q * (MP - EP)` (linear) or `side * Q * CS * (1/EP - 1/MP)` (inverse)."""
    if position.qty == 0:
        return ZERO
    return inst.pnl(position.side, position.size, position.entry_price, mark_price)


def initial_margin(notional: Decimal, leverage: int) -> Decimal:
    """`|notional| / leverage`. Binance recomputes it at mark price; at entry use entry price."""
    if leverage < 1:
        raise ValueError(f"leverage must be at least 1, got {leverage}")
    return abs(notional) / leverage


def roe(
    inst: Instrument,
    position: Position,
    mark_price: Decimal,
    leverage: int,
    price: Decimal | None = None,
) -> Decimal:
    """Return on equity as a fraction (0.25 = 25 %), as Binance shows it on a position.

    PnL at `price` (default: mark) over the initial margin **at mark price**: Binance's
    support page "A Beginner's Guide to Futures Trading" divides by
    `position_amount * contract_multiplier * mark_price * IMR` (COIN-M likewise in coin).
    MARGIN.md has no ROE; the Futures Calculator uses entry-price margin instead.
    """
    if position.qty == 0:
        return ZERO
    pnl = unrealized_pnl(inst, position, mark_price if price is None else price)
    return pnl / initial_margin(inst.notional(position.size, mark_price), leverage)


def margin_balance(wallet_balance: Decimal, unrealized_pnls: Iterable[Decimal]) -> Decimal:
    """Cross margin balance: `crossWalletBalance + sum of the cross positions' unrealized PnL`."""
    return wallet_balance + sum(unrealized_pnls, ZERO)


def margin_ratio(maint_margin: Decimal, balance: Decimal) -> Decimal:
    """`maintenance margin / margin balance`; liquidation at 1 (100 %).

    A balance at or below zero gives `Decimal('Infinity')` (nothing left: already liquidated).
    """
    if balance <= 0:
        return Decimal("Infinity")
    return maint_margin / balance


# -- liquidation price (MARGIN.md §3.1 and §4) ---------------------------------------------


def _solve(inst: Instrument, legs: Sequence[Position], brackets: Sequence[Bracket], equity: Decimal) -> Decimal | None:
    """Mark price where margin balance equals maintenance margin, for fixed brackets.

    `equity` is `WB - TMM1 + UPNL1`. Linear (MARGIN.md §3.1):
        LP = (equity + sum cum - sum d*Q*EP) / (sum Q*MMR - sum d*Q)
    Inverse (§4, derived the same way), CS = contract size:
        LP = CS * (sum Q*MMR + sum d*Q) / (equity + sum cum + CS * sum d*Q/EP)
    """
    cums = sum((b.cum for b in brackets), ZERO)
    q_mmr = sum((p.size * b.maint_margin_ratio for p, b in zip(legs, brackets, strict=True)), ZERO)
    signed_q = sum((p.qty for p in legs), ZERO)  # sum of d*Q
    if inst.is_inverse:
        cs = inst.contract_size
        numerator = cs * (q_mmr + signed_q)
        denominator = equity + cums + cs * sum((p.qty / p.entry_price for p in legs), ZERO)
    else:
        numerator = equity + cums - sum((p.qty * p.entry_price for p in legs), ZERO)
        denominator = q_mmr - signed_q
    if denominator == 0:
        return None
    price = numerator / denominator
    return price if price > 0 else None


class UnderMaintenanceError(ArithmeticError):
    """The positions are below maintenance margin at every mark price: no price liquidates
    them because every price already does."""


def _excess(
    inst: Instrument, table: BracketTable, legs: Sequence[Position], equity: Decimal, price: Decimal
) -> Decimal:
    """Margin balance minus maintenance margin at `price` (liquidation where it reaches 0)."""
    pnl = sum((unrealized_pnl(inst, p, price) for p in legs), ZERO)
    mm = sum((table.maintenance_margin(inst.notional(p.size, price)) for p in legs), ZERO)
    return equity + pnl - mm


def liquidation_price(
    inst: Instrument,
    table: BracketTable,
    positions: Sequence[Position],
    wallet_balance: Decimal,
    *,
    margin_type: MarginType,
    other_maint_margin: Decimal = ZERO,
    other_unrealized_pnl: Decimal = ZERO,
    mark_price: Decimal | None = None,
) -> Decimal | None:
    """Binance's liquidation price of one symbol's position(s); None when there is none (UI `--`).

    `positions` are the symbol's positions that share one liquidation price:
    one-way: `[BOTH]`; hedge cross: `[LONG, SHORT]`; isolated: the one position alone.
    `wallet_balance` is WB: the position's isolated wallet (isolated) or `crossWalletBalance`
    (cross). `other_maint_margin`/`other_unrealized_pnl` are TMM1/UPNL1, the other cross
    positions' maintenance margin and unrealized PnL (always 0 in isolated mode).

    Each leg's (MMR, cum) must be those of the bracket containing its notional at the
    liquidation price itself (MARGIN.md §3.1; per leg in hedge mode, which MARGIN.md marks
    unverified). Every bracket choice is tried and only self-consistent prices are kept:
    MARGIN.md's "recompute until consistent" can stop early on a price <= 0 (a near-1x long
    started in its entry bracket) or cycle (hedge), although a consistent price exists.
    A single position has at most one such price. A hedge pair can have two, one on each
    side of the mark; the one nearest `mark_price` (default: the legs' mean entry) is
    returned. Raises `UnderMaintenanceError` when no price is safe. Fees are not in the
    formula; Binance's live figure may differ slightly.
    """
    legs = [p for p in positions if p.qty != 0]
    if margin_type is MarginType.ISOLATED and (len(legs) > 1 or other_maint_margin != 0 or other_unrealized_pnl != 0):
        raise ValueError("an isolated position is liquidated alone: one leg, no TMM1/UPNL1")
    sides = [p.position_side for p in legs]
    if len(set(sides)) != len(sides) or (PositionSide.BOTH in sides and len(sides) > 1):
        raise ValueError(f"one symbol holds one BOTH position or one LONG and one SHORT: {sides}")
    if not legs:
        return None

    equity = wallet_balance - other_maint_margin + other_unrealized_pnl
    roots = set()
    for chosen in product(table.brackets, repeat=len(legs)):
        price = _solve(inst, legs, chosen, equity)
        if price is not None and all(
            table.for_notional(inst.notional(p.size, price)) == b for p, b in zip(legs, chosen, strict=True)
        ):
            roots.add(price)
    total = sum((p.size for p in legs), ZERO)
    reference = mark_price
    if reference is None:
        reference = sum((p.size * p.entry_price for p in legs), ZERO) / total
    if roots:
        return min(roots, key=lambda root: abs(root - reference))
    if _excess(inst, table, legs, equity, reference) < 0:
        raise UnderMaintenanceError(
            f"{inst.symbol}: margin balance is below maintenance margin at every price; "
            "the position is being liquidated"
        )
    return None


# -- float estimates (to decide whether the exact check is needed) -------------------------------


def float_pnl_and_notional(inst: Instrument, qty: float, entry: float, mark: float) -> tuple[float, float]:
    """Unrealized PnL and notional (margin asset) of a signed position, in floats."""
    if inst.is_inverse:
        cs = float(inst.contract_size)
        return qty * cs * (1 / entry - 1 / mark), abs(qty) * cs / mark
    return qty * (mark - entry), abs(qty) * mark


class FloatBrackets:
    """A bracket table in floats: maintenance margin for estimates on the per-price path."""

    __slots__ = ("_rows",)

    def __init__(self, table: BracketTable) -> None:
        self._rows = [(float(b.notional_cap), float(b.maint_margin_ratio), float(b.cum)) for b in table.brackets]

    def maintenance(self, notional: float) -> float:
        for cap, mmr, cum in self._rows:
            if notional < cap:
                return notional * mmr - cum
        _, mmr, cum = self._rows[-1]
        return notional * mmr - cum


def isolated_ratio_clearly_below(
    inst: Instrument,
    brackets: FloatBrackets,
    qty: Decimal,
    entry: Decimal,
    wallet: Decimal,
    mark: Decimal,
    limit: float,
) -> bool:
    """True when an isolated position's margin ratio, estimated in floats, is at least 2 %
    below `limit`. False means "check exactly" (also when the inputs say nothing useful)."""
    return float_ratio_clearly_below(inst, brackets, float(qty), float(entry), float(wallet), float(mark), limit)


def float_ratio_clearly_below(
    inst: Instrument, brackets: FloatBrackets, q: float, e: float, w: float, m: float, limit: float
) -> bool:
    """`isolated_ratio_clearly_below` of the position's figures already in floats (a caller that
    asks on every mark price keeps those that move only with a fill)."""
    if e <= 0 or m <= 0 or w <= 0:
        return False
    pnl, notional = float_pnl_and_notional(inst, q, e, m)
    balance = w + pnl
    if balance <= 0:
        return False
    return brackets.maintenance(notional) / balance < limit * 0.98
