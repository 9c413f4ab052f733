"""Market events into the symbols' markets, the valuation, the price guards and the rules.

A mark price values the positions; without a mark stream, trades do (once a second, the mark
stream's own pace) and, in candle-only data, the close of the shortest candle. Each valuation
runs the price guards (risk/PRICE_GUARDS) before the rules of the event's triggers.

Every event of a symbol carries its clock: a mark price or funding row at or past the end of a
trade-built candle closes it (`_clock`), a book ticker a second past it (`BOOK_LAG_MS`: it comes on
another connection than the trades), so a quiet symbol's `candle_close` fires at its first event after
the close, not at its next trade. Timers do not (engine.py's `Timer`: the clock of no symbol; a symbol
with no event at all is a dead stream, the stale-data guard's to handle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rulebot.core.events import BookTop, CandleClosed, CandleEnd, FundingRate, MarkPrice, Trade
from rulebot.engine.market import BOOK_LAG_MS
from rulebot.engine.state import Step

if TYPE_CHECKING:
    from rulebot.engine.candles import Candle
    from rulebot.engine.engine import Engine
    from rulebot.engine.market import SymbolMarket


class MarketEvents:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.state = engine.state
        self.runs = engine.state.runs
        self._dispatch = engine.rules.dispatch  # built before this room
        self._on_price = engine.guards.on_price
        self._set_mark = engine.state.portfolio.set_mark
        # Whether a candle's close, the only tick of candle-only data, has rules to run as one.
        keys = engine.rules.keys
        self._trade_rules = ("trade", None) in keys
        self._mark_rules = ("mark_price", None) in keys
        # The settlement each symbol's mark stream last announced (Binance's `T`), and the symbols
        # whose data has fundingRate rows: those run `funding` rules on the rows themselves.
        self._announced: dict[str, int] = {}
        self._funding_rows: set[str] = set()

    def on_trade(self, event: Trade, step: Step) -> None:
        run = self.runs.get(event.symbol)
        if run is None:
            return
        market = run.market
        closed = market.trade_closes(event.time, event.price, event.qty)
        done = market.publish_from(closed) if closed else 0  # the rest after the rules of these (_closed)
        if not market.has_mark:
            self._set_mark(event.symbol, event.price)
            st = self.state
            # Without a mark stream the trades are the only valuation; check at the mark
            # stream's own pace (once a second) rather than on every trade.
            if event.time - st.last_loss_check >= 1000:
                st.last_loss_check = event.time
                run.volatility.update(event.time, float(event.price))
                self._on_price(event.symbol, True, step)
        if closed:
            self._closed(event.symbol, market, closed, done, step)
        self._dispatch(event.symbol, ("trade", None), step)

    def on_book(self, event: BookTop, step: Step) -> None:
        run = self.runs.get(event.symbol)
        if run is None:
            return
        market = run.market
        market.on_book(event)
        at = event.time - BOOK_LAG_MS
        if at >= market.next_close:
            self._clock(event.symbol, market, at, step)
        self._dispatch(event.symbol, ("book", None), step)

    def on_mark(self, event: MarkPrice, step: Step) -> None:
        run = self.runs.get(event.symbol)
        if run is None:
            return
        market = run.market
        market.on_mark(event)
        self.state.portfolio.set_mark(event.symbol, event.mark_price)
        run.volatility.update(event.time, float(event.mark_price))
        self._on_price(event.symbol, True, step)
        if event.time >= market.next_close:
            self._clock(event.symbol, market, event.time, step)
        self._dispatch(event.symbol, ("mark_price", None), step)
        due = event.next_funding_time
        if due:
            last = self._announced.get(event.symbol)
            self._announced[event.symbol] = due
            # Live no fundingRate row comes: once `T` moves on, the settlement it announced is done.
            if last is not None and last < due and last <= event.time and event.symbol not in self._funding_rows:
                self._dispatch(event.symbol, ("funding", None), step)

    def on_candle(self, event: CandleClosed, step: Step) -> None:
        run = self.runs.get(event.symbol)
        if run is None:
            return
        mkt = run.market
        closed = mkt.candle_closes(event)
        done = mkt.publish_from(closed) if closed else 0
        fresh = False
        if not mkt.has_mark and mkt.last is not None:
            self.state.portfolio.set_mark(event.symbol, mkt.last)
            run.volatility.update(event.close_time, float(mkt.last))
            fresh = True
        self._on_price(event.symbol, fresh, step)
        if closed:
            self._closed(event.symbol, mkt, closed, done, step)
        dispatch = self._dispatch
        # Candle-only data has no trade or mark stream: the close of the shortest candle is
        # the only tick there is, so rules on those triggers see it (stated in the README).
        ticks = self._trade_rules or self._mark_rules
        if ticks and not mkt.has_trades and mkt.price_candle_ms == event.close_time - event.open_time + 1:
            if self._trade_rules:
                dispatch(event.symbol, ("trade", None), step)
            if self._mark_rules and not mkt.has_mark:
                dispatch(event.symbol, ("mark_price", None), step)

    def on_candle_end(self, event: CandleEnd, step: Step) -> None:
        """A backtest of trade data carried the symbol's clock to the end of its candle (no mark price to do
        it): the candle closes as at a mark price stamped then. Its data counts as that fresh (the stale-data
        guard): live, the mark price that closes it is; a quiet market is not a dead stream."""
        run = self.runs.get(event.symbol)
        if run is None:
            return
        market = run.market
        if event.time > market.last_data_time:
            market.last_data_time = event.time
        if event.time >= market.next_close:
            self._clock(event.symbol, market, event.time, step)

    def _clock(self, symbol: str, market: SymbolMarket, time: int, step: Step) -> None:
        """An event of the symbol that is no trade (a mark price, a book ticker, a funding row) carries its
        clock: the trade-built candles over at `time` close now, their rules run as a trade's would (the
        symbol's next trade may be minutes away), before the rules of the event's own trigger."""
        closed = market.clock_closes(time)
        if closed:
            self._closed(symbol, market, closed, market.publish_from(closed), step)

    def _closed(self, symbol: str, market: SymbolMarket, closed: list[Candle], done: int, step: Step) -> None:
        """The `candle_close` rules of `closed` (in order), candles [0, done) of which, those of the first
        close time, are published. Candles that close at one event (a quiet market's minutes, closed by its
        next trade; a longer candle across a hole in the klines) are published and dispatched one close time
        at a time, as if they had closed one by one: each firing reads its own candle's values, indicators
        and `prev.` values, not the last candle's. Candles of one close time (a 1m and the 1h it ends) are
        published together, then dispatched, shortest timeframe first."""
        dispatch = self._dispatch
        start = 0
        while True:
            for j in range(start, done):
                dispatch(symbol, ("candle_close", closed[j].timeframe), step)
            if done == len(closed):
                return
            start, done = done, market.publish_from(closed, done)

    def on_funding(self, event: FundingRate, step: Step) -> None:
        run = self.runs.get(event.symbol)
        if run is None:
            return
        market = run.market
        market.on_funding(event)
        self._funding_rows.add(event.symbol)
        if event.time >= market.next_close:
            self._clock(event.symbol, market, event.time, step)
        self._dispatch(event.symbol, ("funding", None), step)
