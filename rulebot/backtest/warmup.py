"""Warm-up in a backtest: indicators learn on the data before `--from`, and the summary says
whether each one had the history it needs.

Before `--from`, events go to the symbols' markets only (candles, indicators, look-backs, the
volatility meter): no rule runs, no order is placed, nothing is counted. The live bot does the
same with REST klines at start (runtime/warmup.py), taking `CONVERGE` times the longest need
so that an EMA no longer remembers its seed; a backtest reads as much of the data before
`--from`, so both start from about the same indicator values.

After the run each need (rulebook/history.py) is one of: ready at the start, ready some time
into the run (its rules could not fire before), or never ready, which is a warning: the rules
that read it could not fire at all, so they made 0 trades.
"""

from __future__ import annotations

from dataclasses import dataclass

from rulebot.core.events import BookTop, CandleClosed, FundingRate, MarkPrice, Trade
from rulebot.engine.candles import Candle, CandleBuilder
from rulebot.engine.engine import Engine
from rulebot.engine.market import BOOK_LAG_MS, SymbolMarket
from rulebot.rulebook.compiled import CompiledRulebook
from rulebot.rulebook.history import HistoryNeed, duration_text, history_needs, timeframe_ms

CONVERGE = 3  # as runtime/warmup.py: history read per candle of warm-up
_TRADE, _MARK = ("trade", None), ("mark_price", None)  # the dispatch keys of trades and mark prices
_CHECK_MS = 60_000  # readiness is looked at once a minute of data: the summary's resolution


def lead_ms(book: CompiledRulebook) -> int:
    """How far before `--from` the data is read: CONVERGE times the longest need, and one candle
    of the longest timeframe for the candle already forming at that time (with no need too: a
    `--from` inside an hour must not close that hour's candle on its last part alone)."""
    needs = history_needs(book)
    longest = max((n.ms for n in needs), default=0)
    candle = max((timeframe_ms(tf) for tf in book.timeframes), default=0)
    return CONVERGE * longest + candle


def read_from(book: CompiledRulebook, trade_from: int) -> int:
    """Where the data before `trade_from` is read from: `lead_ms` before it, moved back to the start
    of a bucket of every timeframe, so that the first candle of none is built from part of its
    bucket (engine/candles.py would skip it, a candle of warm-up lost)."""
    at = max(0, trade_from - lead_ms(book))
    builders = [CandleBuilder(tf) for tf in book.timeframes]
    while True:  # 3d and 1w buckets do not nest: each moves back to a start of the others' in turn
        start = min((b.bucket(at) for b in builders), default=at)
        if start == at or start < 0:
            return max(0, start)
        at = start


@dataclass(frozen=True, slots=True)
class NeedOutcome:
    """One need and when it was met: `ready_at` None means never."""

    need: HistoryNeed
    ready_at: int | None  # on every symbol
    # (symbol, why) for each symbol whose data could never give the need's candles
    unmade: tuple[tuple[str, str], ...] = ()
    # (symbol, time) for each symbol it was met on: several symbols' data may start apart
    by_symbol: tuple[tuple[str, int], ...] = ()

    def as_dict(self, trade_from: int) -> dict[str, object]:
        return {
            "name": self.need.name,
            "timeframe": self.need.timeframe,
            "candles": self.need.candles,
            "ms": self.need.ms,
            "rules": list(self.need.rules),
            "ready_at": self.ready_at,
            "ready_at_start": self.ready_at is not None and self.ready_at <= trade_from,
            "ready_at_by_symbol": dict(self.by_symbol),
        }


@dataclass(frozen=True, slots=True)
class WarmupReport:
    """What the warm-up did: `data_from` is the first event read (warm-up included),
    `trade_from` the first event traded, `warm_events` how many events came before it."""

    data_from: int | None
    trade_from: int
    end: int
    warm_events: int
    outcomes: tuple[NeedOutcome, ...]
    missing_ms: int = 0  # of the time between data_from and trade_from, what the data does not hold (gaps)

    def warnings(self) -> tuple[str, ...]:
        """One loud line per need the data could never meet."""
        had = duration_text(max(0, self.end - (self.data_from or self.trade_from)))
        out = []
        for o in self.outcomes:
            if o.ready_at is not None:
                continue
            n = o.need
            rules = (
                f"rules reading it ({', '.join(n.rules)}) could never fire: 0 trades are possible from them"
                if n.rules
                else "no rule reads it directly"
            )
            if o.unmade:
                whys = "; ".join(
                    f"no {n.timeframe} candle of {symbol} could be made: {why}" for symbol, why in o.unmade
                )
                where = ", ".join(symbol for symbol, _ in o.unmade)
                fire = f"rules reading it ({', '.join(n.rules)}) could never fire on {where}" if n.rules else rules
                out.append(
                    f"{n.name} never warmed up: {whys}; {fire}. A {n.timeframe} candle is built from trades or "
                    f"rolled up from klines of {n.timeframe} or of a shorter interval that divides it: add those "
                    "(e.g. 1m klines) with --data"
                )
                continue
            out.append(
                f"{n.name} never warmed up: it needs {n.candles} × {n.timeframe} = {duration_text(n.ms)} of "  # noqa: RUF001
                f"history and the data held {had}; {rules}. Give more data (before --from, it warms up)"
            )
        return tuple(out)


