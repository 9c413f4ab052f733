"""Contract specs of Binance futures symbols: filters, tick/step rounding, linear vs inverse value.

This is the one place where prices and quantities are rounded to a symbol's grid, and where the
difference between USDⓈ-M (linear) and COIN-M (inverse) contracts is hidden: callers ask an
`Instrument` for `notional` and `pnl` and get them in the margin asset either way. Parsing
takes already-loaded exchangeInfo dicts; this module does no I/O.
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
    if side is Side.BUY or side is PositionSide.LONG:
        return 1
    if side is Side.SELL or side is PositionSide.SHORT:
        return -1
    raise ValueError("PositionSide.BOTH has no direction; use the sign of positionAmt")


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
        return self.market.is_inverse

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
        if self.is_inverse:
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
        d = direction(side)
        if self.is_inverse:
            return d * qty * self.contract_size * (exit - entry) / (entry * exit)
        return d * qty * (exit - entry)

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


# -- order filters ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Violation:
    """One reason Binance would reject an order, with the code and message it would send."""

    code: int
    filter: str  # PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, MIN_NOTIONAL, PERCENT_PRICE, ...
    field: str  # the request parameter at fault: price, stopPrice, quantity, type, ...
    message: str

    def __str__(self) -> str:
        return f"{self.code} {self.message} ({self.field}, {self.filter})"


# Binance's message for each code `check_order` predicts (FACTS §8 and Binance's error-code
# page for -4001/-4002/-4006/-4007, which FACTS §8 leaves out).
MESSAGES: dict[int, str] = {
    -1102: "Mandatory parameter '%s' was not sent, was empty/null, or malformed.",
    -1111: "Precision is over the maximum defined for this asset.",
    -1115: "Invalid timeInForce.",
    -1116: "Invalid orderType.",
    -2025: "Reach max open order limit.",
    -4001: "Price less than 0.",
    -4002: "Price greater than max price.",
    -4003: "Quantity less than or equal to zero.",  # live wording (rest_error_-4003.json)
    -4004: "Quantity less than min quantity.",
    -4005: "Quantity greater than max quantity.",
    -4006: "Stop price less than zero.",
    -4007: "Stop price greater than max price.",
    -4013: "Price less than min price.",
    -4014: "Price not increased by tick size.",
    -4016: "Price is higher than mark price multiplier cap.",
    -4023: "Qty not increased by step size.",
    -4024: "Price is lower than mark price multiplier floor.",
    -4045: "Reach max stop order limit.",
    -4164: "Order's notional must be no smaller than %s (unless you choose reduce only).",
}


def _v(code: int, filter_: str, field: str, arg: str = "") -> Violation:
    message = MESSAGES[code]
    return Violation(code, filter_, field, message % arg if "%s" in message else message)


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _check_price(inst: Instrument, value: Decimal, field: str) -> list[Violation]:
    pf, stop = inst.price_filter, field == "stopPrice"
    if value <= 0:
        return [_v(-4006 if stop else -4001, "PRICE_FILTER", field)]
    out = []
    if pf.min_price and value < pf.min_price:
        # No code is documented for a stopPrice under minPrice; -4013 is the price rule's.
        out.append(_v(-4013, "PRICE_FILTER", field))
    if pf.max_price and value > pf.max_price:
        out.append(_v(-4007 if stop else -4002, "PRICE_FILTER", field))
    # More decimals than pricePrecision is refused as malformed (-1111) before the tick rule
    # is looked at; within precision but off the grid is -4014.
    if _decimals(value) > inst.price_precision:
        out.append(_v(-1111, "pricePrecision", field))
    elif not inst.is_on_tick(value):
        out.append(_v(-4014, "PRICE_FILTER", field))
    return out


def _check_qty(inst: Instrument, qty: Decimal, order_type: OrderType) -> list[Violation]:
    lot = inst.lot(order_type)
    name = "MARKET_LOT_SIZE" if order_type.executes_as_market else "LOT_SIZE"
    if qty <= 0:
        return [_v(-4003, name, "quantity")]
    out = []
    if lot.min_qty and qty < lot.min_qty:
        out.append(_v(-4004, name, "quantity"))
    if lot.max_qty and qty > lot.max_qty:
        out.append(_v(-4005, name, "quantity"))
    if _decimals(qty) > inst.quantity_precision:
        out.append(_v(-1111, "quantityPrecision", "quantity"))
    elif not inst.is_on_step(qty, order_type):
        out.append(_v(-4023, name, "quantity"))
    return out


def _min_notional_price(order_type: OrderType, price: Decimal | None, stop: Decimal | None, mark: Decimal) -> Decimal:
    # Binance checks MIN_NOTIONAL at the order price for limits but at the mark price for
    # market orders; checking only one lets -4164 through. STOP_MARKET/TAKE_PROFIT_MARKET
    # are checked at their trigger price, where they will fill (our reading, undocumented).
    if order_type.has_limit_price and price is not None:
        return price
    if order_type.is_conditional and stop is not None:
        return stop
    return mark


def check_order(
    inst: Instrument,
    *,
    side: Side,
    order_type: OrderType,
    quantity: Decimal | None,
    mark_price: Decimal,
    price: Decimal | None = None,
    stop_price: Decimal | None = None,
    time_in_force: str | None = None,
    reduce_only: bool = False,
    close_position: bool = False,
    open_orders: int = 0,
    open_algo_orders: int = 0,
) -> list[Violation]:
    """Every exchangeInfo filter the order breaks, as Binance would report it (FACTS §7).

    Empty list: the filters pass (margin, position and reduce-only rules are checked elsewhere;
    -4131, a market order walking past PERCENT_PRICE, needs the book). `mark_price` is used for
    MIN_NOTIONAL of market orders and for PERCENT_PRICE. `open_orders`/`open_algo_orders`
    count this symbol's open normal/conditional orders before this one.
    """
    out: list[Violation] = []
    if inst.order_types and order_type not in inst.order_types:
        out.append(_v(-1116, "orderTypes", "type"))
    if time_in_force and inst.time_in_force and time_in_force not in inst.time_in_force:
        out.append(_v(-1115, "timeInForce", "timeInForce"))
    needs_stop = order_type.is_conditional and order_type is not OrderType.TRAILING_STOP_MARKET
    for field, value, needed in (
        ("price", price, order_type.has_limit_price),
        ("stopPrice", stop_price, needs_stop),
        ("quantity", quantity, not close_position),
    ):
        if needed and value is None:
            out.append(_v(-1102, "parameters", field, field))
    if price is not None:
        out += _check_price(inst, price, "price")
    if stop_price is not None:
        out += _check_price(inst, stop_price, "stopPrice")
    if quantity is not None:
        out += _check_qty(inst, quantity, order_type)

    exempt = reduce_only or close_position
    if inst.min_notional is not None and quantity is not None and quantity > 0 and not exempt:
        ref = _min_notional_price(order_type, price, stop_price, mark_price)
        # In the quote asset: USDT for USDⓈ-M. COIN-M sends no MIN_NOTIONAL in any payload
        # here; were it to, its value is taken in USD (contracts * size), unverified.
        if ref > 0 and inst.quote_value(quantity, ref) < inst.min_notional:
            limit = format(inst.min_notional.normalize(), "f")  # Binance prints "5", not "5.0"
            out.append(_v(-4164, "MIN_NOTIONAL", "quantity", limit))

    # PERCENT_PRICE bounds a LIMIT price against the mark now. The limit leg of STOP and
    # TAKE_PROFIT only meets the book at trigger time, so it is not held to today's mark.
    pp = inst.percent_price
    if pp is not None and order_type is OrderType.LIMIT and price is not None and price > 0:
        if side is Side.BUY and price > mark_price * pp.multiplier_up:
            out.append(_v(-4016, "PERCENT_PRICE", "price"))
        if side is Side.SELL and price < mark_price * pp.multiplier_down:
            out.append(_v(-4024, "PERCENT_PRICE", "price"))

    if inst.max_num_orders is not None and open_orders + open_algo_orders >= inst.max_num_orders:
        out.append(_v(-2025, "MAX_NUM_ORDERS", "symbol"))
    algo_limit = inst.max_num_algo_orders
    if order_type.is_conditional and algo_limit is not None and open_algo_orders >= algo_limit:
        out.append(_v(-4045, "MAX_NUM_ALGO_ORDERS", "symbol"))
    return out
