"""The fast backtest path on trade data: only the trades at which something can act are walked.

On the event path every trade goes through the simulator (fills, triggers, bankruptcy) and the
engine (candles, mark, the price guards, `on: trade` rules). Almost every trade does nothing there
but move the last price and the candle being built: the engine values positions and runs its price
guards once a second, the derived mark moves once a second, rules fire on candle closes. So a
`TradeRun` (feeds/trade_runs.py: the trades of one minute) is walked trade by trade only at

- its first and its last trade (the candle opens or closes there; the last leaves the quotes);
- each trade at which the engine's once-a-second valuation or the venue's derived mark falls due,
  the equity curve takes a sample, or the engine's clock makes it act (`quiet_until`);

and the trades between two of those are folded into the candle being built (high, low, close and
the float volume summed in the same order), the engine's last price, mark and clock left at the
last folded trade's (the venue handles the next trade first, and the engine hears of its fills at
those), provided nothing could act on them: every price
strictly inside the simulator's quiet band (no stop, take-profit, resting limit, bankruptcy or
margin call in reach, `exchange_sim/quiet.py`), no trailing stop working, no `on: trade` rule of
the symbol's state that a price in the stretch could fire (its condition is false over the
stretch's price range, trade_screen.py). Otherwise they are walked too. With the realistic fill
model the folded trades still count toward their minute's volume, the cap on our fills
(`SimExchange.fold_trades`). The result is the event path's to the last Decimal (`tests/backtest/test_fast_trades.py`).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from rulebot.backtest.fast_quotes import QuoteFolds
from rulebot.backtest.trade_screen import Screen, compile_screen
from rulebot.engine.engine import Engine
from rulebot.engine.state import SymbolRun
from rulebot.exchange_sim import SimExchange
from rulebot.exchange_sim.quiet import Band
from rulebot.feeds.replay import ReplaySource
from rulebot.feeds.simulated.market import SimulatedMarket
from rulebot.feeds.trade_runs import TradeRun
from rulebot.rulebook.compiled import CompiledRule
from rulebot.venues.paper import PaperVenue

_EVERY_MS = 1000  # the engine's valuation and the venue's derived mark, once a second
_TRADE_KEY = ("trade", None)
# Float prices are compared with the band's Decimal edges kept this much (relative) inside them:
# float(Decimal) rounds by at most 1.2e-16, so a price that passes is strictly inside the band.
_ROOM = 1e-12


@dataclass(slots=True)
class TradeCounts:
    trades: int = 0  # trades that came in runs
    folded: int = 0  # of those, not walked one by one, and the index prices and book tops folded
    by_symbol: dict[str, int] = field(default_factory=dict)  # folded, by symbol
    quote_events: int = 0  # index prices and book tops of the simulated market (fast_quotes.py)
    quotes: int = 0  # of those, folded
    mark_events: int = 0  # mark prices the fast path looked at (fast_quotes.QuietMarks) ...
    marks: int = 0  # ... and took quietly


class FastTrades:
    """Expands the `TradeRun`s of a replay into the trades that must be walked (see above)."""

    def __init__(
        self,
        engine: Engine,
        sim: SimExchange,
        venue: PaperVenue,
        next_sample: Callable[[], int],
        changes: Callable[[], int],
        enabled: bool,
        walk_before: int = -(1 << 62),
    ) -> None:
        self.engine, self.sim, self.venue = engine, sim, venue
        self.next_sample, self.changes, self.enabled = next_sample, changes, enabled
        self.walk_before = walk_before  # the warm-up (backtest/warmup.py) feeds every trade to the markets
        self.counts = TradeCounts()
        self._bands = SymbolBands(changes, self._trade_edges)
        self._dispatch = engine.book.dispatch
        self._volume = sim.counts_volume
        self._screens: dict[int, Screen] = {}  # each `on: trade` rule's screen (trade_screen.py), by rule index

    def expand(self, events: Iterable[object]) -> Iterator[object]:
        if isinstance(events, ReplaySource) and not events.gives_runs:
            return iter(events)  # no run to expand: no layer that looks at every event to pass it on
        if isinstance(events, SimulatedMarket):  # no trade runs, but index prices and book tops to fold
            if not self.enabled:
                return iter(events)
            bands = SymbolBands(self.changes, self._sim_edges)
            return QuoteFolds(self.engine, self.sim, bands, self.counts, self.walk_before).expand(events)
        return self._expand(events)

    def _sim_edges(self, symbol: str) -> tuple[float, float] | None:
        band = self.sim.quiet_band(symbol)
        return None if band is None else float_edges(band)

    def _trade_edges(self, symbol: str) -> tuple[float, float] | None:
        """The band for trades: none while a trailing stop follows the symbol's trades."""
        return None if self.sim.has_trailing_stop(symbol) else self._sim_edges(symbol)

    def _expand(self, events: Iterable[object]) -> Iterator[object]:
        for event in events:
            if type(event) is TradeRun:
                self.counts.trades += len(event)
                if self.enabled and event.time >= self.walk_before:
                    yield from self._run(event)
                else:
                    yield from event.trades()
            else:
                yield event

    def _run(self, run: TradeRun) -> Iterator[object]:
        cols = run.columns()  # the run's rows as lists, indexed from 0
        chunk, symbol, lo = run.chunk, cols.symbol, run.lo
        trade, times = cols.trade, cols.times
        i, last = 0, len(times) - 1
        yield trade(i)
        i += 1
        while i < last:
            due, clock = self._due(symbol)
            j = bisect_left(times, due, i, last)
            at = bisect_left(times, clock, i, last + 1)
            if at <= j:
                # The clock acts before the trade at `at` is handled (a timer's rule, the protective
                # stop...): it reads what the trade before left (mark, price), so that one is walked.
                j = max(i, at - 1)
            if j > i:
                quiet = self._quiet(symbol, cols.prices, i, j)
                if quiet is not None:
                    qtys = chunk.qtys[lo + i : lo + j - 1].tolist()
                    k = j - 1  # the stretch's last trade, which the engine takes as a trade
                    self.engine.fold_trades(symbol, *quiet, times[k], cols.price(k), cols.qty(k), qtys)
                    if self._volume:  # the realistic model's bar volume counts every trade
                        qty = chunk.qty_values.__getitem__
                        self.sim.fold_trades(
                            symbol,
                            times[i],
                            map(qty, chunk.qty_index[lo + i : lo + j].tolist()),
                        )
                    self.counts.folded += j - i
                    self.counts.by_symbol[symbol] = self.counts.by_symbol.get(symbol, 0) + j - i
                else:
                    for k in range(i, j):
                        yield trade(k)
                i = j
            yield trade(i)
            i += 1
        if i == last:
            yield trade(last)

    def _due(self, symbol: str) -> tuple[int, int]:
        """The first time at which a trade must be walked (a once-a-second valuation or derived
        mark, an equity sample) and the first at which the engine's clock acts."""
        engine = self.engine
        due = self.next_sample()
        if not engine.state.runs[symbol].market.has_mark:
            due = min(due, engine.state.last_loss_check + _EVERY_MS)
        mark_at = self.venue.derived_mark_time(symbol)
        if mark_at is not None:
            due = min(due, mark_at + _EVERY_MS)
        return due, engine.quiet_until()

    def _quiet(self, symbol: str, prices: list[float], i: int, j: int) -> tuple[float, float] | None:
        """The highest and lowest of `prices[i:j]` (a stretch of trades) when nothing can act on them, else None."""
        sym_run = self.engine.state.runs.get(symbol)
        if sym_run is None or not sym_run.market.has_trades:
            return None
        rules = self._dispatch.get((_TRADE_KEY, sym_run.state))
        if rules and self.engine.record_all:
            return None  # every evaluation of an on: trade rule is a journaled decision
        edges = self._bands.edges(symbol)
        if edges is None:
            return None
        lo, hi = edges
        stretch = prices[i:j]
        top, bottom = max(stretch), min(stretch)
        if not (lo < bottom and top < hi):
            return None
        if rules and not self._rules_quiet(rules, sym_run, symbol, bottom, top):
            return None
        return top, bottom

    def _rules_quiet(
        self,
        rules: tuple[CompiledRule, ...],
        sym_run: SymbolRun,
        symbol: str,
        bottom: float,
        top: float,
    ) -> bool:
        """No `on: trade` rule of the state fires, journals a decision or fails on a trade priced
        within [bottom, top] (trade_screen.py), as the engine's dispatch would run them."""
        market = sym_run.market
        env, not_ready, state = market.env, market.not_ready, sym_run.state
        for rule in rules:
            if symbol not in rule.symbols or (not_ready and not rule.reads.isdisjoint(not_ready)):
                continue  # the dispatch passes it by
            when = rule.when
            if when is None or when.node is None:
                return False
            screen = self._screens.get(rule.index)
            if screen is None:
                screen = self._screens[rule.index] = compile_screen(when.node)
            if screen(env, state, (bottom, top), not market.has_mark) is not False:  # not sure never true
                return False
        return True


