"""Paper execution over any market feed: the exchange simulator, in-process.

Market events go to the simulator first (resting orders fill on the trade that crosses
them, before the engine sees that trade, as on the exchange), then commands from the engine
are executed against it. What the data lacks is derived and stated:

* no mark-price stream: the mark follows the last trade, updated at most once a second of
  data time (Binance publishes it once a second), so stops on MARK_PRICE and liquidation
  still work;
* candles only (klines): each candle is walked as open → low → high → close when it closed
  up, open → high → low → close when it closed down, a quarter of its volume at each point,
  so a stop or a limit inside the candle's range fills; which of high and low came first is
  an assumption the data cannot settle.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

from rulebot.binance.codes import NoChangeNeeded, error_class
from rulebot.core.account_events import AccountEvent
from rulebot.core.commands import Command, PlaceOrder
from rulebot.core.enums import Market
from rulebot.core.events import BookTop, CandleClosed, FundingRate, MarkPrice, Trade
from rulebot.exchange_sim import SimExchange, SimResult

_MARK_EVERY_MS = 1000


class PaperVenue:
    def __init__(self, sim: SimExchange, market: Market) -> None:
        self.sim = sim
        self.market = market
        self._has_mark: set[str] = set()
        self._last_mark_time: dict[str, int] = {}
        self._candle_tf: dict[str, int] = {}  # the shortest candle seen per symbol drives fills
        self._last_walk_mark: dict[str, Decimal] = {}  # the derived mark of the last candle walked

    def on_market(self, event: object) -> list[AccountEvent]:
        sim = self.sim
        if isinstance(event, Trade):
            out = sim.on_trade(event.symbol, event.price, event.qty, event.time, event.is_buyer_maker)
            if event.symbol not in self._has_mark:
                last = self._last_mark_time.get(event.symbol, -_MARK_EVERY_MS)
                if event.time - last >= _MARK_EVERY_MS:
                    self._last_mark_time[event.symbol] = event.time
                    out = out + sim.on_mark_price(event.symbol, event.price, event.time)
            return out
        if isinstance(event, BookTop):
            return sim.on_book(event.symbol, event.bid, event.bid_qty, event.ask, event.ask_qty, event.time)
        if isinstance(event, MarkPrice):
            self._has_mark.add(event.symbol)
            return sim.on_mark_price(event.symbol, event.mark_price, event.time, event.index_price)
        if isinstance(event, FundingRate):
            return sim.on_funding(event.symbol, event.rate, event.time, event.mark_price)
        if isinstance(event, CandleClosed):
            return self._walk_candle(event)
        return []

    def _walk_candle(self, c: CandleClosed) -> list[AccountEvent]:
        out: list[AccountEvent] = []
        for _, _, events in self.walk(c):
            out += events
        return out

    def walk(self, c: CandleClosed) -> Iterator[tuple[int, Decimal, list[AccountEvent]]]:
        """Walk the candle's price points one at a time: (time, price, what the simulator
        reported there). Lazy, so that a caller can act between two points (the backtest
        checks the daily loss cap at each); nothing for a longer candle of a walked market."""
        span = c.close_time - c.open_time
        shortest = self._candle_tf.get(c.symbol)
        if shortest is not None and span > shortest:
            return  # a longer candle of the same market: its path was already walked
        self._candle_tf[c.symbol] = span
        path = (c.open, c.low, c.high, c.close) if c.close >= c.open else (c.open, c.high, c.low, c.close)
        qty = c.volume / 4 if c.volume > 0 else Decimal(0)
        derive_mark = c.symbol not in self._has_mark
        for i, price in enumerate(path):
            # Spread the four points over the candle so that time-based expiries behave.
            t = c.open_time + span * i // 3 if i < 3 else c.close_time
            out = self.sim.on_trade(c.symbol, price, qty, t, i % 2 == 1)
            last_mark = self._last_walk_mark.get(c.symbol)
            if derive_mark and price != last_mark:  # an unchanged mark triggers nothing new
                out += self.sim.on_mark_price(c.symbol, price, t)
                self._last_walk_mark[c.symbol] = price
            yield t, price, out

    def execute(self, command: Command, time: int) -> SimResult:
        # USDT-M conditional orders go to the algo service since 2025-12-09 (FACTS.md §0);
        # as a plain order Binance rejects them with -4120.
        if isinstance(command, PlaceOrder) and command.is_conditional and self.market is Market.USDM:
            res = self.sim.execute_algo(command, time)
        else:
            res = self.sim.execute(command, time)
        if not res.ok and res.code is not None and issubclass(error_class(res.code), NoChangeNeeded):
            # "No need to change": the account already is as asked, as BinanceVenue reports it.
            return replace(res, ok=True, code=None, message=None)
        return res
