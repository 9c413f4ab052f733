"""What the simulator knows of one symbol's market: last trade, book top, mark and index price.

Also the taker's view of it: the price levels a market order or a marketable limit can take,
per the fill model (`FillModel` docstring).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rulebot.core.enums import Rounding, Side, WorkingType
from rulebot.core.frozen import fast_init
from rulebot.core.instruments import Instrument
from rulebot.exchange_sim.model import FillModel

ZERO = Decimal(0)
BPS = Decimal(10000)
# Members at hand: a member read through its class is a slow lookup on Python 3.11 (EnumType.__getattr__),
# and every order placed, taker fill and conditional armed reads them.
_BUY, _UP, _DOWN, _MARK_PRICE = Side.BUY, Rounding.UP, Rounding.DOWN, WorkingType.MARK_PRICE


@dataclass(slots=True)
class Quotes:
    """The latest market data of a symbol. `None` until the first event of that kind."""

    last: Decimal | None = None
    bid: Decimal | None = None
    bid_qty: Decimal = ZERO
    ask: Decimal | None = None
    ask_qty: Decimal = ZERO
    mark: Decimal | None = None
    index: Decimal | None = None

    def set_mark(self, mark: Decimal, index: Decimal | None) -> None:
        """A mark price update: the mark, and the index when it came with one."""
        self.mark = mark
        if index is not None:
            self.index = index

    def trigger_source(self, working_type: WorkingType) -> Decimal | None:
        """The price a conditional order watches: mark or last trade (FACTS §6.2)."""
        return self.mark if working_type is _MARK_PRICE else self.last

    def reference(self) -> Decimal | None:
        """Best guess of the fair price: mark, else last trade, else the book's mid.

        Positions are valued at it (unrealized PnL, margin) and orders checked against it.
        """
        if self.mark is not None:
            return self.mark
        if self.last is not None:
            return self.last
        if self.bid is not None and self.ask is not None:
            return (self.bid + self.ask) / 2
        return self.bid if self.bid is not None else self.ask


@fast_init
@dataclass(frozen=True, slots=True)
class Level:
    """A price a taker can get: `qty` None means any quantity (depth the data does not show).

    `reach` is the price a limit must reach to take this level at all (the quote itself);
    `price` is what the fill pays, which for a slipped level is worse than `reach`.
    """

    price: Decimal
    qty: Decimal | None
    reach: Decimal
    top: bool  # the book's own top quote (its quantity is used up by fills)


def slipped(inst: Instrument, price: Decimal, side: Side, model: FillModel) -> Decimal:
    """`price` made `slippage_bps` worse for a taker on `side`, on the tick grid."""
    if model.slippage_bps == 0:
        return price
    factor = model.slippage_bps / BPS
    worse = price * (1 + factor) if side is _BUY else price * (1 - factor)
    # never below one tick: a sell rounded down to zero would be a fill no exchange makes
    return max(inst.round_price(worse, _UP if side is _BUY else _DOWN), inst.price_filter.tick_size)


def taker_levels(inst: Instrument, quotes: Quotes, side: Side, model: FillModel) -> list[Level]:
    """The levels a taker on `side` can fill against, best first (FillModel docstring)."""
    buy = side is _BUY
    quote = quotes.ask if buy else quotes.bid
    last = quotes.last
    # A trade printed beyond the quote (above the ask for a buyer) says the book top is
    # stale: the trade is the better evidence, and filling at the old quote would be better
    # than the data allows.
    stale = quote is not None and last is not None and not reaches(side, quote, last)
    if quote is not None and not stale:
        qty = quotes.ask_qty if buy else quotes.bid_qty
        levels = [Level(quote, qty, quote, top=True)]
        if not model.top_qty_only:
            levels.append(Level(slipped(inst, quote, side, model), None, quote, top=False))
        return levels
    if last is not None:
        # Without a book the realistic model assumes a spread: the taker's side of the book
        # is worse than the last trade, and a limit must reach that side to take.
        reach = spread_side(inst, last, side, model) if model.kline_spread else last
        return [Level(slipped(inst, reach, side, model), None, reach, top=False)]
    return []


def spread_side(inst: Instrument, last: Decimal, side: Side, model: FillModel) -> Decimal:
    """The assumed best quote a `side` taker meets when only trades or candles are known:
    `half_spread_bps` from the last trade (None: one tick), rounded to the tick against it."""
    up = side is _BUY
    if model.half_spread_bps is None:
        tick = inst.price_filter.tick_size
        return last + tick if up else max(last - tick, tick)
    if model.half_spread_bps == 0:
        return last
    factor = model.half_spread_bps / BPS
    worse = last * (1 + factor) if up else last * (1 - factor)
    return inst.round_price(worse, _UP if up else _DOWN)


def reaches(side: Side, limit: Decimal | None, price: Decimal) -> bool:
    """True if a `side` order limited at `limit` (None: market) may trade at `price`."""
    if limit is None:
        return True
    return price <= limit if side is _BUY else price >= limit


def marketable(levels: list[Level], side: Side, limit: Decimal | None) -> bool:
    """True if an order would take liquidity now (a post-only order would be refused)."""
    return bool(levels) and reaches(side, limit, levels[0].reach)


def plan_taker(
    levels: list[Level], side: Side, qty: Decimal, limit: Decimal | None
) -> list[tuple[Level, Decimal, Decimal]]:
    """(level, price, qty) fills for up to `qty`, never past `limit`.

    A slipped level past the limit is taken at the limit itself: the quote it came from was
    within the limit and deeper prices are unknown, so the limit is the price a real fill
    could at worst have had.
    """
    out: list[tuple[Level, Decimal, Decimal]] = []
    left = qty
    for level in levels:
        if left <= 0 or not reaches(side, limit, level.reach):
            break
        take = left if level.qty is None else min(left, level.qty)
        if take <= 0:
            continue
        price = level.price
        if limit is not None and not reaches(side, limit, price):
            price = limit
        out.append((level, price, take))
        left -= take
    return out


def use_top(quotes: Quotes, side: Side, qty: Decimal) -> None:
    """Take `qty` off the top quote a `side` taker filled against (until the next book)."""
    if side is _BUY:
        quotes.ask_qty = max(ZERO, quotes.ask_qty - qty)
    else:
        quotes.bid_qty = max(ZERO, quotes.bid_qty - qty)


def crossed_by_trade(side: Side, limit: Decimal, price: Decimal, is_buyer_maker: bool, touch: bool) -> bool:
    """A trade at `price` fills a resting `side` limit (FillModel: through, or at touch)."""
    if side is _BUY:
        return price < limit or (touch and price == limit and is_buyer_maker)
    return price > limit or (touch and price == limit and not is_buyer_maker)


def crossed_by_book(side: Side, limit: Decimal, quote: Decimal, touch: bool) -> bool:
    """The opposite book top at `quote` fills a resting `side` limit."""
    if side is _BUY:
        return quote < limit or (touch and quote == limit)
    return quote > limit or (touch and quote == limit)
