"""What the walk of a candle passes through between two of its points.

Kline data gives four prices of a candle, and the backtest walks them one after the other
(`venues/paper.py`). Between two points of one candle the market traded every price: it did
not jump from the open to the high. A take-profit whose trigger lies strictly between two
points triggered where the market first reached it, at its own price; filling it at the
farther point would hand it the rest of the wick, a price its market order never got. So the
walk stops at those triggers on the way (`passed_take_profits`); a mark-price take-profit that
a mark bar's move passes stops the walk there too (`passed_by_mark`). Stops are not given the same
stop: a stop filled at the point the walk reached fills at the worse price, which errs against
the strategy (the daily loss cap's stated overshoot, one walked step, counts on it). Between
the close of one candle and the open of the next nothing traded, so nothing is added there: a
take-profit the market gapped through fills at the open.

Which of the high and the low came first the data cannot say; the walk takes the low first
when the candle closed up, the high first when it closed down. When a position's stop and its
take-profit both lie inside the candle, that guess decides whether the trade won or lost, and
a down candle would take a long's profit at the high before the low stopped it. There the walk
visits the extreme that stops the position first (`adverse_first`): never the kinder order.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from decimal import Decimal

from rulebot.core.enums import OrderType, Side, WorkingType
from rulebot.core.events import CandleClosed, MarkPrice
from rulebot.exchange_sim.book import OrderStore
from rulebot.exchange_sim.orders import Trigger

_TAKE_PROFITS = frozenset({OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_MARKET})
_LAST_PRICE = frozenset({WorkingType.CONTRACT_PRICE})
_MARK_PRICE = frozenset({WorkingType.MARK_PRICE})
_BOTH_PRICES = frozenset(WorkingType)


def _triggers(store: OrderStore, symbol: str) -> Iterator[Trigger]:
    """The triggers of the symbol's conditional orders still waiting: plain (COIN-M) and algo (USDⓈ-M)."""
    for o in store.waiting(symbol):
        if o.trigger is not None and o.waits_for_trigger:
            yield o.trigger
    for a in store.open_algos(symbol):
        yield a.trigger


def passed_take_profits(
    store: OrderStore, symbol: str, start: Decimal, end: Decimal, working_types: Collection[WorkingType]
) -> list[Decimal]:
    """The trigger prices of take-profits watching one of `working_types` that a continuous move
    from `start` to `end` reaches strictly between them, in the order the move reaches them: a
    SELL take-profit (last >= trigger) on the way up, a BUY one on the way down."""
    if start == end:
        return []
    rising = end > start
    side, low, high = (Side.SELL, start, end) if rising else (Side.BUY, end, start)
    found: set[Decimal] = set()
    for t in _triggers(store, symbol):
        stop = t.stop_price
        if t.order_type not in _TAKE_PROFITS or stop is None or t.working_type not in working_types:
            continue
        if t.side is side and low < stop < high:
            found.add(stop)
    return sorted(found, reverse=not rising)


def passes(
    store: OrderStore,
    symbol: str,
    start: Decimal,
    end: Decimal,
    derived: bool,
    marks: tuple[Decimal, Decimal] | None,
) -> list[tuple[Decimal, Decimal | None]]:
    """Where a walk from `start` to `end` stops on the way for the take-profits it passes: (last price,
    mark or None to leave the mark), in the order of the move. `derived`: the mark walks with the last
    price, so it passes the MARK_PRICE ones too; `marks`: a mark bar's move beside it passes those."""
    kinds = _BOTH_PRICES if derived else _LAST_PRICE
    stops: list[tuple[Decimal, Decimal | None]] = [
        (price, price if derived else None) for price in passed_take_profits(store, symbol, start, end, kinds)
    ]
    if marks is not None:
        stops += passed_by_mark(store, symbol, start, end, *marks)
        stops.sort(key=lambda stop: stop[0], reverse=end < start)  # stable: a last-price one first at a tie
    return stops


