"""When stop, take-profit and trailing-stop orders trigger (FACTS §6.1, §6.2).

Let *last* be the mark price or the last trade price per the order's workingType:
STOP/STOP_MARKET trigger when a BUY sees last >= stop (a SELL: last <= stop);
TAKE_PROFIT/TAKE_PROFIT_MARKET the other way round. A TRAILING_STOP_MARKET activates when
last reaches its activation price (default: last at placement), then tracks the best price
since activation and triggers when last comes back by callbackRate percent from it.
"""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.enums import OrderType, Rounding, Side
from rulebot.core.instruments import Instrument
from rulebot.exchange_sim.errors import rejected
from rulebot.exchange_sim.orders import Trigger

HUNDRED = Decimal(100)
MIN_CALLBACK = Decimal("0.1")
MAX_CALLBACK = Decimal(10)

_STOPS = frozenset({OrderType.STOP, OrderType.STOP_MARKET})
_TAKE_PROFITS = frozenset({OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_MARKET})
# Members at hand: `Side.BUY` is a slow lookup on Python 3.11 (EnumType.__getattr__), and every
# working stop is asked on every price it watches.
_BUY, _TRAILING = Side.BUY, OrderType.TRAILING_STOP_MARKET


def condition_holds(order_type: OrderType, side: Side, stop: Decimal, last: Decimal) -> bool:
    """The stop/take-profit trigger condition of FACTS §6.2 (inclusive)."""
    if order_type in _STOPS:
        return last >= stop if side is _BUY else last <= stop
    if order_type in _TAKE_PROFITS:
        return last <= stop if side is _BUY else last >= stop
    raise ValueError(f"{order_type} has no fixed trigger price")


def arm(trigger: Trigger, last: Decimal | None, inst: Instrument) -> None:
    """Check a new conditional order against the price it watches, and start a trailing stop.

    Raises -2021 when a stop/take-profit would trigger at once, or when a trailing stop's
    activation price is already passed (BUY needs activation < last, SELL activation > last),
    and -1130 for a callbackRate outside 0.1..10 (%). Without a price yet, nothing is checked
    and a trailing stop without activation price activates at the first price it sees.
    """
    if trigger.order_type is _TRAILING:
        rate = trigger.callback_rate
        if rate is None:
            raise rejected(-1102, "callbackRate")
        if not MIN_CALLBACK <= rate <= MAX_CALLBACK:
            raise rejected(-1130, "callbackRate")
        activation = trigger.activation_price
        if activation is not None and last is not None:
            passed = activation >= last if trigger.side is Side.BUY else activation <= last
            if passed:
                raise rejected(-2021)
        if activation is None and last is not None:
            _activate(trigger, last, inst)
        return
    if trigger.stop_price is None:
        raise rejected(-1102, "stopPrice")
    if last is not None and condition_holds(trigger.order_type, trigger.side, trigger.stop_price, last):
        raise rejected(-2021)


def update(trigger: Trigger, price: Decimal, inst: Instrument) -> bool:
    """Feed one price of the watched kind; True when the order triggers on it."""
    if trigger.order_type is not _TRAILING:
        assert trigger.stop_price is not None
        return condition_holds(trigger.order_type, trigger.side, trigger.stop_price, price)
    if not trigger.activated:
        activation = trigger.activation_price
        reached = (
            activation is None
            or (trigger.side is Side.BUY and price <= activation)
            or (trigger.side is Side.SELL and price >= activation)
        )
        if not reached:
            return False
        _activate(trigger, price, inst)
        return False
    assert trigger.extreme is not None and trigger.callback_rate is not None
    if trigger.side is Side.SELL:
        if price > trigger.extreme:
            _track(trigger, price, inst)
        return price <= trigger.extreme * (1 - trigger.callback_rate / HUNDRED)
    if price < trigger.extreme:
        _track(trigger, price, inst)
    return price >= trigger.extreme * (1 + trigger.callback_rate / HUNDRED)


def _activate(trigger: Trigger, price: Decimal, inst: Instrument) -> None:
    trigger.activated = True
    _track(trigger, price, inst)


def _track(trigger: Trigger, price: Decimal, inst: Instrument) -> None:
    """New best price: move the stop (shown as stopPrice) to `callbackRate` away from it."""
    assert trigger.callback_rate is not None
    trigger.extreme = price
    rate = trigger.callback_rate / HUNDRED
    if trigger.side is Side.SELL:
        trigger.stop_price = inst.round_price(price * (1 - rate), Rounding.DOWN)
    else:
        trigger.stop_price = inst.round_price(price * (1 + rate), Rounding.UP)