class Warmup:
    """Feeds the events before `trade_from` to the markets and watches the needs being met."""

    def __init__(self, book: CompiledRulebook, engine: Engine, trade_from: int | None) -> None:
        self.until = trade_from if trade_from is not None else -(1 << 62)
        self._runs = engine.state.runs
        self._markets: dict[str, SymbolMarket] = {s: run.market for s, run in self._runs.items()}
        # The previous values crossovers compare with, kept through the warm-up as the dispatch keeps them.
        self._remember = engine.rules.remember
        self._needs = history_needs(book)
        # The env key whose readiness stands for the need (an indicator's first output).
        self._keys = {n.name: _key(book, n.name) for n in self._needs}
        self._ready: dict[str, dict[str, int]] = {n.name: {} for n in self._needs}  # need -> symbol -> time
        self.pending = bool(self._needs)
        self.events = 0
        self.first: int | None = None
        self.trade_from: int | None = None
        self._next_check = 0
        self._last_vol: dict[str, int] = {}

    def feed(self, event: object) -> None:
        """An event before `trade_from`: into its symbol's market, where no rule runs."""
        time: int = event.time  # type: ignore[attr-defined]
        if self.first is None:
            self.first = time
        self.events += 1
        symbol = getattr(event, "symbol", "")
        market = self._markets.get(symbol)
        if market is None:
            return
        vol = self._runs[symbol].volatility
        remember = self._remember
        if isinstance(event, Trade):
            self._closed(symbol, market, market.trade_closes(event.time, event.price, event.qty))
            remember(symbol, _TRADE)
            if time - self._last_vol.get(symbol, -1000) >= 1000:  # once a second, as the engine does
                self._last_vol[symbol] = time
                vol.update(time, float(event.price))
        elif isinstance(event, CandleClosed):
            self._closed(symbol, market, market.candle_closes(event))
            if not market.has_trades and market.price_candle_ms == event.close_time - event.open_time + 1:
                remember(symbol, _TRADE)  # the close is the tick of candle-only data (market_events.py)
                if not market.has_mark:
                    remember(symbol, _MARK)
            if market.last is not None:
                vol.update(event.close_time, float(market.last))
        elif isinstance(event, (MarkPrice, BookTop, FundingRate)):
            at = time
            if isinstance(event, MarkPrice):
                market.on_mark(event)
                remember(symbol, _MARK)
                vol.update(time, float(event.mark_price))
            elif isinstance(event, BookTop):
                market.on_book(event)
                at -= BOOK_LAG_MS
            else:
                market.on_funding(event)
            if at >= market.next_close:  # its trade-built candles that are over close (MarketEvents._clock)
                self._closed(symbol, market, market.clock_closes(at))
        if self.pending and time >= self._next_check:
            self.check(time)

    def _closed(self, symbol: str, market: SymbolMarket, closed: list[Candle]) -> None:
        """The candles an event closed (in order) into the market, and each key's `prev.` values kept, one
        close time at a time as the dispatch keeps them (MarketEvents._closed)."""
        done = 0
        while done < len(closed):
            start, done = done, market.publish_from(closed, done)
            for j in range(start, done):
                self._remember(symbol, ("candle_close", closed[j].timeframe))

    def start(self, time: int) -> None:
        """The first traded event: what is ready now was ready before any rule ran."""
        self.trade_from = time
        if self.pending:
            self.check(time)

    def check(self, time: int) -> None:
        """Note the needs met by `time` (called once a minute of data until all are met)."""
        self._next_check = time - time % _CHECK_MS + _CHECK_MS
        markets = self._markets
        pending = False
        for name, key in self._keys.items():
            ready = self._ready[name]
            if len(ready) == len(markets):
                continue
            for symbol, market in markets.items():
                if symbol not in ready and key not in market.not_ready:
                    ready[symbol] = time
            pending = pending or len(ready) < len(markets)
        self.pending = pending

    def report(self, end: int, missing_ms: int = 0) -> WarmupReport:
        if self.pending:
            self.check(end)
        start = self.trade_from if self.trade_from is not None else end
        outcomes = []
        for n in self._needs:
            by_symbol = self._ready[n.name]
            ready = max(by_symbol.values()) if len(by_symbol) == len(self._markets) and by_symbol else None
            unmade = () if ready is not None else self._unmade(n.timeframe)
            outcomes.append(NeedOutcome(n, ready, unmade, tuple(sorted(by_symbol.items()))))
        first = self.first if self.first is not None else start
        return WarmupReport(first, start, end, self.events, tuple(outcomes), missing_ms)

    def _unmade(self, timeframe: str) -> tuple[tuple[str, str], ...]:
        """The symbols of which no `timeframe` candle could be made, and why: neither trades nor klines
        that roll up into it (klines of 4h only, for a 15m EMA). Empty when every symbol could make them."""
        out = []
        for symbol, market in self._markets.items():
            if timeframe not in market.source or market.source[timeframe] is not None or market.has_trades:
                continue
            given = sorted(market.sourced, key=timeframe_ms)
            had = f"its klines are {', '.join(given)}" if given else "the data has no trades or klines of it"
            out.append((symbol, had))
        return tuple(out)


def _key(book: CompiledRulebook, name: str) -> str:
    for ind in book.indicators:
        if ind.name == name and ind.outputs:
            return f"{name}.{ind.outputs[0]}"
    return name
