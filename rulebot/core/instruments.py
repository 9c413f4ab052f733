"""Contract specs of Binance futures symbols: filters, tick/step rounding, linear vs inverse value.

This is the one place where prices and quantities are rounded to a symbol's grid, and where the
difference between USDⓈ-M (linear) and COIN-M (inverse) contracts is hidden: callers ask an
`Instrument` for `notional` and `pnl` and get them in the margin asset either way. Exchange JSON is
parsed into these in `binance.payloads.exchange_info`; the filters an order must pass are checked
in `order_filters.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rulebot.core.enums import Market, OrderType, PositionSide, Rounding, Side

ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class PriceFilter:
    """PRICE_FILTER. A zero disables that rule, as on Binance."""

    min_price: Decimal
    max_price: Decimal
    tick_size: Decimal


# Enum members read through the class cost ~0.1 us each on Python 3.11 (EnumType.__getattr__ makes
# every class attribute lookup a slow one): the hot paths compare with these module constants.
_COINM = Market.COINM
_BUY, _SELL = Side.BUY, Side.SELL
_LONG, _SHORT = PositionSide.LONG, PositionSide.SHORT


@dataclass(frozen=True, slots=True)
class LotSize:
    """LOT_SIZE or MARKET_LOT_SIZE, in base asset (USDⓈ-M) or contracts (COIN-M)."""

    min_qty: Decimal
    max_qty: Decimal
    step_size: Decimal


@dataclass(frozen=True, slots=True)
class PercentPrice:
    """PERCENT_PRICE: how far a limit price may sit from the mark price."""

    multiplier_up: Decimal
    multiplier_down: Decimal
    multiplier_decimal: int


def direction(side: Side | PositionSide) -> int:
    """+1 for a long (BUY, LONG), -1 for a short (SELL, SHORT).

    A one-way `BOTH` position has no side of its own: use the sign of its `positionAmt`.
    """
    if side is _BUY or side is _LONG:
        return 1
    if side is _SELL or side is _SHORT:
        return -1
    raise ValueError("PositionSide.BOTH has no direction; use the sign of positionAmt")


def pays_funding(symbol: str) -> bool:
    """True for a perpetual (BTCUSDT, BTCUSD_PERP); a delivery contract (BTCUSD_251226,
    BTCUSDT_251226) settles at its delivery date and pays no funding (FACTS §5, §11)."""
    return "_" not in symbol or symbol.endswith("_PERP")


def _snap(value: Decimal, step: Decimal, origin: Decimal, how: Rounding) -> Decimal:
    """Round `value` onto the grid `origin + k * step`; exact for any step (no float, no 1/3)."""
    if step == 0:
        return value
    # divmod on Decimals is exact: an integer quotient truncated toward zero and the remainder.
    quotient, remainder = divmod(value - origin, step)
    floor = quotient - 1 if remainder < 0 else quotient
    rest = value - origin - floor * step  # in [0, step)
    if how is Rounding.DOWN or rest == 0:
        k = floor
    elif how is Rounding.UP:
        k = floor + 1
    elif how is Rounding.NEAREST:
        k = floor + 1 if 2 * rest >= step else floor
    else:  # a plain "BUY" string must not fall through to some rounding silently
        raise TypeError(f"rounding must be a Side or a Rounding, got {how!r}")
    return origin + k * step


def _on_grid(value: Decimal, step: Decimal, origin: Decimal) -> bool:
    return step == 0 or (value - origin) % step == 0


def _lot_origin(lot: LotSize) -> Decimal:
    # LOT_SIZE checks (qty - minQty) % stepSize == 0, so the grid passes through minQty.
    return lot.min_qty % lot.step_size if lot.step_size else ZERO


def _grid_index(value: Decimal, step: Decimal, origin: Decimal, what: str) -> int:
    if step == 0:
        raise ValueError(f"no {what} grid: the filter's size is 0 (disabled)")
    if not _on_grid(value, step, origin):
        raise ValueError(f"{value} is not on the {what} grid {origin} + k * {step}")
    return int((value - origin) // step)


@dataclass(frozen=True, slots=True)
class Instrument:
    """One futures symbol's contract spec and exchange filters (from exchangeInfo).

    Quantities are base asset for USDⓈ-M and contracts for COIN-M. `notional` and `pnl` are in
    the margin asset: quote asset (USDT) for linear, the base coin for inverse.
    """

    symbol: str
    market: Market
    base_asset: str
    quote_asset: str
    margin_asset: str
    price_filter: PriceFilter
    lot_size: LotSize
    market_lot_size: LotSize
    contract_size: Decimal = ONE  # USD per contract on COIN-M; 1 on USDⓈ-M
    price_precision: int = 8
    quantity_precision: int = 8
    min_notional: Decimal | None = None  # MIN_NOTIONAL `notional`; absent on COIN-M
    percent_price: PercentPrice | None = None
    max_num_orders: int | None = None
    max_num_algo_orders: int | None = None
    # Legacy flat rates (percent) that exchangeInfo still sends; margin math uses brackets.
    maint_margin_percent: Decimal | None = None
    required_margin_percent: Decimal | None = None
    liquidation_fee: Decimal | None = None
    market_take_bound: Decimal | None = None
    trigger_protect: Decimal | None = None
    pair: str = ""
    contract_type: str = ""
    status: str = ""
    # Raw Binance strings; StrEnum members hash like their values (`OrderType.LIMIT in ...`).
    order_types: frozenset[str] = frozenset()
    time_in_force: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.contract_size <= 0:
            raise ValueError(f"{self.symbol}: contract size must be positive")
        if self.market is Market.USDM and self.contract_size != 1:
            raise ValueError(f"{self.symbol}: USDⓈ-M contracts have contract size 1")
        for size in (self.price_filter.tick_size, self.lot_size.step_size):
            if size < 0:
                raise ValueError(f"{self.symbol}: tick/step size must not be negative")

    @property
    def is_inverse(self) -> bool:
        """True for COIN-M (inverse) contracts."""
        return self.market is _COINM  # Market.is_inverse, without two slow lookups (see _COINM)

    def lot(self, order_type: OrderType = OrderType.LIMIT) -> LotSize:
        """The lot filter Binance applies to an order of this type.

        MARKET_LOT_SIZE for every type that fills as a market order: FACTS §7 names only
        MARKET; applying it to STOP_MARKET/TAKE_PROFIT_MARKET/TRAILING_STOP_MARKET too is our
        choice, so an oversized stop is refused here rather than when it triggers.
        """
        return self.market_lot_size if order_type.executes_as_market else self.lot_size

    # -- rounding: the one place a price or quantity is put on the grid -------------------

    @property
    def _price_origin(self) -> Decimal:
        # Binance checks (price - minPrice) % tickSize == 0; the grid therefore passes through
        # minPrice. In every payload seen, minPrice is a multiple of tickSize, so this is 0.
        tick = self.price_filter.tick_size
        return self.price_filter.min_price % tick if tick else ZERO

    def round_price(self, price: Decimal, how: Side | Rounding) -> Decimal:
        """Put `price` on the tick grid.

        `Side.BUY` rounds down and `Side.SELL` rounds up, so a limit order never pays more (or
        sells for less) than asked; pass a `Rounding` for anything else (stops, targets).
        """
        if isinstance(how, Side):
            how = Rounding.DOWN if how is Side.BUY else Rounding.UP
        return _snap(price, self.price_filter.tick_size, self._price_origin, how)

    def round_qty(self, qty: Decimal, order_type: OrderType = OrderType.LIMIT) -> Decimal:
        """Round an order quantity down onto the step grid of the lot filter for `order_type`.

        Down, so an order never exceeds what the caller sized. The result may fall below
        `min_qty` (even to 0); `check_order` reports that.
        """
        if qty < 0:
            raise ValueError(f"order quantity must not be negative, got {qty}")
        lot = self.lot(order_type)
        return max(ZERO, _snap(qty, lot.step_size, _lot_origin(lot), Rounding.DOWN))

    def price_to_ticks(self, price: Decimal) -> int:
        """Whole ticks from the grid origin (0 for every real symbol); raises if off tick."""
        return _grid_index(price, self.price_filter.tick_size, self._price_origin, "tick")

    def ticks_to_price(self, ticks: int) -> Decimal:
        """Inverse of `price_to_ticks`."""
        return self._price_origin + ticks * self.price_filter.tick_size

    def qty_to_steps(self, qty: Decimal, order_type: OrderType = OrderType.LIMIT) -> int:
        """Whole steps of the lot filter for `order_type`; raises if off step."""
        lot = self.lot(order_type)
        return _grid_index(qty, lot.step_size, _lot_origin(lot), "step")

    def steps_to_qty(self, steps: int, order_type: OrderType = OrderType.LIMIT) -> Decimal:
        """Inverse of `qty_to_steps`."""
        lot = self.lot(order_type)
        return _lot_origin(lot) + steps * lot.step_size

    def is_on_tick(self, price: Decimal) -> bool:
        """True if Binance would accept `price` as a multiple of the tick (-4014 otherwise)."""
        return _on_grid(price, self.price_filter.tick_size, self._price_origin)

    def is_on_step(self, qty: Decimal, order_type: OrderType = OrderType.LIMIT) -> bool:
        """True if Binance would accept `qty` as a multiple of the step (-4023 otherwise)."""
        lot = self.lot(order_type)
        return _on_grid(qty, lot.step_size, _lot_origin(lot))

    # -- linear vs inverse ------------------------------------------------------------------

    def notional(self, qty: Decimal, price: Decimal) -> Decimal:
        """Position value in the margin asset: `qty * price` USDT, or `qty * size / price` coin.

        This is the figure brackets, margin and fees are computed on. Sign follows `qty`.
        """
        if self.market is _COINM:  # is_inverse, without the property call (valued many times a fill)
            return qty * self.contract_size / price
        return qty * price

    def quote_value(self, qty: Decimal, price: Decimal) -> Decimal:
        """Position value in the quote asset: `qty * price` USDT, or `qty * size` USD."""
        if self.is_inverse:
            return qty * self.contract_size
        return qty * price

    def pnl(self, side: Side | PositionSide, qty: Decimal, entry: Decimal, exit: Decimal) -> Decimal:
        """Profit of `qty` held on `side` from `entry` to `exit`, in the margin asset.

        Linear: `d * qty * (exit - entry)`. Inverse: `d * qty * size * (1/entry - 1/exit)`,
        with d = +1 long (BUY/LONG), -1 short.
        """
        return self.signed_pnl(direction(side) * qty, entry, exit)

    def signed_pnl(self, amount: Decimal, entry: Decimal, exit: Decimal) -> Decimal:
        """`pnl` of a signed quantity (negative: short), as a one-way position's `positionAmt`:
        `pnl(side, qty, ...)` is `signed_pnl(d * qty, ...)`, the same operations in the same order
        (so the same Decimal to the last digit), without the side's direction to look up."""
        if self.market is _COINM:
            return amount * self.contract_size * (exit - entry) / (entry * exit)
        return amount * (exit - entry)

    def average_entry(self, qty1: Decimal, entry1: Decimal, qty2: Decimal, entry2: Decimal) -> Decimal:
        """Entry price after adding `qty2` at `entry2` to `qty1` at `entry1` (same side).

        Linear: quantity-weighted mean. Inverse: harmonic mean, which keeps the coin notional
        (MARGIN.md §4; Binance's own rounding of it is unverified).
        """
        total = qty1 + qty2
        if total == 0:
            raise ValueError("average entry of an empty position")
        if self.is_inverse:
            return total * entry1 * entry2 / (qty1 * entry2 + qty2 * entry1)
        return (qty1 * entry1 + qty2 * entry2) / total
