"""The exchangeInfo filters an order must pass, checked the way Binance checks them: every
violation with the code and message Binance would send (FACTS §7, §8).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rulebot.core.enums import OrderType, Side
from rulebot.core.instruments import Instrument
from rulebot.core.reject_codes import REJECT_MESSAGES


@dataclass(frozen=True, slots=True)
class Violation:
    """One reason Binance would reject an order, with the code and message it would send."""

    code: int
    filter: str  # PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, MIN_NOTIONAL, PERCENT_PRICE, ...
    field: str  # the request parameter at fault: price, stopPrice, quantity, type, ...
    message: str

    def __str__(self) -> str:
        return f"{self.code} {self.message} ({self.field}, {self.filter})"


def _v(code: int, filter_: str, field: str, arg: str = "") -> Violation:
    message = REJECT_MESSAGES[code]
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


# What `_own_violations` found, by the order's own terms: the instrument (by identity, kept beside
# the answer: it is frozen, and its id cannot be reused while it is kept) and the order's type,
# quantity, prices, timeInForce and closePosition. The same few orders come again and again (a
# backtest's every entry and exit has the same size), and the grid checks cost more than the rest
# of the order's check (issue 14). Equal Decimals give the same answer: no message shows the value.
_OWN: dict[tuple[object, ...], tuple[Instrument, tuple[Violation, ...]]] = {}


def _own_violations(
    inst: Instrument,
    order_type: OrderType,
    quantity: Decimal | None,
    price: Decimal | None,
    stop_price: Decimal | None,
    time_in_force: str | None,
    close_position: bool,
) -> tuple[Violation, ...]:
    """The filters the order breaks whatever the market and the account: its type, timeInForce,
    missing parameters, and its price, stop price and quantity on the symbol's grids."""
    key = (id(inst), order_type, quantity, price, stop_price, time_in_force, close_position)
    hit = _OWN.get(key)
    if hit is not None and hit[0] is inst:
        return hit[1]
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

    if len(_OWN) >= 256:  # stop prices differ from trade to trade: keep the table small
        _OWN.clear()
    found = _OWN[key] = (inst, tuple(out))
    return found[1]


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
    out = list(_own_violations(inst, order_type, quantity, price, stop_price, time_in_force, close_position))
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
