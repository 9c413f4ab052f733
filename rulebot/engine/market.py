"""One symbol's market as the rules see it: prices, candles per timeframe, indicators.

Money stays Decimal here (last, bid, ask, mark) for sizing and rounding; the env that
conditions read holds floats. Data that a source lacks is derived, and the derivation is
stated: no book → bid = ask = last price; no mark price stream → mark = last price (a candle
backtest has neither); no trades → last price = the close of the shortest candle.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from rulebot.core.events import BookTop, CandleClosed, FundingRate, MarkPrice, Trade
from rulebot.engine.candles import Candle, CandleBuilder, timeframe_ms
from rulebot.engine.signals import IndicatorRuntime
from rulebot.rulebook.compiled import CompiledRulebook

FUNDING_INTERVAL_MS = 8 * 3_600_000
ACCOUNT_NAMES = frozenset({"position.side", "position.size", "entry_price", "upnl", "roe", "liq_price",
                           "leverage", "margin", "equity", "available", "daily_pnl"})


class Env(dict[str, Any]):
    """The values conditions read. Account and position values are filled on first read.

    Most conditions short-circuit before they reach `upnl` or `equity`; computing those at
    mark price for every trade would cost more than the whole rest of an event. A plain dict
    subclass keeps reads of present keys at C speed; only a miss calls `__missing__`.
    """

    resolve: Callable[[Env], None] | None = None
    filled = False

    def __missing__(self, key: str) -> Any:
        if key in ACCOUNT_NAMES and self.resolve is not None:
            self.resolve(self)
            self.filled = True
            return dict.__getitem__(self, key)
        raise KeyError(key)

    def forget_account(self) -> None:
        """Drop account values: the next read recomputes them for the new moment."""
        if self.filled:
            for name in ACCOUNT_NAMES:
                self.pop(name, None)
            self.filled = False
_MARKET_NAMES = ("price", "bid", "ask", "mark_price", "index_price", "funding_rate", "next_funding_in")


class SymbolMarket:
    """Market state and indicator values of one symbol."""

    def __init__(self, symbol: str, book: CompiledRulebook, tick: Decimal = Decimal(0)) -> None:
        self.symbol = symbol
        self.tick = float(tick)
        self.env = Env({n: math.nan for n in _MARKET_NAMES})
        self.not_ready: set[str] = set(_MARKET_NAMES)
        self.timeframes = sorted(book.timeframes, key=timeframe_ms)
        for tf in self.timeframes:
            for field in ("open", "high", "low", "close", "volume", "returns"):
                self.env[f"{field}@{tf}"] = math.nan
                self.not_ready.add(f"{field}@{tf}")
        self.builders = {tf: CandleBuilder(tf) for tf in self.timeframes}
        # timeframe → the source timeframe it is built from (None: from trades)
        self.source: dict[str, str | None] = {tf: None for tf in self.timeframes}
        self.prev_close: dict[str, float] = {}
        self.indicators = IndicatorRuntime(book.indicators, self.env, self.not_ready)
        self.last: Decimal | None = None
        self.mark: Decimal | None = None
        self.has_book = False
        self.has_mark = False
        self.has_trades = False
        self.last_data_time = 0
        self.next_funding_time: int | None = None
        self.funding_interval_ms = FUNDING_INTERVAL_MS
        self.price_candle_ms = 1 << 62

    # ------------------------------------------------------------------ inputs

    def on_trade(self, e: Trade) -> list[Candle]:
        self.has_trades = True
        self.last_data_time = e.time
        self.last = e.price
        price = float(e.price)
        env = self.env
        env["price"] = price
        if not self.has_book:
            self._synthetic_book(e.price)
        if not self.has_mark:
            self.mark = e.price
            env["mark_price"] = env["index_price"] = price
        if "price" in self.not_ready:
            self.not_ready.difference_update(("price", "bid", "ask", "mark_price", "index_price"))
        closed: list[Candle] = []
        qty = float(e.qty)
        for tf, builder in self.builders.items():
            if self.source[tf] is None:
                got = builder.add_trade(e.time, price, qty)
                if got:
                    closed.extend(got)
        if closed:
            self._publish(closed)
        return closed

    def advance(self, time: int) -> list[Candle]:
        """Close trade-built candles whose time is over (any event carries the clock)."""
        closed: list[Candle] = []
        for tf, builder in self.builders.items():
            if self.source[tf] is None:
                closed.extend(builder.advance(time))
        if closed:
            self._publish(closed)
        return closed

    def on_candle(self, e: CandleClosed) -> list[Candle]:
        """A closed kline from the source: used as is and rolled up into longer timeframes."""
        src_ms = timeframe_ms(e.timeframe)
        for tf in self.timeframes:
            ms = timeframe_ms(tf)
            cur = self.source[tf]
            if ms % src_ms == 0 and (cur is None or timeframe_ms(cur) > src_ms):
                self.source[tf] = e.timeframe
        candle = Candle(e.timeframe, e.open_time, e.close_time, float(e.open), float(e.high), float(e.low),
                        float(e.close), float(e.volume))
        closed: list[Candle] = []
        for tf in self.timeframes:
            if self.source[tf] != e.timeframe:
                continue
            if tf == e.timeframe:
                closed.append(candle)
            else:
                closed.extend(self.builders[tf].add_candle(candle))
        # Without trades, the shortest candle the source gives is the last price.
        if not self.has_trades and src_ms <= self.price_candle_ms:
            self.price_candle_ms = src_ms
            self.last_data_time = e.close_time
            self.last = e.close
            price = float(e.close)
            self.env["price"] = price
            if not self.has_book:
                self._synthetic_book(e.close)
            if not self.has_mark:
                self.mark = e.close
                self.env["mark_price"] = self.env["index_price"] = price
            self.not_ready.difference_update(("price", "bid", "ask", "mark_price", "index_price"))
        if closed:
            self._publish(closed)
        return closed

    def on_book(self, e: BookTop) -> None:
        self.has_book = True
        self.last_data_time = e.time
        self.env["bid"] = float(e.bid)
        self.env["ask"] = float(e.ask)
        self.not_ready.discard("bid")
        self.not_ready.discard("ask")

    def on_mark(self, e: MarkPrice) -> None:
        self.has_mark = True
        self.last_data_time = max(self.last_data_time, e.time)
        self.mark = e.mark_price
        env = self.env
        env["mark_price"] = float(e.mark_price)
        self.not_ready.discard("mark_price")
        if e.index_price is not None:
            env["index_price"] = float(e.index_price)
            self.not_ready.discard("index_price")
        if e.funding_rate is not None:
            env["funding_rate"] = float(e.funding_rate)
            self.not_ready.discard("funding_rate")
        if e.next_funding_time:
            self.next_funding_time = e.next_funding_time

    def on_funding(self, e: FundingRate) -> None:
        # The settled rate is the best estimate of the next one when no mark stream says more.
        if not self.has_mark or "funding_rate" in self.not_ready:
            self.env["funding_rate"] = float(e.rate)
            self.not_ready.discard("funding_rate")
        if e.interval_hours:
            self.funding_interval_ms = e.interval_hours * 3_600_000
        self.next_funding_time = e.funding_time + self.funding_interval_ms

    def set_clock(self, time: int) -> None:
        env = self.env
        env["time"] = time
        env["hour"] = time // 3_600_000 % 24
        env["weekday"] = (time // 86_400_000 + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        nft = self.next_funding_time
        if nft is None or nft <= time:
            # Binance settles at multiples of the interval since the epoch (00:00/08:00/16:00).
            nft = (time // self.funding_interval_ms + 1) * self.funding_interval_ms
            self.next_funding_time = nft
        env["next_funding_in"] = (nft - time) / 1000
        self.not_ready.discard("next_funding_in")

    def _synthetic_book(self, last: Decimal) -> None:
        price = float(last)
        self.env["bid"] = price - self.tick
        self.env["ask"] = price + self.tick

    # ------------------------------------------------------------------ candles

    def _publish(self, closed: list[Candle]) -> None:
        if len(closed) > 1:
            closed.sort(key=lambda c: (c.close_time, timeframe_ms(c.timeframe)))
        env = self.env
        for c in closed:
            tf = c.timeframe
            env[f"open@{tf}"] = c.open
            env[f"high@{tf}"] = c.high
            env[f"low@{tf}"] = c.low
            env[f"close@{tf}"] = c.close
            env[f"volume@{tf}"] = c.volume
            prev = self.prev_close.get(tf)
            env[f"returns@{tf}"] = c.close / prev - 1.0 if prev else math.nan
            self.prev_close[tf] = c.close
            if self.not_ready:
                for f in ("open", "high", "low", "close", "volume"):
                    self.not_ready.discard(f"{f}@{tf}")
                if prev:
                    self.not_ready.discard(f"returns@{tf}")
            self.indicators.on_candle(c)