def describe(counts: TradeCounts) -> str:
    said = []
    if counts.trades:
        folded = counts.folded - counts.quotes
        said.append(
            f"{folded:,} of {counts.trades:,} trades folded into their candle (nothing could act on them), "
            f"{counts.trades - folded:,} walked one by one"
        )
    if counts.quote_events:
        said.append(
            f"{counts.quotes:,} of {counts.quote_events:,} index prices and book tops folded (nothing could act "
            "on them)"
        )
    if counts.marks:
        said.append(f"{counts.marks:,} of {counts.mark_events:,} mark prices taken quietly (nothing could act on them)")
    return "; ".join(said)


class SymbolBands:
    """Each symbol's quiet band in floats (`draw`), drawn again only when `changes()` moved: orders,
    positions and the wallet move only with a change. Kept by symbol: one symbol's band (unbounded
    while it holds nothing) says nothing of another's."""

    def __init__(self, changes: Callable[[], int], draw: Callable[[str], tuple[float, float] | None]) -> None:
        self._changes, self._draw = changes, draw
        self._kept: dict[str, tuple[int, tuple[float, float] | None]] = {}

    def edges(self, symbol: str) -> tuple[float, float] | None:
        changes = self._changes()
        kept = self._kept.get(symbol)
        if kept is None or kept[0] != changes:
            kept = self._kept[symbol] = (changes, self._draw(symbol))
        return kept[1]


def float_edges(band: Band) -> tuple[float, float]:
    """The band's edges as floats kept `_ROOM` inside it (unbounded: infinite)."""
    lo, hi = band
    f_lo = -math.inf if lo is None else float(lo) + abs(float(lo)) * _ROOM
    f_hi = math.inf if hi is None else float(hi) - abs(float(hi)) * _ROOM
    return f_lo, f_hi
