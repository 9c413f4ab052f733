"""Commands: what the engine asks a venue to do. Imperatives, immutable, exact.

Prices and quantities are already rounded to the instrument's tick and step and checked
against its filters before a command exists; a venue sends them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rulebot.core.enums import MarginType, OrderType, PositionSide, Side, TimeInForce, WorkingType
from rulebot.core.frozen import fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class PlaceOrder:
    client_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    quantity: Decimal | None  # None only with close_position
    price: Decimal | None = None
    # stopPrice on COIN-M, triggerPrice on USDT-M's algo service: one field here, the venue
    # spells it for the market it talks to.
    trigger_price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    position_side: PositionSide = PositionSide.BOTH
    reduce_only: bool = False
    close_position: bool = False
    working_type: WorkingType = WorkingType.CONTRACT_PRICE
    callback_rate: Decimal | None = None  # in percent as Binance takes it: 1.5 means 1.5%
    activation_price: Decimal | None = None
    # STOP/TAKE_PROFIT only: do not trigger while last and mark price are further apart than
    # the symbol's triggerProtect (Binance's priceProtect).
    price_protect: bool = False
    expire_at: int | None = None  # ms; the engine cancels the unfilled rest then
    tag: str | None = None
    time: int = 0  # event time at which it was decided

    @property
    def is_conditional(self) -> bool:
        return self.order_type.is_conditional  # the same five types, in a frozenset


@fast_init
@dataclass(frozen=True, slots=True)
class CancelOrder:
    symbol: str
    client_order_id: str
    time: int = 0
    reason: str = ""  # why the engine cancels it, for the journal and `audit orders` (Binance is not told)


@dataclass(frozen=True, slots=True)
class CancelAllOrders:
    symbol: str
    time: int = 0
    reason: str = ""  # as CancelOrder's


@dataclass(frozen=True, slots=True)
class SetLeverage:
    symbol: str
    leverage: int
    time: int = 0


@dataclass(frozen=True, slots=True)
class SetMarginType:
    symbol: str
    margin_type: MarginType
    time: int = 0


@dataclass(frozen=True, slots=True)
class SetPositionMode:
    hedge: bool
    time: int = 0


@dataclass(frozen=True, slots=True)
class SetCountdownCancelAll:
    """Binance's dead man's switch: cancel all orders of the symbol unless renewed in time."""

    symbol: str
    countdown_ms: int
    time: int = 0


Command = (
    PlaceOrder | CancelOrder | CancelAllOrders | SetLeverage | SetMarginType | SetPositionMode | SetCountdownCancelAll
)
