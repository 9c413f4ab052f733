"""Orders as Binance's REST answers show them (`/fapi/v1/order`, `/dapi/v1/order`, `openOrders`,
`batchOrders`, `/fapi/v1/algoOrder`): the one set of order views, parsed by the venue and built by
the simulator (which the fake exchange serializes with `rulebot.binance.encode`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rulebot.binance.codes import BinanceError, is_error_body
from rulebot.binance.payloads.common import (
    BOOL,
    DEC,
    DEC_OR_EMPTY,
    INT,
    ORDER_STATUSES,
    ORDER_TYPES,
    POSITION_SIDES,
    SIDES,
    STR,
    TIME_IN_FORCE,
    WORKING_TYPES,
    Shape,
    decimal_or_none,
    each,
    one_of,
    optional,
)
from rulebot.core.enums import OrderStatus, OrderType, PositionSide, Side, TimeInForce, WorkingType

__all__ = ["AlgoOrderView", "OrderView", "parse_algo_order", "parse_batch_orders", "parse_order", "parse_orders"]

D = Decimal


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order as new/cancel/query/openOrders report it (`/fapi/v1/order`, `/dapi/v1/order`).

    `quantity` is `origQty`, `filled_qty` `executedQty`. USDⓈ-M reports the filled notional as
    `cum_quote`, COIN-M as `cum_base`. "0" stop prices are None; `time` (creation) comes only
    from query and openOrders. Time in force `GTE_GTC` is None (see parse_common).
    """

    symbol: str
    order_id: int
    client_order_id: str
    side: Side
    position_side: PositionSide
    order_type: OrderType
    original_type: OrderType
    status: OrderStatus
    time_in_force: TimeInForce | None
    quantity: Decimal
    price: Decimal
    average_price: Decimal
    filled_qty: Decimal
    cum_quote: Decimal | None
    cum_base: Decimal | None
    trigger_price: Decimal | None
    activation_price: Decimal | None
    callback_rate: Decimal | None  # percent (1 = 1 %)
    reduce_only: bool
    close_position: bool
    working_type: WorkingType | None
    price_protect: bool
    price_match: str | None
    self_trade_prevention: str | None
    good_till_date: int | None
    update_time: int
    time: int | None
    algo_id: int | None = None  # set by the simulator when a USDⓈ-M algo order placed it on trigger


_ORDER = Shape(
    "order",
    symbol=STR,
    orderId=INT,
    clientOrderId=STR,
    side=one_of(SIDES),
    positionSide=one_of(POSITION_SIDES),
    type=one_of(ORDER_TYPES),
    origType=one_of(ORDER_TYPES),
    status=one_of(ORDER_STATUSES),
    timeInForce=one_of(TIME_IN_FORCE),
    origQty=DEC,
    price=DEC,
    avgPrice=DEC,
    executedQty=DEC,
    reduceOnly=BOOL,
    closePosition=BOOL,
    updateTime=INT,
)


def parse_order(d: Mapping[str, Any]) -> OrderView:
    """One order object → `OrderView`."""
    (symbol, oid, cid, side, ps, typ, orig, status, tif, qty, price, avg, filled, reduce, close, updated) = (
        _ORDER.values(d)
    )
    k = "order"
    wt = optional(d, "workingType", one_of(WORKING_TYPES), k)
    # Trailing-stop fields: `activatePrice`/`priceRate` here, `activationPrice`/`callbackRate`
    # in the COIN-M request and the algo service.
    activate = optional(d, "activatePrice", DEC_OR_EMPTY, k)
    rate = optional(d, "priceRate", DEC_OR_EMPTY, k)
    gtd = optional(d, "goodTillDate", INT, k)
    try:
        return OrderView(
            symbol,
            oid,
            cid,
            SIDES[side],
            POSITION_SIDES[ps],
            ORDER_TYPES[typ],
            ORDER_TYPES[orig],
            ORDER_STATUSES[status],
            TIME_IN_FORCE[tif],
            D(qty),
            D(price),
            D(avg),
            D(filled),
            decimal_or_none(optional(d, "cumQuote", DEC, k)),
            decimal_or_none(optional(d, "cumBase", DEC, k)),
            decimal_or_none(optional(d, "stopPrice", DEC, k), zero=True),
            decimal_or_none(activate),
            decimal_or_none(rate),
            reduce,
            close,
            None if wt is None else WORKING_TYPES[wt],
            bool(optional(d, "priceProtect", BOOL, k)),
            optional(d, "priceMatch", STR, k),
            optional(d, "selfTradePreventionMode", STR, k),
            gtd or None,
            updated,
            optional(d, "time", INT, k),
        )
    except (KeyError, ArithmeticError):
        raise _ORDER.error(d) from None


