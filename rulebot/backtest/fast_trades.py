"""The fast backtest path on trade data: only the trades at which something can act are walked.

On the event path every trade goes through the simulator (fills, triggers, bankruptcy) and the
engine (candles, mark, the price guards, `on: trade` rules). Almost every trade does nothing there
but move the last price and the candle being built: the engine values positions and runs its price
guards once a second, the derived mark moves once a second, rules fire on candle closes. So a
`TradeRun` (feeds/trade_runs.py: the trades of one minute) is walked trade by trade only at

- its first and its last trade (the candle opens or closes there; the last leaves the quotes);
- each trade at which the equity curve takes a sample, or the engine's clock makes it act (`quiet_until`);

and the trades between two of those are folded into the candle being built (high, low, close and
the float volume summed in the same order), the engine's last price, mark and clock left at the
last folded trade's (the venue handles the next trade first, and the engine hears of its fills at
those), provided nothing could act on them: every price strictly inside the simulator's quiet band
(no stop, take-profit, resting limit, bankruptcy or margin call in reach, `exchange_sim/quiet.py`),
no trailing stop working, no `on: trade` rule of the symbol's state that a price in the stretch
could fire (its condition is false over the stretch's price range, trade_screen.py). Otherwise
they are walked too. With the realistic fill model the folded trades still count toward their
minute's volume, the cap on our fills (`SimExchange.fold_trades`).

A trade at which the engine's once-a-second valuation or the venue's derived mark falls due is
folded too when its price also lies inside the band where the daily loss cap is unreached and the
margin ratio clearly below its limit (`QuietMarks.edges`, the fast path's band for mark prices):
there the valuation's checks act nowhere, and what it leaves is done in place (`Engine.take_second`:
the volatility meter with the same floats in the same order, the valuation's time, the margin
check's throttle; `PaperVenue.fold_derived_mark`: the mark and its time). Where the volatility
breaker would trip or clear, or outside that band, the trade is walked. The result is the event
path's to the last Decimal (`tests/backtest/test_fast_trades.py`, `test_fast_seconds.py`).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field

from rulebot.backtest.fast_quotes import QuietMarks, QuoteFolds
from rulebot.backtest.trade_screen import Screen, compile_screen
from rulebot.engine.engine import Engine
from rulebot.engine.state import SymbolRun
from rulebot.exchange_sim import SimExchange
from rulebot.exchange_sim.quiet import Band
from rulebot.feeds.replay import ReplaySource
from rulebot.feeds.simulated.market import SimulatedMarket
from rulebot.feeds.trade_runs import RunColumns, TradeRun
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
        # The band where the valuation falls due quietly (the fast path's, `FastSession.marks`; None: walked).
        self.marks: QuietMarks | None = None

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
        trade, times = cols.trade, cols.times
        i, last = 0, len(times) - 1
        yield trade(i)
        i += 1
        while i < last:
            end = self._end(cols.symbol, times, i, last)
            if end > i:
                i = yield from self._stretch(run, cols, i, end)
                if i < end:
                    continue  # a trade was walked inside: anything may have moved, look again
            yield trade(end)
            i = end + 1
        if i == last:
            yield trade(last)

    def _end(self, symbol: str, times: list[int], i: int, last: int) -> int:
        """The first trade of `times[i:last + 1]` walked whatever its price: the equity sample falls
        due at it, or the engine's clock acts at the trade after it."""
        j = bisect_left(times, self.next_sample(), i, last)
        at = bisect_left(times, self.engine.quiet_until(), i, last + 1)
        if at <= j:
            # The clock acts before the trade at `at` is handled (a timer's rule, the protective
            # stop...): it reads what the trade before left (mark, price), so that one is walked.
            j = max(i, at - 1)
        return j

    def _stretch(self, run: TradeRun, cols: RunColumns, i: int, end: int) -> Generator[object, None, int]:
        """Fold what can be folded of the trades `[i, end)`, taking those at which the once-a-second
        valuation or derived mark falls due quietly where the band allows (`Engine.take_second`), and
        walk the rest; returns where it stopped: `end`, or the trade after those it walked (the state
        may have moved there)."""
        symbol, times, prices = cols.symbol, cols.times, cols.prices
        quiet = _Screened(self, symbol).quiet  # is a stretch of prices [bottom, top] foldable now?
        sec_due, mark_due = self._seconds(symbol)
        due_edges: tuple[float, float] | bool | None = False  # drawn when a due trade first needs it
        fold = _Fold(self, run, cols, i)
        s = i
        while s < end:
            k = bisect_left(times, sec_due if sec_due < mark_due else mark_due, s, end)
            top, bottom = fold.top, fold.bottom
            if k > s:
                seg = prices[s:k]
                top, bottom = max(top, max(seg)), min(bottom, min(seg))
                if not quiet(bottom, top):
                    if fold.start < s:  # the stretch before may fold on its own, and this part alone
                        fold.flush(s)
                        continue
                    # As before due trades were folded: the part and the due trade that ends it are walked.
                    k = min(k + 1, end)
                    for n in range(s, k):
                        yield cols.trade(n)
                    return k
                fold.top, fold.bottom = top, bottom
            if k == end:
                break
            # The trade at `k`, at which the valuation or the derived mark falls due.
            p, t = prices[k], times[k]
            top, bottom = max(top, p), min(bottom, p)
            ok = quiet(bottom, top)
            if not ok and fold.start < k:
                fold.flush(k)  # the trade at `k` may be quiet on its own
                s = k
                continue
            if ok and t >= sec_due:
                if due_edges is False:
                    marks = self.marks
                    due_edges = marks.edges() if marks is not None and marks.symbol == symbol else None
                ok = (
                    due_edges is not None
                    and due_edges[0] < p < due_edges[1]  # type: ignore[index]
                    and self.engine.take_second(symbol, t, p)
                )
            if not ok:
                fold.flush(k)
                yield cols.trade(k)
                return k + 1
            if t >= sec_due:
                sec_due = t + _EVERY_MS
            if t >= mark_due:
                mark_due = t + _EVERY_MS
                fold.mark = k
            fold.top, fold.bottom = top, bottom
            s = k + 1
        fold.flush(end)
        return end

    def _seconds(self, symbol: str) -> tuple[float, float]:
        """When the engine's once-a-second valuation and the venue's derived mark next fall due (inf:
        never, a mark stream drives the symbol)."""
        engine = self.engine
        sym_run = engine.state.runs.get(symbol)
        sec_due: float = math.inf
        if sym_run is not None and not sym_run.market.has_mark:
            sec_due = engine.state.last_loss_check + _EVERY_MS
        mark_at = self.venue.derived_mark_time(symbol)
        mark_due = math.inf if mark_at is None else mark_at + _EVERY_MS
        return sec_due, mark_due

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