def passed_by_mark(
    store: OrderStore, symbol: str, start: Decimal, end: Decimal, mark_start: Decimal, mark_end: Decimal
) -> list[tuple[Decimal, Decimal]]:
    """The MARK_PRICE take-profits a mark bar's move from `mark_start` to `mark_end` passes strictly
    between them, while the last price moves from `start` to `end`: (last price, mark) pairs, the
    mark at each trigger and the last price there taken as the trigger held inside the trades' move
    (they moved together, but the mark may run ahead of or behind the trades: never a price those
    did not reach on that move). Filled at the farther mark point, the order would take the last
    price walked there, the candle's high or low."""
    low, high = min(start, end), max(start, end)
    marks = passed_take_profits(store, symbol, mark_start, mark_end, _MARK_PRICE)
    return [(min(max(mark, low), high), mark) for mark in marks]


_STOPS = frozenset({OrderType.STOP, OrderType.STOP_MARKET, OrderType.TRAILING_STOP_MARKET})
LOW_FIRST, HIGH_FIRST = "low", "high"


def _closing_triggers(store: OrderStore, symbol: str, working_types: Collection[WorkingType]) -> Iterator[Trigger]:
    for o in store.waiting(symbol):
        if o.trigger is not None and o.waits_for_trigger and o.closing and o.trigger.working_type in working_types:
            yield o.trigger
    for a in store.open_algos(symbol):
        if (a.reduce_only or a.close_position) and a.trigger.working_type in working_types:
            yield a.trigger


def adverse_first(
    store: OrderStore,
    symbol: str,
    open_: Decimal,
    high: Decimal,
    low: Decimal,
    working_types: Collection[WorkingType],
) -> str | None:
    """Which of the candle's high and low the walk must visit first so that a position is stopped
    before its profit is taken, when the candle reaches both its stop and its take-profit (a
    take-profit trigger or a closing limit) and the data cannot say which came first: LOW_FIRST
    for a long's exits (SELL), HIGH_FIRST for a short's (BUY); None when the candle does not
    reach both (or reaches both for both sides, hedge mode: the candle's own order stands)."""
    sell_stop = sell_profit = buy_stop = buy_profit = False
    for t in _closing_triggers(store, symbol, working_types):
        stop = t.stop_price
        if stop is None:
            continue  # a trailing stop not yet activated
        if t.order_type in _STOPS:
            if t.side is Side.SELL:
                sell_stop = sell_stop or low <= stop < open_
            else:
                buy_stop = buy_stop or open_ < stop <= high
        elif t.order_type in _TAKE_PROFITS:
            if t.side is Side.SELL:
                sell_profit = sell_profit or open_ < stop <= high
            else:
                buy_profit = buy_profit or low <= stop < open_
    for o in store.resting(symbol):
        if o.closing and o.price is not None and o.rests:
            if o.side is Side.SELL:
                sell_profit = sell_profit or open_ < o.price < high
            else:
                buy_profit = buy_profit or low < o.price < open_
    longs, shorts = sell_stop and sell_profit, buy_stop and buy_profit
    if longs == shorts:
        return None
    return LOW_FIRST if longs else HIGH_FIRST


def bar_path(
    open_: Decimal, high: Decimal, low: Decimal, close: Decimal, first: str | None = None
) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """A bar's four points in the order assumed: low first when it closed up, high first when down,
    unless `first` says which (a stop before a take-profit, `SimExchange.adverse_first`)."""
    if first is None:
        first = _own_order(open_, close)
    return (open_, low, high, close) if first == LOW_FIRST else (open_, high, low, close)


def _own_order(open_: Decimal, close: Decimal) -> str:
    return LOW_FIRST if close >= open_ else HIGH_FIRST


def own_order(c: CandleClosed) -> str:
    """The order `bar_path` walks a candle in when nothing turns it: low first when it closed up."""
    return _own_order(c.open, c.close)


def mark_range(m: MarkPrice) -> tuple[Decimal, Decimal, Decimal]:
    """A mark bar's open, high and low (its close for each when it has no bar)."""
    close = m.mark_price
    return (m.bar_open or close, m.bar_high or close, m.bar_low or close)


def mark_path(m: MarkPrice, first: str | None = None) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """A mark bar's four points in the order `bar_path` takes (its close four times when it has no bar)."""
    close = m.mark_price
    if m.bar_open is None or m.bar_high is None or m.bar_low is None:
        return (close, close, close, close)
    return bar_path(m.bar_open, m.bar_high, m.bar_low, close, first)
