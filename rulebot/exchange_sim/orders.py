"""Order state inside the simulator (mutable, private) and the events and views made from it.

A `SimOrder` is a plain order of the matching engine: LIMIT, MARKET, or on COIN-M a
conditional waiting for its trigger. An `AlgoOrder` is a USDⓈ-M conditional order held by the
algo service until it triggers and places a plain order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from rulebot.binance.payloads.orders import AlgoOrderView, OrderView
from rulebot.core.account_events import AlgoUpdate, OrderUpdate
from rulebot.core.enums import (
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
    WorkingType,
)
from rulebot.core.frozen import fast_init
from rulebot.core.instruments import Instrument

ZERO = Decimal(0)
# Read on every is_open: OrderStatus.NEW through the class is a slow lookup on Python 3.11 (EnumType.__getattr__).
_NEW, _PARTIALLY_FILLED = OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED

# Binance's order type for a liquidation or an ADL close (FACTS §6.3).
LIQUIDATION_TYPE = OrderType.LIQUIDATION


@dataclass(slots=True)
class Trigger:
    """What a conditional order waits for, and a trailing stop's state."""

    order_type: OrderType
    side: Side
    working_type: WorkingType
    stop_price: Decimal | None  # for trailing stops: the current stop, once activated
    callback_rate: Decimal | None = None  # percent
    activation_price: Decimal | None = None
    activated: bool = False
    extreme: Decimal | None = None  # best price since activation (trailing stops)
    price_protect: bool = False  # held back while last and mark differ past triggerProtect


@fast_init
@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of an order, as it goes into the OrderUpdate."""

    qty: Decimal
    price: Decimal
    is_maker: bool
    commission: Decimal
    realized_pnl: Decimal
    trade_id: int


@dataclass(slots=True, eq=False)  # mutable state: identity, not value, equality
class SimOrder:
    """A plain order. `quantity` may be 0 for a closePosition stop until it triggers."""

    order_id: int
    client_order_id: str
    symbol: str
    side: Side
    position_side: PositionSide
    order_type: OrderType
    time_in_force: TimeInForce
    quantity: Decimal
    price: Decimal | None  # limit price (LIMIT, STOP, TAKE_PROFIT)
    reduce_only: bool  # as sent
    closing: bool  # reduces only: reduceOnly, closePosition, or a hedge-mode close
    close_position: bool
    time: int
    trigger: Trigger | None = None  # conditional types (COIN-M)
    triggered: bool = False
    algo_id: int | None = None
    status: OrderStatus = OrderStatus.NEW
    executed: Decimal = ZERO
    cum_notional: Decimal = ZERO  # margin-asset value of the fills (for the average price)
    update_time: int = 0
    priority: int = 0  # time priority in the book: lower rests first
    working_type: WorkingType = WorkingType.CONTRACT_PRICE

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.executed

    @property
    def is_open(self) -> bool:
        # `not status.is_final`, spelled out: this runs for every resting order on every event.
        status = self.status
        return status is _NEW or status is _PARTIALLY_FILLED

    @property
    def waits_for_trigger(self) -> bool:
        return self.trigger is not None and not self.triggered and self.is_open

    @property
    def rests(self) -> bool:
        """In the book: an open limit order, or a triggered STOP/TAKE_PROFIT's limit."""
        return self.is_open and self.price is not None and not self.waits_for_trigger

    @property
    def executes_as_market(self) -> bool:
        return self.price is None


def average_price(inst: Instrument, qty: Decimal, notional: Decimal) -> Decimal:
    """Average fill price from the filled quantity and its margin-asset value.

    Linear: `value / qty`; inverse: the harmonic mean `qty * size / value` (coin value).
    """
    if qty == 0 or notional == 0:
        return ZERO
    if inst.is_inverse:
        return qty * inst.contract_size / notional
    return notional / qty


def filled_quote(inst: Instrument, qty: Decimal, notional: Decimal) -> Decimal:
    """Quote-asset value of fills: USDT filled on USDⓈ-M, contracts * size USD on COIN-M."""
    return qty * inst.contract_size if inst.is_inverse else notional


def order_view(inst: Instrument, order: SimOrder) -> OrderView:
    t = order.trigger
    return OrderView(
        symbol=order.symbol,
        order_id=order.order_id,
        client_order_id=order.client_order_id,
        side=order.side,
        position_side=order.position_side,
        order_type=order.order_type,
        original_type=order.order_type,
        status=order.status,
        time_in_force=order.time_in_force,
        quantity=order.quantity,
        price=order.price if order.price is not None else ZERO,
        average_price=average_price(inst, order.executed, order.cum_notional),
        filled_qty=order.executed,
        # USD on COIN-M too: the fake exchange turns it into the coin value `cumBase` there.
        cum_quote=filled_quote(inst, order.executed, order.cum_notional),
        cum_base=None,
        trigger_price=t.stop_price if t else None,
        activation_price=t.activation_price if t else None,
        callback_rate=t.callback_rate if t else None,
        reduce_only=order.reduce_only,
        close_position=order.close_position,
        working_type=order.working_type,
        price_protect=t.price_protect if t else False,
        price_match=None,
        self_trade_prevention=None,
        good_till_date=None,
        update_time=order.update_time,
        time=order.time,
        algo_id=order.algo_id,
    )


