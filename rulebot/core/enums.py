"""Binance's own words for sides, order types and modes, as `str` enums.

Each member's value is the exact string Binance sends and expects, so a member can be put in a
request or compared with a payload field as it is (`Side.BUY == "BUY"`).
"""

from __future__ import annotations

from enum import StrEnum


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

    @property
    def has_limit_price(self) -> bool:
        """True when the order carries a `price` (it rests or fills at that price or better)."""
        return self in _PRICED

    @property
    def is_conditional(self) -> bool:
        """True for the types that wait for a trigger (Binance's 'stop'/algo orders)."""
        return self in _CONDITIONAL

    @property
    def executes_as_market(self) -> bool:
        """True for the types that fill as a market order (on placement or when triggered)."""
        return self in _MARKET_LIKE


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
