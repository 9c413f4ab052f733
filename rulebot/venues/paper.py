"""Paper execution over any market feed: the exchange simulator, in-process.

Market events go to the simulator first (resting orders fill on the trade that crosses
them, before the engine sees that trade, as on the exchange), then commands from the engine
are executed against it. What the data lacks is derived and stated:

* no mark-price stream: the mark follows the last trade, updated at most once a second of
  data time (Binance publishes it once a second), so stops on MARK_PRICE and liquidation
  still work; on candles it follows each candle's open, low, high and close. This is
  pessimistic: the real mark (an index of spot prices) rarely wicks as far as the last price,
  so a stop or a liquidation fires here that the exchange might have spared. `mark_sources`
  says which symbols ran on it, and the backtest summary says so;
* mark-price klines: each mark bar's own path (open, low, high, close; high first when the
  bar closed down) is walked, interleaved point by point with the walk of the trade candle of
  the same period when there is one, and then in that candle's order (the mark at its low
  beside the trades at theirs, never at their high), so a mark wick inside the bar liquidates
  and triggers MARK_PRICE stops as it would on the exchange; a mark bar with no candle of its
  period is walked on its own at its close time;
* funding, on live streams (`funding_from_marks`, a dry-run): no settlement event comes on a
  stream, but every markPrice update announces the rate (`r`) and the next funding time
  (`T`). The paper account settles at T with the rate last announced before it, at the mark
  of that announcement (a second before T at most): the first update at or after T, which
  already announces the next T, is what says the time has come. Each T is settled once;
* candles only (klines): each candle is walked as open → low → high → close when it closed
  up, open → high → low → close when it closed down, a quarter of its volume at each point,
  so a stop or a limit inside the candle's range fills; which of high and low came first is
  an assumption the data cannot settle. Between two points of a candle every price traded: a
  take-profit reached on the way triggers at its own price (exchange_sim/candle_path.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from decimal import Decimal

from rulebot.binance.codes import NoChangeNeeded, error_class
from rulebot.core.account_events import AccountEvent
from rulebot.core.commands import Command, PlaceOrder
from rulebot.core.enums import Market, WorkingType
from rulebot.core.events import BookTop, CandleClosed, FundingRate, MarkPrice, Trade
from rulebot.exchange_sim import SimExchange, SimResult
from rulebot.exchange_sim.candle_path import bar_path, mark_path, mark_range, own_order

_MARK_EVERY_MS = 1000
_NO_QTY = Decimal(0)
_LAST = frozenset({WorkingType.CONTRACT_PRICE})  # the orders a candle's trade path triggers
_MARK = frozenset({WorkingType.MARK_PRICE})
_BOTH = frozenset(WorkingType)  # no mark data: the mark walks the trade path
_USDM = Market.USDM  # `Market.USDM` through the class is a slow lookup on Python 3.11 (every command asks)
# The span (close time - open time) of February's 1M candle, the shortest month. Spans are compared
# to know a symbol's shortest timeframe, and a month's varies from 28 to 31 days: every month is this.
_MONTH_SPAN = 28 * 86_400_000 - 1


def _span_class(span: int) -> int:
    """`span` as the symbol's timeframes are compared: a month's candle is any month's; and, as the
    shortest a candle of that timeframe lasts, a lower bound on the next one's span."""
    return _MONTH_SPAN if span >= _MONTH_SPAN else span


# What the mark of a symbol followed in a run, for the summary (`PaperVenue.mark_sources`).
MARK_FROM_BARS = "mark-price klines, each bar's high and low walked"
MARK_FROM_STREAM = "mark-price events"
MARK_DERIVED = (
    "no mark-price data: the mark follows the last price, its wicks included (pessimistic: "
    "liquidations and MARK_PRICE stops fire on last-price spikes the real mark may not have had)"
)


