"""One symbol's market as the rules see it: prices, candles per timeframe, indicators.

Money stays Decimal here (last, bid, ask, mark) for sizing and rounding; the env that
conditions read (env.py) holds floats. Data that a source lacks is derived, and the derivation is
stated: no book → bid = ask = last price; no mark price stream → mark = last price (a candle
backtest has neither); no trades → last price = the close of the shortest candle.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from rulebot.core.events import BookTop, CandleClosed, FundingRate, MarkPrice, Trade
from rulebot.engine.candle_history import CandleHistory, carry
from rulebot.engine.candles import Candle, CandleBuilder, timeframe_ms
from rulebot.engine.env import MARKET_NAMES as _MARKET_NAMES
from rulebot.engine.env import Env, plan_lookbacks
from rulebot.engine.signals import IndicatorRuntime
from rulebot.rulebook.compiled import CompiledRulebook

FUNDING_INTERVAL_MS = 8 * 3_600_000
HISTORY_CANDLES = 2000  # per timeframe; enough to warm any indicator of a reasonable length
NEVER = 1 << 62
# A book ticker closes a trade-built candle only this long after its end (MarketEvents.on_book): on USDⓈ-M
# it comes on its own connection (/public), ahead of the trades (/market), and a trade of the closed minute
# that arrives after it would go into the next one. Mark prices come with the trades: at the end.
BOOK_LAG_MS = 1000


class SymbolMarket:
    """Market state and indicator values of one symbol."""

    def __init__(self, symbol: str, book: CompiledRulebook, tick: Decimal = Decimal(0)) -> None:
        self.symbol = symbol
        self.tick = tick  # the synthetic book's step: a Decimal, so bid and ask are whole ticks
        self.env = Env({n: math.nan for n in _MARKET_NAMES})
        # Parameters are inlined into compiled expressions; they sit here too so that a
        # decision's recorded inputs show their values.
        self.env.update(book.params)
        self.not_ready: set[str] = set(_MARKET_NAMES)
        self.timeframes = sorted(book.timeframes, key=timeframe_ms)
        fields = ("open", "high", "low", "close", "volume", "returns")
        for tf in self.timeframes:
            for field in fields:
                self.env[f"{field}@{tf}"] = math.nan
                self.not_ready.add(f"{field}@{tf}")
        self.builders = {tf: CandleBuilder(tf) for tf in self.timeframes}
        self._tf_ms = {tf: timeframe_ms(tf) for tf in self.timeframes}
        self._keys = {tf: tuple(f"{f}@{tf}" for f in fields) for tf in self.timeframes}
        self.sourced: set[str] = set()  # kline timeframes the data has given (and that were routed)
        self._ready_tfs: set[str] = set()  # timeframes whose candle values (returns too) are all ready
        # Closed candles kept for a hot reload: indicators whose definition changed are
        # re-warmed from them instead of waiting for new data (made when read: candle_history.py).
        self.history = CandleHistory(self.timeframes, HISTORY_CANDLES)
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
        # Trades feed only the shortest timeframe; longer ones are rolled up from its closes
        # (same candles, one builder per trade instead of one per timeframe).
        self._trade_builders = list(self.builders.values())
        self._rolled_from_trades: dict[str, list[CandleBuilder]] = {}
        # When an event of the symbol next closes a trade-built candle (`clock_closes`): one int, so that a
        # mark price or book ticker that closes nothing costs one comparison. NEVER before the first trade.
        self.next_close = NEVER
        # Clock names are written on every event only when some rule or log reads them.
        read: set[str] = set()
        for rule in book.rules:
            read |= rule.reads
            for action in rule.actions:
                read.update(getattr(action, "names", ()))
        self._clock_names = frozenset(read & {"time", "hour", "weekday"})
        self._lookbacks = plan_lookbacks(read, self.indicators, self._tf_ms, self.env, self.not_ready)
        self._funding_in_read = "next_funding_in" in read
        self._book_from: Decimal | None = None  # the last price the synthetic book was derived from

    # ------------------------------------------------------------------ inputs

    def on_trade(self, e: Trade) -> list[Candle]:
        return self.take_trade(e.time, e.price, e.qty)  # the fast path takes trades it builds no Trade for

    def take_trade(self, time: int, last: Decimal, size: Decimal) -> list[Candle]:
        closed = self.trade_closes(time, last, size)
        if closed:
            self._publish(closed)
        return closed

    def trade_closes(self, time: int, last: Decimal, size: Decimal) -> list[Candle]:
        """The trade's price taken; the candles it closes, in order (`_in_order`), not yet published."""
        self.last_data_time = time
        self.last = last
        price = float(last)
        env = self.env
        env["price"] = price
        if not self.has_book:
            self._synthetic_book(last)
        if not self.has_mark:
            self.mark = last
            env["mark_price"] = env["index_price"] = price
        if "price" in self.not_ready:
            self.not_ready.difference_update(("price", "bid", "ask", "mark_price", "index_price"))
        if not self.has_trades:
            self._plan_trade_candles()
        closed: list[Candle] = []
        qty = float(size)
        for builder in self._trade_builders:
            got = builder.add_trade(time, price, qty)
            if got:
                closed.extend(got)
        if closed or self.next_close == NEVER:
            self.next_close = self._next_end()
            if closed:
                closed = self._roll_up(closed)
                if len(closed) > 1:
                    self._in_order(closed)
        return closed

    def absorb_trades(self, high: float, low: float, close: float, qtys: list[float]) -> None:
        """Trades the fast backtest path folded (backtest/fast_trades.py): trades of the buckets
        being built, followed by one that `on_trade` takes (`Engine.fold_trades`)."""
        for builder in self._trade_builders:
            builder.absorb(high, low, close, qtys)

    def _plan_trade_candles(self) -> None:
        self.has_trades = True
        trade_built = [tf for tf in self.timeframes if self.source[tf] is None]
        if not trade_built:
            self._trade_builders = []
            return
        base = trade_built[0]  # timeframes are sorted, shortest first
        base_ms = timeframe_ms(base)
        self._trade_builders = [self.builders[base]]
        for tf in trade_built[1:]:
            if timeframe_ms(tf) % base_ms == 0:
                self._rolled_from_trades.setdefault(base, []).append(self.builders[tf])
            else:
                self._trade_builders.append(self.builders[tf])

    def _roll_up(self, closed: list[Candle]) -> list[Candle]:
        rolled = self._rolled_from_trades
        if not rolled:
            return closed
        out = list(closed)
        for c in closed:
            for builder in rolled.get(c.timeframe, ()):
                out.extend(builder.add_candle(c))
        return out

    def clock_closes(self, time: int) -> list[Candle]:
        """The trade-built candles that an event of the symbol at `time` (a mark price, a book ticker) closes,
        in order (`_in_order`), not yet published: a quiet symbol's minute closes at its first event at or
        past the minute's end, not at its next trade. Callers check `time >= next_close` first (nothing
        closes before). Kline-built timeframes close only with their klines."""
        closed: list[Candle] = []
        for builder in self._trade_builders:
            got = builder.advance(time)
            if got:
                closed.extend(got)
        self.next_close = self._next_end()
        if closed:
            closed = self._roll_up(closed)
            if len(closed) > 1:
                self._in_order(closed)
        return closed

    def advance(self, time: int) -> list[Candle]:
        """Close (and publish) the trade-built candles whose time is over at `time`."""
        closed = self.clock_closes(time) if time >= self.next_close else []
        if closed:
            self._publish(closed)
        return closed

    def _next_end(self) -> int:
        """When the trade builders next close a bucket (NEVER: not before a trade)."""
        nxt = NEVER
        for builder in self._trade_builders:
            end = builder.next_end()
            if end is not None and end < nxt:
                nxt = end
        return nxt

    def on_candle(self, e: CandleClosed) -> list[Candle]:
        closed = self.candle_closes(e)
        if closed:
            self._publish(closed)
        return closed

    def candle_closes(self, e: CandleClosed) -> list[Candle]:
        """A closed kline from the source, used as is and rolled up into longer timeframes: its price
        taken; the candles it closes, in order (`_in_order`), not yet published."""
        src_ms = self._tf_ms.get(e.timeframe) or timeframe_ms(e.timeframe)
        if e.timeframe not in self.sourced:
            self.sourced.add(e.timeframe)
            for tf in self.timeframes:
                ms = self._tf_ms[tf]
                cur = self.source[tf]
                if ms % src_ms == 0 and (cur is None or timeframe_ms(cur) > src_ms):
                    self.source[tf] = e.timeframe
        candle = Candle(
            e.timeframe,
            e.open_time,
            e.close_time,
            float(e.open),
            float(e.high),
            float(e.low),
            float(e.close),
            float(e.volume),
        )
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
            if "price" in self.not_ready:  # they become ready together, once (as in `on_trade`)
                self.not_ready.difference_update(("price", "bid", "ask", "mark_price", "index_price"))
        return self._in_order(closed) if len(closed) > 1 else closed

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
        if self._clock_names:
            env["time"] = time
            env["hour"] = time // 3_600_000 % 24
            env["weekday"] = (time // 86_400_000 + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        nft = self.next_funding_time
        if nft is None or nft <= time:
            # Binance settles at multiples of the interval since the epoch (00:00/08:00/16:00).
            nft = (time // self.funding_interval_ms + 1) * self.funding_interval_ms
            self.next_funding_time = nft
            self.not_ready.discard("next_funding_in")
        if self._funding_in_read:
            env["next_funding_in"] = (nft - time) / 1000

    def _synthetic_book(self, last: Decimal) -> None:
        if last == self._book_from:
            return
        self._book_from = last
        # The floats of the exact prices, as a real book's: 105507.6 + 0.1 in floats is 105507.70000000001.
        self.env["bid"] = float(last - self.tick)
        self.env["ask"] = float(last + self.tick)

    # ------------------------------------------------------------------ look-back

    def _keep_lookbacks(self, tf: str) -> None:
        env, not_ready = self.env, self.not_ready
        for base, kept, slots in self._lookbacks[tf]:
            kept.append(math.nan if base in not_ready else env[base])
            for n, slot in slots:
                value = kept[-1 - n] if len(kept) > n else math.nan
                env[slot] = value
                if value == value:
                    not_ready.discard(slot)
                else:
                    not_ready.add(slot)

    # ------------------------------------------------------------------ candles

    @staticmethod
    def _in_order(closed: list[Candle]) -> list[Candle]:
        """Closed candles by close time, the shorter timeframe first at one time (sorted in place)."""
        if len(closed) > 1:
            closed.sort(key=lambda c: (c.close_time, timeframe_ms(c.timeframe)))
        return closed

    def _publish(self, closed: list[Candle]) -> None:
        done, n = 0, len(closed)
        while done < n:
            done = self.publish_from(closed, done)

    def publish_from(self, closed: list[Candle], start: int = 0) -> int:
        """Publish the candles of `closed` (in order) from `start` on that close when it does: the market
        as it was at that close. Returns the index of the next one (a later close), or the end."""
        at, end, n = closed[start].close_time, start, len(closed)
        env = self.env
        while end < n:
            c = closed[end]
            if c.close_time != at:
                break
            end += 1
            tf = c.timeframe
            k_open, k_high, k_low, k_close, k_volume, k_returns = self._keys[tf]
            env[k_open] = c.open
            env[k_high] = c.high
            env[k_low] = c.low
            env[k_close] = c.close
            env[k_volume] = c.volume
            prev = self.prev_close.get(tf)
            env[k_returns] = c.close / prev - 1.0 if prev else math.nan
            self.prev_close[tf] = c.close
            self.history.add(tf, c)
            if tf not in self._ready_tfs:  # nothing adds these names back: once ready, ready for good
                self.not_ready.difference_update((k_open, k_high, k_low, k_close, k_volume))
                if prev:
                    self.not_ready.discard(k_returns)
                    self._ready_tfs.add(tf)
            self.indicators.on_candle(c)
            if tf in self._lookbacks:
                self._keep_lookbacks(tf)
        return end

    # ------------------------------------------------------------------ warm-up

    def warmup_needs(self) -> dict[str, int]:
        """Closed candles per timeframe that make every indicator (and `returns`) ready at once."""
        need = {tf: 2 for tf in self.timeframes}  # `returns` reads the close before
        for tf, n in self.indicators.warmup_candles().items():
            need[tf] = max(need.get(tf, 0), n + 1)
        return need

    def warm(self, candles: list[CandleClosed]) -> int:
        """Closed candles from before the start (REST klines), oldest first per timeframe: into the history,
        the candle values and the indicators, as if seen live, but no rule runs on them. Candles not newer
        than what this market already has are skipped; returns how many were taken."""
        last = {tf: h[-1].close_time if h else -1 for tf, h in self.history.items()}
        fresh = [
            Candle(c.timeframe, c.open_time, c.close_time, *map(float, (c.open, c.high, c.low, c.close, c.volume)))
            for c in candles
            if c.timeframe in last and c.close_time > last[c.timeframe]
        ]
        for c in fresh:  # its first bucket goes on from them: not a partial one of the data (candles.py)
            self.builders[c.timeframe].first = False
        self._publish(self._in_order(fresh))
        return len(fresh)

    def warmup(self) -> dict[str, dict[str, Any]]:
        """Each indicator's warm-up as `status` shows it: ready, candles seen (kept), candles needed."""
        return {
            lv.compiled.name: {
                "timeframe": lv.timeframe,
                "ready": lv.impl.ready,
                "candles": len(self.history.get(lv.timeframe, ())),
                "needs": lv.compiled.total_warmup,
            }
            for lv in self.indicators.live
        }

    # ------------------------------------------------------------------ hot reload

    def carry_from(self, old: SymbolMarket) -> None:
        """Take over a running market (prices, candles being built, history) from the market of
        the previous rulebook, then warm this rulebook's indicators from the history (candle_history.py)."""
        carry(self, old)
