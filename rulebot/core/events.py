"""Normalized market events: what every venue (live streams, archive replay, simulation) emits.

Values only: frozen, slotted, `Decimal` for money, `time` in exchange milliseconds (UTC).
Every event has `time` and `symbol`, so streams of different kinds can be merged by time.

Live market events also carry `received`: when the bot received them, on the exchange's clock
(the local clock plus the offset measured against the server's time), stamped at the edge
where the frame arrived and again when the engine takes the event (so that a backlog inside
the bot counts too). `received - time` is how old the data is at that moment; a lagging feed carries
old `time`s that look fresh to a clock driven by the same data. 0 when the source does not
stamp (archives, simulations): the data's own time is then the only clock. It takes no part
in equality: the same trade received twice is the same trade.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from rulebot.core.frozen import fast_init


class Event(Protocol):
    """What a time-ordered merge (and the engine's dispatch) may rely on for any event."""

    @property
    def time(self) -> int: ...

    @property
    def symbol(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Trade:
    """A trade, or an aggregate trade (`first_trade_id`/`last_trade_id` set, `trade_id` = agg id).

    `is_buyer_maker` True means the seller was the taker (a sell hit the bid).
    COIN-M `qty` is in contracts, USDT-M `qty` in the base asset.
    """

    symbol: str
    price: Decimal
    qty: Decimal
    time: int
    is_buyer_maker: bool
    trade_id: int
    first_trade_id: int | None = None
    last_trade_id: int | None = None
    received: int = field(default=0, compare=False)  # exchange-clock ms when it arrived; 0: not stamped


@dataclass(frozen=True, slots=True)
class BookTop:
    """Best bid and ask (bookTicker); `time` is the event time, `update_id` orders updates."""

    symbol: str
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    time: int
    update_id: int
    received: int = field(default=0, compare=False)  # exchange-clock ms when it arrived; 0: not stamped


@dataclass(frozen=True, slots=True)
class MarkPrice:
    """The mark price (risk, liquidation, funding use it); live updates also carry the rest."""

    symbol: str
    mark_price: Decimal
    time: int
    index_price: Decimal | None = None
    funding_rate: Decimal | None = None  # the estimated rate of the coming settlement
    next_funding_time: int | None = None
    received: int = field(default=0, compare=False)  # exchange-clock ms when it arrived; 0: not stamped
    # A mark-price kline (markPriceKlines) is one MarkPrice at its close, which carries the bar:
    # a backtest walks the mark's own high and low inside it (venues/paper.py). None on a stream.
    bar_open_time: int | None = None
    bar_open: Decimal | None = None
    bar_high: Decimal | None = None
    bar_low: Decimal | None = None

    @property
    def price(self) -> Decimal:
        """The mark price, under the name conditions and guards read it by."""
        return self.mark_price


@dataclass(frozen=True, slots=True)
class IndexPrice:
    """The index (spot basket) price of a symbol's underlying."""

    symbol: str
    index_price: Decimal
    time: int


@dataclass(frozen=True, slots=True)
class PremiumIndex:
    """The premium index (mark vs index spread as a fraction), the input of the funding rate."""

    symbol: str
    premium_index: Decimal
    time: int


@fast_init
@dataclass(frozen=True, slots=True)
class CandleClosed:
    """A finished candle; it happens at `close_time` (open_time + interval - 1 ms).

    `volume` is in the base asset (USDT-M) or contracts (COIN-M); `quote_volume` is the
    archive's second volume column: quote asset for USDT-M, base coin for COIN-M.
    """

    symbol: str
    timeframe: str
    open_time: int
    close_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int
    taker_buy_volume: Decimal
    received: int = field(default=0, compare=False)  # exchange-clock ms when it arrived; 0: not stamped

    @property
    def time(self) -> int:
        # A property, not a field, so the event time cannot disagree with the close time.
        return self.close_time


@dataclass(frozen=True, slots=True)
class FundingRate:
    """A funding settlement happened at `funding_time` at `rate` (> 0: longs pay shorts)."""

    symbol: str
    rate: Decimal
    funding_time: int
    mark_price: Decimal | None = None  # the archive's fundingRate files do not carry it
    interval_hours: int | None = None  # hours until the next settlement, when known

    @property
    def time(self) -> int:
        return self.funding_time


@dataclass(frozen=True, slots=True)
class Timer:
    """A scheduled moment (cron, `every`, daily reset) reached on the event clock.

    `symbol` is "" for timers that belong to no symbol.
    """

    time: int
    name: str
    symbol: str = ""


@dataclass(frozen=True, slots=True)
class CandleEnd:
    """The end of a trade-built candle of `symbol` (its `close_time` + 1), passed with no event of the
    symbol at or after it yet: a backtest of trade data, which has no mark prices, carries the symbol's
    clock there (backtest/trade_clock.py) as live the mark price stream does. No price: venues ignore it."""

    time: int
    symbol: str


# The events a live edge stamps with `received`.
STAMPED: tuple[type, ...] = (Trade, BookTop, MarkPrice, CandleClosed)

# Order and account events (OrderUpdate, AlgoUpdate, AccountUpdate, MarginCall, ...) live in
# `rulebot.core.account_events`; they share `time` so they merge into the same streams.

MarketEvent = Trade | BookTop | MarkPrice | IndexPrice | PremiumIndex | CandleClosed | FundingRate | Timer

EVENT_TYPES: tuple[type[MarketEvent], ...] = (
    Trade,
    BookTop,
    MarkPrice,
    IndexPrice,
    PremiumIndex,
    CandleClosed,
    FundingRate,
    Timer,
)