def order_update(
    inst: Instrument,
    order: SimOrder,
    execution_type: str,
    time: int,
    fill: Fill | None = None,
) -> OrderUpdate:
    """ORDER_TRADE_UPDATE for the order's current state (and `fill`, if this is a TRADE)."""
    trigger = order.trigger
    # Positional, in the fields' order (named in the comments): 24 keywords cost ~2 us a call,
    # more than building the event, and the simulator makes several a round trip (issue 14).
    if fill is None:
        last_qty = last_price = commission = realized = ZERO
        is_maker, trade_id = False, None
    else:
        last_qty, last_price, commission, realized = fill.qty, fill.price, fill.commission, fill.realized_pnl
        is_maker, trade_id = fill.is_maker, fill.trade_id
    return OrderUpdate(
        order.symbol,
        order.client_order_id,
        order.order_id,
        order.side,
        order.order_type,
        order.status,
        execution_type,
        order.quantity,
        order.price if order.price is not None else ZERO,  # price
        average_price(inst, order.executed, order.cum_notional),
        order.executed,  # filled_qty
        last_qty,  # last_filled_qty
        last_price,  # last_filled_price
        commission,
        inst.margin_asset,  # commission_asset
        realized,  # realized_pnl
        is_maker,
        order.reduce_only,
        order.position_side,
        order.time_in_force,
        trigger.stop_price if trigger else None,  # trigger_price
        order.working_type,
        trade_id,
        time,
    )


@dataclass(slots=True, eq=False)
class AlgoOrder:
    """A USDⓈ-M conditional order in the algo service (FACTS §0)."""

    algo_id: int
    client_algo_id: str
    symbol: str
    side: Side
    position_side: PositionSide
    order_type: OrderType
    quantity: Decimal  # 0 with closePosition
    price: Decimal | None
    time_in_force: TimeInForce
    reduce_only: bool
    close_position: bool
    trigger: Trigger
    time: int
    status: str = "NEW"
    order_id: int | None = None
    update_time: int = 0
    trigger_time: int = 0
    reason: str | None = None
    child: SimOrder | None = field(default=None, repr=False)

    @property
    def is_open(self) -> bool:
        """Waiting for its trigger (only then can it be canceled as an algo order)."""
        return self.status == "NEW"


def algo_view(inst: Instrument, algo: AlgoOrder) -> AlgoOrderView:
    child = algo.child
    executed = child.executed if child else ZERO
    return AlgoOrderView(
        algo_id=algo.algo_id,
        client_algo_id=algo.client_algo_id,
        algo_type="CONDITIONAL",
        order_type=algo.order_type,
        symbol=algo.symbol,
        side=algo.side,
        position_side=algo.position_side,
        time_in_force=algo.time_in_force,
        quantity=algo.quantity,
        status=algo.status,
        trigger_price=algo.trigger.stop_price,
        price=algo.price,
        reduce_only=algo.reduce_only,
        close_position=algo.close_position,
        working_type=algo.trigger.working_type,
        price_protect=algo.trigger.price_protect,
        price_match=None,
        self_trade_prevention=None,
        activation_price=algo.trigger.activation_price,
        callback_rate=algo.trigger.callback_rate,
        create_time=algo.time,
        update_time=algo.update_time,
        trigger_time=algo.trigger_time or None,
        good_till_date=None,
        order_id=algo.order_id,
        average_price=average_price(inst, executed, child.cum_notional) if child else ZERO,
        filled_qty=executed,
        reason=algo.reason,
    )


def algo_update(algo: AlgoOrder, time: int) -> AlgoUpdate:
    """ALGO_UPDATE for the algo order's current state."""
    trigger = algo.trigger
    return AlgoUpdate(  # positional, in the fields' order: see order_update
        algo.symbol,
        algo.client_algo_id,
        algo.algo_id,
        algo.order_type,
        algo.side,
        algo.position_side,
        algo.status,
        algo.quantity,
        trigger.stop_price,  # trigger_price
        algo.price,
        algo.reduce_only,
        algo.close_position,
        trigger.working_type,
        algo.order_id,
        algo.reason,
        time,
    )
