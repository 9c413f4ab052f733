"""The backtest's stand-in for the mark price stream's clock, on trade data.

Live, a quiet symbol's trade-built candle closes at its first mark price (every 1-3 s) at or past
its end (engine/market_events.py `_clock`), so `candle_close` fires within a second or so of the
end and its market orders fill at the price then. Trade files have no mark prices: the candle
closed at the symbol's next trade, minutes late on a thin symbol, and its orders went out at that
trade's price. So before an event stamped past the end of a symbol's open trade-built candle, the
runner carries each such end it passes to the engine (`crossed`: a `CandleEnd` at the end's time,
one per symbol and end, in time order, as a mark price stamped there would): the candle closes at
its end, its rules run then and their market orders fill at the last trade before it (the venue
sees no price). An event stamped exactly at the end closes the candle itself, as before (its price
is known then). An event more than an hour after the one before is past a hole in the data (as
data_gaps.py counts one), not a quiet market: the ends inside it are not carried one by one, the
event closes those of its symbol (at once, as before). Between two ends a check costs one
comparison an event (`due`).
"""

from __future__ import annotations

from collections.abc import Iterator

from rulebot.backtest.data_gaps import TRADE_PAUSE_MS
from rulebot.core.events import CandleEnd
from rulebot.engine.candles import MAX_EMPTY_CANDLES
from rulebot.engine.engine import Engine
from rulebot.engine.market import NEVER

_MINUTE_MS = 60_000  # every timeframe's bucket ends on a minute


class TradeClock:
    """When the engine's trade-built candles next end (`due`), and the ends an event passes (`crossed`)."""

    def __init__(self, engine: Engine) -> None:
        self._markets = [(symbol, run.market) for symbol, run in engine.state.runs.items()]

    def due(self, time: int) -> int:
        """Before an event stamped after this, no candle ends: the first end of any symbol's trade-built
        candles; while a symbol has had no trade (its first candle's end unknown), no later than the
        first minute after `time` (its candles can end no sooner)."""
        due = NEVER
        for _, market in self._markets:
            end = market.next_close
            if end == NEVER:
                end = time - time % _MINUTE_MS + _MINUTE_MS
            if end < due:
                due = end
        return due

    def crossed(self, time: int, last: int) -> Iterator[CandleEnd]:
        """The ends before `time` of the symbols' open trade-built candles, in time order (symbols in the
        rulebook's order at one time), each yielded before the next is looked for: the engine closes
        the candle at it (`MarketEvents.on_candle_end`), which moves the symbol's next end. `last`: the
        time of the event before. After a hole (`time - last` over an hour) none; an end left before
        `last` by one (another symbol's event after a hole) is stamped `last`."""
        if time - last > TRADE_PAUSE_MS:
            return
        for _ in range(MAX_EMPTY_CANDLES):
            end, symbol = NEVER, ""
            for s, market in self._markets:
                if market.next_close < end:
                    end, symbol = market.next_close, s
            if end >= time:
                return
            yield CandleEnd(end if end > last else last, symbol)
