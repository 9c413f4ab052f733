"""Binance's own words for sides, order types and modes, as `str` enums; and `Direction`.

Each `StrEnum` member's value is the exact string Binance sends and expects, so a member can be
put in a request or compared with a payload field as it is (`Side.BUY == "BUY"`). `Direction` is
the rulebook's long/short, which Binance has no one word for (an order side in one-way mode, a
position side in hedge mode): it is a plain `Enum` on purpose, see there.
"""

from __future__ import annotations

from enum import Enum, StrEnum


class Side(StrEnum):
    """Order side."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for BUY (adds to a long), -1 for SELL."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        """The side that closes what this side opens."""
        return Side.SELL if self is Side.BUY else Side.BUY


class PositionSide(StrEnum):
    """`BOTH` in one-way mode; `LONG`/`SHORT` legs in hedge mode."""

    BOTH = "BOTH"
    LONG = "LONG"
    SHORT = "SHORT"


class Direction(Enum):
    """Which way a position goes: the rulebook's `long`/`short`, mapped once by the compiler.

    Not a `str`: a comparison with "long" is a type error (mypy) rather than quietly false, and a
    journal row or message that forgot `.word` shows `Direction.LONG` in a test instead of
    passing. `PositionSide` does not fit: its `BOTH` is no direction, and its values are Binance's
    upper-case words where people read the rulebook's."""

    LONG = "long"
    SHORT = "short"

    @property
    def word(self) -> str:
        """The rulebook's word, for messages, journal rows and reports."""
        return self.value

    @property
    def sign(self) -> int:
        """+1 for long, -1 for short: the sign of the position's signed amount."""
        return 1 if self is Direction.LONG else -1

    @property
    def entry_side(self) -> Side:
        """The side of the order that opens (or adds to) the position."""
        return Side.BUY if self is Direction.LONG else Side.SELL

    @property
    def exit_side(self) -> Side:
        """The side of the order that closes (part of) the position."""
        return Side.SELL if self is Direction.LONG else Side.BUY

    @property
    def opposite(self) -> Direction:
        return Direction.SHORT if self is Direction.LONG else Direction.LONG

    @property
    def hedge_leg(self) -> PositionSide:
        """The position side that holds it in hedge mode."""
        return PositionSide.LONG if self is Direction.LONG else PositionSide.SHORT


class MarginType(StrEnum):
    """Margin mode of a symbol's positions, as `POST /fapi/v1/marginType` spells it."""

    ISOLATED = "ISOLATED"
    CROSSED = "CROSSED"

    @classmethod
    def _missing_(cls, value: object) -> MarginType | None:
        # positionRisk and ACCOUNT_UPDATE say "isolated"/"cross" where the request takes
        # "ISOLATED"/"CROSSED"; accept both spellings so payload parsers need no table.
        if isinstance(value, str):
            spelled = value.strip().upper()
            if spelled == "CROSS":
                return cls.CROSSED
            if spelled in cls.__members__:
                return cls[spelled]
        return None


class Market(StrEnum):
    """Which futures market an instrument trades on."""

    USDM = "USDM"  # USDⓈ-M, linear: qty in base asset, PnL and margin in the quote asset
    COINM = "COINM"  # COIN-M, inverse: qty in contracts of `contractSize` USD, PnL in coin

    @property
    def is_inverse(self) -> bool:
        """True for COIN-M, whose notional and PnL are in the base coin."""
        return self is Market.COINM


class OrderType(StrEnum):
    """Order types (USDⓈ-M sends the conditional ones to the Algo Service, see FACTS §0)."""

    LIMIT = "LIMIT"
    MARKET = "MARKET"
    STOP = "STOP"
    STOP_MARKET = "STOP_MARKET"
    TAKE_PROFIT = "TAKE_PROFIT"
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"
    TRAILING_STOP_MARKET = "TRAILING_STOP_MARKET"
    # Binance's own closing order (liquidation and ADL), only ever reported, never sent: an IOC
    # limit at the bankruptcy price (FACTS §6.3, execution type CALCULATED).
    LIQUIDATION = "LIQUIDATION"

    # Plain attributes of each member, set below from the sets that define them: the order path
    # asks them dozens of times a round trip, and a property costs a call each time (issue 14).
    has_limit_price: bool  # the order carries a `price` (it rests or fills at that price or better)
    is_conditional: bool  # the type waits for a trigger (Binance's 'stop'/algo orders)
    executes_as_market: bool  # the type fills as a market order (on placement or when triggered)


_PRICED = frozenset({OrderType.LIMIT, OrderType.STOP, OrderType.TAKE_PROFIT})
_CONDITIONAL = frozenset(
    {
        OrderType.STOP,
        OrderType.STOP_MARKET,
        OrderType.TAKE_PROFIT,
        OrderType.TAKE_PROFIT_MARKET,
        OrderType.TRAILING_STOP_MARKET,
    }
)
_MARKET_LIKE = frozenset(
    {
        OrderType.MARKET,
        OrderType.STOP_MARKET,
        OrderType.TAKE_PROFIT_MARKET,
        OrderType.TRAILING_STOP_MARKET,
    }
)
for _type in OrderType:
    _type.has_limit_price = _type in _PRICED
    _type.is_conditional = _type in _CONDITIONAL
    _type.executes_as_market = _type in _MARKET_LIKE


class TimeInForce(StrEnum):
    """Time in force. GTD and RPI are newer than the 2022 exchangeInfo capture (FACTS §6.1)."""

    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTX = "GTX"  # post-only
    GTD = "GTD"  # needs goodTillDate
    RPI = "RPI"  # retail price improvement, post-only


class WorkingType(StrEnum):
    """Price source that triggers a conditional order."""

    MARK_PRICE = "MARK_PRICE"
    CONTRACT_PRICE = "CONTRACT_PRICE"


class OrderStatus(StrEnum):
    """Order status `X` in order responses and ORDER_TRADE_UPDATE."""

    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"
    EXPIRED_IN_MATCH = "EXPIRED_IN_MATCH"  # expired by self-trade prevention

    @property
    def is_final(self) -> bool:
        """True when the order can no longer fill."""
        return self not in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


class Rounding(StrEnum):
    """Explicit rounding direction onto a tick/step grid (prices are positive)."""

    DOWN = "DOWN"  # toward -inf (floor)
    UP = "UP"  # toward +inf (ceiling)
    NEAREST = "NEAREST"  # nearest grid point, a tie goes up