class PaperVenue:
    def __init__(self, sim: SimExchange, market: Market, *, funding_from_marks: bool = False) -> None:
        self.sim = sim
        self.market = market
        # Settle funding from the mark stream's announcements (live streams carry no settlement
        # event). Off for replays and for the fake exchange, whose data settles funding itself.
        self.funding_from_marks = funding_from_marks
        self._announced: dict[str, MarkPrice] = {}  # the last mark announcing a funding time to come
        self._settled_at: dict[str, int] = {}  # the last funding time settled from announcements
        self._has_mark: set[str] = set()
        self._last_mark_time: dict[str, int] = {}
        self._candle_tf: dict[str, int] = {}  # the shortest candle seen per symbol drives fills
        self._last_walk_mark: dict[str, Decimal] = {}  # the mark last sent by a walk
        self._mark_bars: set[str] = set()  # symbols whose mark comes as bars (markPriceKlines)
        self._pending_mark: dict[str, MarkPrice] = {}  # a mark bar waiting for its trade candle
        self._traded: set[str] = set()  # symbols with any last-price data
        self._walked: dict[str, tuple[int, tuple[Decimal, ...]]] = {}  # the last candle walked: open time, path

    def mark_sources(self) -> dict[str, str]:
        """Per symbol with market data: what its mark followed (MARK_FROM_BARS, ...)."""
        out = {}
        for symbol in sorted(self._traded | self._has_mark):
            if symbol in self._mark_bars:
                out[symbol] = MARK_FROM_BARS
            elif symbol in self._has_mark:
                out[symbol] = MARK_FROM_STREAM
            else:
                out[symbol] = MARK_DERIVED
        return out

    def derived_mark_time(self, symbol: str) -> int | None:
        """When the mark derived from trades last moved (None: a mark stream drives the symbol);
        it moves again at the first trade a second later (the fast path, backtest/fast_trades.py)."""
        if symbol in self._has_mark:
            return None
        return self._last_mark_time.get(symbol, -_MARK_EVERY_MS)

    def on_market(self, event: object) -> list[AccountEvent]:
        sim = self.sim
        if isinstance(event, Trade):
            out = sim.on_trade(event.symbol, event.price, event.qty, event.time, event.is_buyer_maker)
            if event.symbol not in self._has_mark:
                self._traded.add(event.symbol)
                last = self._last_mark_time.get(event.symbol, -_MARK_EVERY_MS)
                if event.time - last >= _MARK_EVERY_MS:
                    self._last_mark_time[event.symbol] = event.time
                    out = out + sim.on_mark_price(event.symbol, event.price, event.time)
            return out
        if isinstance(event, BookTop):
            return sim.on_book(event.symbol, event.bid, event.bid_qty, event.ask, event.ask_qty, event.time)
        if isinstance(event, MarkPrice):
            self._has_mark.add(event.symbol)
            if event.bar_high is not None:
                return self._mark_bar(event)
            due = self._announced_funding(event) if self.funding_from_marks else []
            return due + sim.on_mark_price(event.symbol, event.mark_price, event.time, event.index_price)
        if isinstance(event, FundingRate):
            return sim.on_funding(event.symbol, event.rate, event.time, event.mark_price)
        if isinstance(event, CandleClosed):
            return self._walk_candle(event)
        return []

    def fold_mark(self, m: MarkPrice) -> bool:
        """`on_market` for a mark price the fast backtest path showed inside the simulator's quiet band
        (backtest/fast_quotes.py): True when it left what `on_market` would, with nothing to report; False,
        with nothing changed, when it must go through `on_market` (a mark bar, funding from marks, a
        trailing stop that would trigger)."""
        if m.bar_high is not None or self.funding_from_marks:
            return False
        if not self.sim.fold_mark(m.symbol, m.mark_price, m.index_price):
            return False
        self._has_mark.add(m.symbol)
        return True

    def fold_derived_mark(self, symbol: str, time: int, price: Decimal) -> None:
        """`on_market`'s derived mark at a trade the fast trade path folded (backtest/fast_trades.py:
        strictly inside the simulator's quiet band, no trailing stop working), at which it fell due:
        its time, and the simulator's mark taken quietly (`SimExchange.fold_mark`)."""
        self._last_mark_time[symbol] = time
        if not self.sim.fold_mark(symbol, price):
            raise AssertionError(f"{symbol}: a trailing stop triggered on a folded mark")  # the caller saw none

    def _announced_funding(self, m: MarkPrice) -> list[AccountEvent]:
        """Settle the funding a previous update announced when this one is at or past its time;
        keep this one's announcement when its funding time is still to come."""
        out: list[AccountEvent] = []
        symbol = m.symbol
        last = self._announced.get(symbol)
        if last is not None and last.next_funding_time is not None and m.time >= last.next_funding_time:
            del self._announced[symbol]
            at = last.next_funding_time
            if last.funding_rate is not None and at > self._settled_at.get(symbol, -1):
                self._settled_at[symbol] = at
                out = self.sim.on_funding(symbol, last.funding_rate, at, last.mark_price)
        if m.funding_rate is not None and m.next_funding_time is not None and m.next_funding_time > m.time:
            self._announced[symbol] = m
        return out

    def _walk_candle(self, c: CandleClosed) -> list[AccountEvent]:
        out: list[AccountEvent] = []
        for _, _, events in self.walk(c):
            out += events
        return out

    def _mark_bar(self, m: MarkPrice) -> list[AccountEvent]:
        """A mark-price kline: kept for the trade candle of the same period when the symbol's
        candles are of its length (that candle follows at the same close time, KIND_PRIORITY),
        else walked now."""
        symbol = m.symbol
        self._mark_bars.add(symbol)
        out = self._flush_mark(symbol)
        if m.bar_open_time is not None and self._candle_tf.get(symbol) == _span_class(m.time - m.bar_open_time):
            self._pending_mark[symbol] = m
            return out
        return out + self._walk_mark(m)

    def _walk_mark(self, m: MarkPrice) -> list[AccountEvent]:
        """A mark bar walked on its own, every point at its close time: the trades before it
        are past, and the simulator's clock does not go back."""
        out: list[AccountEvent] = []
        for price in mark_path(m):
            out += self._send_mark(m.symbol, price, m.time)
        return out

    def _flush_mark(self, symbol: str) -> list[AccountEvent]:
        """Walk a kept mark bar whose trade candle never came (a gap in the klines)."""
        m = self._pending_mark.pop(symbol, None)
        return [] if m is None else self._walk_mark(m)

    def _send_mark(self, symbol: str, price: Decimal, t: int) -> list[AccountEvent]:
        if price == self._last_walk_mark.get(symbol):  # an unchanged mark triggers nothing new
            return []
        self._last_walk_mark[symbol] = price
        return self.sim.on_mark_price(symbol, price, t)

    def walk(
        self, c: CandleClosed, before: Callable[[int], None] | None = None
    ) -> Iterator[tuple[int, Decimal, list[AccountEvent]]]:
        """Walk the candle's price points one at a time: (time, price, what the simulator
        reported there). Lazy, so that a caller can act between two points (the backtest
        checks the daily loss cap at each); nothing for a longer candle of a walked market.
        `before(t)` is called before the simulator sees the point at `t` (the session cancels the
        orders that expired before it).
        The mark walks beside the last price: the mark bar of the same period, point by point,
        when mark-price klines are given; the candle's own points when no mark data is."""
        symbol = c.symbol
        span = c.close_time - c.open_time
        shortest, tf = self._candle_tf.get(symbol), _span_class(span)
        if shortest is not None and tf > shortest:
            return  # a longer candle of the same market: its path was already walked
        self._candle_tf[symbol] = tf
        self._traded.add(symbol)
        self.sim.on_bar(symbol, c.open_time, c.volume)  # the bar's liquidity (realistic fill model)
        qty = c.volume / 4 if c.volume > 0 else Decimal(0)
        early: list[AccountEvent] = []
        marks: tuple[Decimal, ...] | None = None
        pending = self._pending_mark.get(symbol)
        derived = pending is None and symbol not in self._has_mark
        bar = pending if pending is not None and pending.time == c.close_time else None
        if bar is not None:
            del self._pending_mark[symbol]
        elif pending is not None:
            early = self._flush_mark(symbol)
        # Decided on the orders working as the candle starts, once: the fast path's partial walks reuse it.
        first = self.sim.adverse_first(symbol, c.open, c.high, c.low, _BOTH if derived else _LAST)
        if bar is not None:
            # The mark walks its bar in the trades' order: paired point by point, a mark at its low
            # beside trades at their high would sell a long's mark-price stop at the candle's high.
            first = first or self.sim.adverse_first(symbol, *mark_range(bar), _MARK) or own_order(c)
            marks = mark_path(bar, first)
        path = bar_path(c.open, c.high, c.low, c.close, first)
        self._walked[symbol] = (c.open_time, path)
        if derived:
            marks = path
        for i, price in enumerate(path):
            # Spread the four points over the candle so that time-based expiries behave.
            t = c.open_time + span * i // 3 if i < 3 else c.close_time
            if before is not None:
                before(t)
            seg = (marks[i - 1], marks[i]) if i and marks is not None and not derived else None
            out = self._passed(symbol, path[i - 1], price, t, i % 2 == 1, derived, seg) if i else []
            out += self.sim.on_trade(symbol, price, qty, t, i % 2 == 1)
            if early:
                out, early = early + out, []
            if marks is not None:
                out += self._send_mark(symbol, marks[i], t)
            yield t, price, out

    def _passed(
        self,
        symbol: str,
        start: Decimal,
        end: Decimal,
        t: int,
        is_buyer_maker: bool,
        derived: bool,
        marks: tuple[Decimal, Decimal] | None,
    ) -> list[AccountEvent]:
        """The market traded every price between two points of a candle: the take-profits it reached
        on the way trigger there, at their own prices (exchange_sim/candle_path.py). `derived`: the
        mark walks with the last price, so it passes them too; `marks`: the mark bar's move beside
        it, which passes the MARK_PRICE ones, in the order of the trades' move."""
        out: list[AccountEvent] = []
        for price, mark in self.sim.passed_take_profits(symbol, start, end, derived, marks):
            out += self.sim.on_trade(symbol, price, _NO_QTY, t, is_buyer_maker)  # no volume of its own
            if mark is not None:
                out += self._send_mark(symbol, mark, t)
        return out

    # -- the fast backtest path ------------------------------------------------------------------

    def shortest(self, symbol: str) -> int | None:
        """The span (close time - open time) of the shortest candle of `symbol` walked so far (a month's:
        February's, the shortest a month lasts)."""
        return self._candle_tf.get(symbol)

    def walks(self, c: CandleClosed) -> bool:
        """`walk` would walk this candle with derived marks: it is of the shortest timeframe seen
        and no mark stream drives the symbol."""
        return self.walks_span(c.symbol, c.close_time - c.open_time)

    def walks_span(self, symbol: str, span: int) -> bool:
        """`walks` of a candle of `symbol` whose close time less its open time is `span`."""
        shortest = self._candle_tf.get(symbol)
        return (
            symbol not in self._has_mark
            and symbol not in self._pending_mark
            and (shortest is None or _span_class(span) <= shortest)
        )

    def path(self, c: CandleClosed) -> tuple[tuple[int, ...], tuple[Decimal, ...]]:
        """The times and prices `walk` visits, in order."""
        return self.times(c), self._path_of(c)

    def _path_of(self, c: CandleClosed) -> tuple[Decimal, ...]:
        """The prices `walk` visits: in the order it chose when it walked this candle (a stop before
        a take-profit may have turned it), else the candle's own."""
        walked = self._walked.get(c.symbol)
        if walked is not None and walked[0] == c.open_time:
            return walked[1]
        return bar_path(c.open, c.high, c.low, c.close)

    @staticmethod
    def times(c: CandleClosed) -> tuple[int, int, int, int]:
        """The times at which `walk` visits the candle's four prices."""
        span = c.close_time - c.open_time
        return c.open_time, c.open_time + span // 3, c.open_time + span * 2 // 3, c.close_time

    def walk_quietly(self, c: CandleClosed, trailing: bool = True, prune: bool = True, start: int = 0) -> bool:
        """What `walk` leaves behind, for a candle whose prices all lie inside the simulator's
        `quiet_band` (a walkable one, `walks`): the quotes, the derived mark and the trailing stops
        move, nothing else happens. False, with nothing changed, when a trailing stop would fire.
        `trailing` False: the caller knows no trailing stop works; `prune` False: it knows no order
        turned final since the last quiet walk (`OrderStore.prune` would change nothing). `start`:
        the points before it were walked (`walk`, left there), only the rest lie inside the band."""
        symbol = c.symbol
        mark = self._last_walk_mark.get(symbol)
        marks: list[Decimal] = []
        if trailing:
            prices = list(self._path_of(c)[start:])
            for price in prices:  # the mark moves only where the walked price changed it
                if price != mark:
                    marks.append(price)
                    mark = price
        else:
            # Only the last price and the last mark are left behind, and the walk ends on the close
            # (a mark moves there unless every price walked was the last mark).
            close = c.close
            prices = [close]
            if start:
                for price in self._path_of(c)[start:]:  # a loop: any() of a generator costs more
                    if price != mark:
                        marks.append(close)
                        break
            elif not (close == mark and c.open == mark and c.high == mark and c.low == mark):
                marks.append(close)
        if not self.sim.walk_quietly(symbol, prices, marks, trailing, prune):
            return False
        if not start:  # else `walk` did this at the candle's first point
            self._candle_tf[symbol] = _span_class(c.close_time - c.open_time)
            self.sim.on_bar(symbol, c.open_time, c.volume)  # as `walk`: the bar's liquidity (realistic fill model)
            self._traded.add(symbol)
        if marks:
            self._last_walk_mark[symbol] = marks[-1]
        return True

    def walk_quietly_run(
        self,
        symbol: str,
        open_time: int,
        close_time: int,
        close: Decimal,
        volume: Decimal,
        mark: Decimal | None,
        prune: bool,
    ) -> None:
        """What `walk_quietly(c, trailing=False, prune)` over a run of candles leaves behind, for the
        candle array path (backtest/candle_runs.py), which showed every price of the run inside the
        quiet band with no trailing stop working: the run's last candle's times, close and volume (no
        candle is made for it), `mark` the close of the last one of them that moved the walk's mark
        (None: none did). Only the last candle's bar counts for the liquidity model (each bar replaces
        the one before)."""
        self.sim.walk_quietly(symbol, [close], [] if mark is None else [mark], False, prune)
        if mark is not None:
            self._last_walk_mark[symbol] = mark
        self._candle_tf[symbol] = _span_class(close_time - open_time)
        self.sim.on_bar(symbol, open_time, volume)
        self._traded.add(symbol)

    def walk_mark(self, symbol: str) -> Decimal | None:
        """The mark the last walk of `symbol` left (None: none yet)."""
        return self._last_walk_mark.get(symbol)

    def execute(self, command: Command, time: int) -> SimResult:
        # USDT-M conditional orders go to the algo service since 2025-12-09 (FACTS.md §0);
        # as a plain order Binance rejects them with -4120.
        if isinstance(command, PlaceOrder) and command.order_type.is_conditional and self.market is _USDM:
            res = self.sim.execute_algo(command, time, views=False)
        else:
            res = self.sim.execute(command, time, views=False)
        if not res.ok and res.code is not None and issubclass(error_class(res.code), NoChangeNeeded):
            # "No need to change": the account already is as asked, as BinanceVenue reports it.
            return replace(res, ok=True, code=None, message=None)
        return res
