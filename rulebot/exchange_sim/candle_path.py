"""What the walk of a candle passes through between two of its points.

Kline data gives four prices of a candle, and the backtest walks them one after the other
(`venues/paper.py`). Between two points of one candle the market traded every price: it did
not jump from the open to the high. A take-profit whose trigger lies strictly between two
points triggered where the market first reached it, at its own price; filling it at the
farther point would hand it the rest of the wick, a price its market order never got. So the
walk stops at those triggers on the way (`passed_take_profits`). Stops are not given the same
stop: a stop filled at the point the walk reached fills at the worse price, which errs against
the strategy (the daily loss cap's stated overshoot, one walked step, counts on it). Between
the close of one candle and the open of the next nothing traded, so nothing is added there: a
take-profit the market gapped through fills at the open.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from decimal import Decimal

from rulebot.core.enums import OrderType, Side, WorkingType
from rulebot.exchange_sim.book import OrderStore
from rulebot.exchange_sim.orders import Trigger

_TAKE_PROFITS = frozenset({OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_MARKET})


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