class _Screened:
    """Whether a stretch of the symbol's trades priced within [bottom, top] may be folded now (`quiet`):
    every price strictly inside the simulator's quiet band, no `on: trade` rule of the state firing on
    it. The rules are screened first and the band drawn only then: after a walked trade that fired a
    rule the band is stale, and where rules keep firing it would be drawn for nothing."""

    __slots__ = ("band", "hi_seen", "lo_seen", "owner", "rules", "sym_run", "symbol")

    def __init__(self, owner: FastTrades, symbol: str) -> None:
        self.owner, self.symbol = owner, symbol
        self.band: tuple[float, float] | bool | None = False  # False: not drawn yet
        self.lo_seen, self.hi_seen = math.inf, -math.inf  # a range the rules were screened quiet over
        sym_run = owner.engine.state.runs.get(symbol)
        self.sym_run, self.rules = sym_run, None
        if sym_run is not None and sym_run.market.has_trades:
            rules = owner._dispatch.get((_TRADE_KEY, sym_run.state))
            if not (rules and owner.engine.record_all):  # else each evaluation is a journaled decision
                self.rules = rules or ()

    def quiet(self, bottom: float, top: float) -> bool:
        rules, sym_run = self.rules, self.sym_run
        if rules is None or sym_run is None:
            return False
        if rules and not (self.lo_seen <= bottom and top <= self.hi_seen):
            if not self.owner._rules_quiet(rules, sym_run, self.symbol, bottom, top):
                return False
            self.lo_seen, self.hi_seen = bottom, top
        band = self.band
        if band is False:
            band = self.band = self.owner._bands.edges(self.symbol)
        return band is not None and band[0] < bottom and top < band[1]  # type: ignore[index]


class _Fold:
    """The stretch of a run's trades being folded (`FastTrades._stretch`): from `start`, its highest and
    lowest price, the last trade at which the venue's derived mark fell due (-1: none)."""

    __slots__ = ("bottom", "cols", "mark", "owner", "run", "start", "top")

    def __init__(self, owner: FastTrades, run: TradeRun, cols: RunColumns, start: int) -> None:
        self.owner, self.run, self.cols = owner, run, cols
        self.start, self.top, self.bottom, self.mark = start, -math.inf, math.inf, -1

    def flush(self, upto: int) -> None:
        """Fold the trades `[start, upto)`: what walking them leaves, the once-a-second work at those
        where it fell due already done (`Engine.take_second`), then start again at `upto`."""
        a = self.start
        if upto > a:
            owner, run, cols = self.owner, self.run, self.cols
            symbol, times, chunk, lo = cols.symbol, cols.times, run.chunk, run.lo
            k = upto - 1  # the stretch's last trade, which the engine takes as a trade
            qtys = chunk.qtys[lo + a : lo + k].tolist()
            owner.engine.fold_trades(symbol, self.top, self.bottom, times[k], cols.price(k), cols.qty(k), qtys)
            if owner._volume:  # the realistic model's bar volume counts every trade
                qty = chunk.qty_values.__getitem__
                owner.sim.fold_trades(symbol, times[a], map(qty, chunk.qty_index[lo + a : lo + upto].tolist()))
            if self.mark >= 0:
                owner.venue.fold_derived_mark(symbol, times[self.mark], cols.price(self.mark))
            counts = owner.counts
            counts.folded += upto - a
            counts.by_symbol[symbol] = counts.by_symbol.get(symbol, 0) + upto - a
        self.start, self.top, self.bottom, self.mark = upto, -math.inf, math.inf, -1


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
