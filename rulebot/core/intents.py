"""Intents: what a rule's actions wish for, before the risk guards and the order manager.

An intent says *what* (enter long this much, protect with a stop there); the guards may
resize or refuse it, and the order manager (engine/oms.py) turns what is left into commands:
it is the only place that builds `PlaceOrder` and `CancelOrder`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from rulebot.core.enums import Direction, OrderType, PositionSide, TimeInForce, WorkingType
from rulebot.core.frozen import fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class EnterIntent:
    symbol: str
    side: Direction
    quantity: Decimal  # in the instrument's quantity unit (base asset, or contracts on COIN-M)
    order: OrderType  # MARKET or LIMIT
    price: Decimal | None
    time_in_force: TimeInForce | None
    expire_ms: int | None
    tag: str | None
    rule: str
    time: int
    position_side: PositionSide = PositionSide.BOTH  # LONG/SHORT in hedge mode


@fast_init
@dataclass(frozen=True, slots=True)
class ExitIntent:
    """Reduce-only close: all of the position (quantity None) or part of it."""

    symbol: str
    side: Direction  # the position being closed
    quantity: Decimal | None  # rounded to the lot size
    order: OrderType  # MARKET or LIMIT
    price: Decimal | None
    tag: str | None
    rule: str
    time: int
    position_side: PositionSide = PositionSide.BOTH
    reduce_only: bool = True  # one-way mode; hedge mode closes through the position side instead


@fast_init
@dataclass(frozen=True, slots=True)
class ProtectIntent:
    """A close-position conditional order protecting a position: stop-loss or take-profit.

    The engine's own stops (the protective stop, the daily loss cap's stop) are stop-losses too."""

    symbol: str
    side: Direction
    kind: Literal["stop_loss", "take_profit"]
    trigger_price: Decimal
    working_type: WorkingType
    tag: str | None
    rule: str
    time: int
    position_side: PositionSide = PositionSide.BOTH
    price_protect: bool = False  # Binance's priceProtect: not triggered while mark and last disagree


@dataclass(frozen=True, slots=True)
class TrailingStopIntent:
    symbol: str
    side: Direction
    callback_rate: Decimal  # fraction: 0.015 for 1.5%
    activation_price: Decimal | None
    working_type: WorkingType
    tag: str | None
    rule: str
    time: int
    quantity: Decimal = Decimal(0)  # the position's size, rounded to the lot size
    position_side: PositionSide = PositionSide.BOTH
    reduce_only: bool = True


@dataclass(frozen=True, slots=True)
class DeleverageIntent:
    """Cut the position until its notional is `target_leverage` times equity."""

    symbol: str
    side: Direction
    target_leverage: Decimal
    rule: str
    time: int


@dataclass(frozen=True, slots=True)
class SetLeverageIntent:
    symbol: str
    leverage: int
    rule: str
    time: int


@dataclass(frozen=True, slots=True)
class CancelIntent:
    symbol: str
    tag: str | None  # None: every working order of the symbol
    rule: str
    time: int


@dataclass(frozen=True, slots=True)
class HaltIntent:
    """The kill switch: cancel everything, flatten reduce-only, refuse entries."""

    reason: str
    rule: str
    time: int


Intent = (
    EnterIntent
    | ExitIntent
    | ProtectIntent
    | TrailingStopIntent
    | DeleverageIntent
    | SetLeverageIntent
    | CancelIntent
    | HaltIntent
)