def parse_orders(payload: Any) -> tuple[OrderView, ...]:
    """`GET openOrders` / `allOrders` (an array of orders) → `OrderView`s."""
    return each(payload, "order", parse_order)


def parse_batch_orders(payload: Any) -> tuple[OrderView | BinanceError, ...]:
    """`POST/DELETE batchOrders`: per item an order, or the item's error as a `BinanceError`
    (returned, not raised: the other items may have succeeded)."""
    return each(
        payload,
        "batchOrders",
        lambda item: BinanceError.from_payload(item) if is_error_body(item) else parse_order(item),
    )


@dataclass(frozen=True, slots=True)
class AlgoOrderView:
    """A USDⓈ-M algo (conditional) order as `/fapi/v1/algoOrder` reports it.

    Empty strings ("" activatePrice/callbackRate) and zeros (triggerTime, goodTillDate) are None.
    """

    algo_id: int
    client_algo_id: str
    algo_type: str  # CONDITIONAL
    order_type: OrderType
    symbol: str
    side: Side
    position_side: PositionSide
    time_in_force: TimeInForce | None
    quantity: Decimal
    status: str  # NEW, CANCELED, TRIGGERING, TRIGGERED, FINISHED, REJECTED, EXPIRED
    trigger_price: Decimal | None
    price: Decimal | None
    reduce_only: bool
    close_position: bool
    working_type: WorkingType | None
    price_protect: bool
    price_match: str | None
    self_trade_prevention: str | None
    activation_price: Decimal | None
    callback_rate: Decimal | None
    create_time: int
    update_time: int
    trigger_time: int | None
    good_till_date: int | None
    # What the simulator also knows of a triggered algo order (REST answers leave them out).
    order_id: int | None = None  # the plain order it placed when triggered
    average_price: Decimal = Decimal(0)
    filled_qty: Decimal = Decimal(0)
    reason: str | None = None


_ALGO = Shape(
    "algoOrder",
    algoId=INT,
    clientAlgoId=STR,
    algoType=STR,
    orderType=one_of(ORDER_TYPES),
    symbol=STR,
    side=one_of(SIDES),
    positionSide=one_of(POSITION_SIDES),
    timeInForce=one_of(TIME_IN_FORCE),
    quantity=DEC,
    algoStatus=STR,
    triggerPrice=DEC_OR_EMPTY,
    price=DEC_OR_EMPTY,
    reduceOnly=BOOL,
    closePosition=BOOL,
    createTime=INT,
    updateTime=INT,
)


def parse_algo_order(d: Mapping[str, Any]) -> AlgoOrderView:
    """`POST/GET/DELETE /fapi/v1/algoOrder` → `AlgoOrderView`."""
    (aid, caid, algo_type, typ, symbol, side, ps, tif, qty, status, trigger, price, reduce, close, created, updated) = (
        _ALGO.values(d)
    )
    k = "algoOrder"
    wt = optional(d, "workingType", one_of(WORKING_TYPES), k)
    try:
        return AlgoOrderView(
            aid,
            caid,
            algo_type,
            ORDER_TYPES[typ],
            symbol,
            SIDES[side],
            POSITION_SIDES[ps],
            TIME_IN_FORCE[tif],
            D(qty),
            status,
            decimal_or_none(trigger, zero=True),
            decimal_or_none(price, zero=True),
            reduce,
            close,
            None if wt is None else WORKING_TYPES[wt],
            bool(optional(d, "priceProtect", BOOL, k)),
            optional(d, "priceMatch", STR, k),
            optional(d, "selfTradePreventionMode", STR, k),
            decimal_or_none(optional(d, "activatePrice", DEC_OR_EMPTY, k)),
            decimal_or_none(optional(d, "callbackRate", DEC_OR_EMPTY, k)),
            created,
            updated,
            optional(d, "triggerTime", INT, k) or None,
            optional(d, "goodTillDate", INT, k) or None,
        )
    except (KeyError, ArithmeticError):
        raise _ALGO.error(d) from None


# -- account --------------------------------------------------------------------------------------
