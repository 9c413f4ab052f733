"""The fast backtest path on the simulated market (`rulebot demo`): the index prices and book tops
at which nothing can act are folded.

The simulated market (feeds/simulated) gives an `IndexPrice` and a `MarkPrice` every second and,
after every trade, the `BookTop` that trade left: more than half of its events. The trade runs of
archive data (fast_trades.py) do not fit it: each trade sits between events of other series (its
book top, the next second's index and mark), so a run would never hold more than one trade. On
the event path every event goes through the venue and the engine, yet almost always

- an `IndexPrice` reaches neither: the venue ignores it, the engine has no handler for it, and its
  step only moves the engine's clock, which the event right after it, of the same millisecond (its
  `MarkPrice`), moves as well. It is folded when that next event is of its time, the engine has
  started, and its clock acts at none of it (`Engine.quiet_until`);
- a `BookTop` comes at the engine's time (its trade printed at the same millisecond): the venue
  notes the quotes and acts only on an isolated position whose bankruptcy price the bid or ask
  reaches or a resting limit they quote through; the engine notes bid and ask and runs the rules
  of a `book` trigger. It is folded (`SimExchange.fold_book`, `Engine.fold_book`: what their steps
  leave) when no rule has that trigger, the margin is isolated, and the bid and ask lie strictly
  inside the simulator's quiet band (`quiet_band`, as for folded trades).

A `MarkPrice` is not folded (it values positions, feeds the volatility meter and runs the rules of
`mark_price`), but inside the quiet band it is taken quietly (`QuietMarks`, below).

A folded event still counts as an event (`TradeCounts.folded`, by symbol). The sample, the funding
slot and the start of the run fall where they did: a folded event's time is that of the event
handed on next (an index) or of the one before it (a book top). The result is the event path's to
the last Decimal (tests/backtest/test_fast_quotes.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from rulebot.core.enums import MarginType
from rulebot.core.events import BookTop, IndexPrice, MarkPrice
from rulebot.engine.market import BOOK_LAG_MS

if TYPE_CHECKING:
    from rulebot.backtest.fast_trades import SymbolBands, TradeCounts
    from rulebot.engine.engine import Engine
    from rulebot.exchange_sim import SimExchange
    from rulebot.session import Session
    from rulebot.venues.paper import PaperVenue


class QuoteFolds:
    """Passes the simulated market's events on, folding those at which nothing can act (see above)."""

    def __init__(
        self,
        engine: Engine,
        sim: SimExchange,
        bands: SymbolBands,
        counts: TradeCounts,
        walk_before: int,
    ) -> None:
        self.engine, self.sim, self.counts = engine, sim, counts
        self.walk_before = walk_before  # the warm-up (backtest/warmup.py) feeds every event to the markets
        self._bands = bands  # the simulator's quiet band of each symbol in floats, kept inside (None: unbounded)
        self._books = ("book", None) not in engine.rules.keys and engine.book.margin_type is MarginType.ISOLATED

    def expand(self, events: Iterable[object]) -> Iterator[object]:
        engine, st, counts = self.engine, self.engine.state, self.counts
        by_symbol = counts.by_symbol
        books, walk_before = self._books, self.walk_before
        fold_book, quiet_book = engine.fold_book, self._quiet_book
        it = iter(events)
        seen = None  # the time of the last event handed on
        event: Any = next(it, None)  # a market event: its type is read once, below, not narrowed
        while event is not None:
            kind, time = type(event), event.time
            if kind is IndexPrice:
                after: Any = next(it, None)
                if (
                    after is not None
                    and after.time == time
                    and st.started
                    and time >= walk_before
                    and (time <= st.time or time < engine.quiet_until())
                ):
                    counts.folded += 1
                    counts.quotes += 1
                    by_symbol[event.symbol] = by_symbol.get(event.symbol, 0) + 1
                else:
                    yield event
                    seen = time
                counts.quote_events += 1
                event = after
                continue
            if kind is BookTop and books:
                counts.quote_events += 1
                if time == seen and time == st.time and st.started and time >= walk_before and quiet_book(event):
                    self.sim.fold_book(event.symbol, event.bid, event.bid_qty, event.ask, event.ask_qty)
                    fold_book(event)
                    counts.folded += 1
                    counts.quotes += 1
                    by_symbol[event.symbol] = by_symbol.get(event.symbol, 0) + 1
                    event = next(it, None)
                    continue
            yield event
            seen = time
            event = next(it, None)

    def _quiet_book(self, book: BookTop) -> bool:
        """The bid and ask lie strictly inside the simulator's quiet band of the symbol, and the book
        closes none of its candles (`MarketEvents._clock`: their rules run)."""
        run = self.engine.state.runs.get(book.symbol)
        if run is not None and book.time - BOOK_LAG_MS >= run.market.next_close:
            return False
        edges = self._bands.edges(book.symbol)
        if edges is None:
            return False
        lo, hi = edges
        bid, ask = float(book.bid), float(book.ask)
        return lo < bid < hi and lo < ask < hi


class QuietMarks:
    """Mark prices the venue and the engine's price checks take quietly (`FastSession.market`).

    A `MarkPrice` goes through the simulator (margin calls, liquidations, stops on the mark) and the
    engine (the valuation, the volatility meter, the price guards, the rules of `mark_price`). Strictly
    inside the band where the simulator does nothing but note it (`quiet_band`) and where the daily loss
    cap is unreached and the margin ratio clearly below its limit (`fast_path.engine_band`; flat: the cap
    shown unreached, `cap_unreached_flat`), with no price check pending and before the engine's clock
    acts, the venue only notes it (`PaperVenue.fold_mark`: the quotes, the trailing stops on the mark)
    and the engine takes it as a quiet close (`Engine.on_quiet_candle`: those two checks not repeated,
    everything else as ever). The band is drawn again after anything happened (`changes`), a day roll
    or a breach.
    """

    def __init__(
        self,
        session: Session,
        venue: PaperVenue,
        symbol: str,
        changes: Callable[[], int],
        edges: Callable[[], tuple[float, float] | None],
    ) -> None:
        self.session, self.venue, self.engine, self.symbol = session, venue, session.engine, symbol
        self.changes, self._draw = changes, edges
        self._changes = -1
        self._today: object = None
        self._breach: int | None = None
        self._edges: tuple[float, float] | None = None
        self.counts: TradeCounts | None = None  # where the summary's count of quiet marks is kept

    def fold(self, m: MarkPrice) -> bool:
        """Take `m` quietly when it lies inside the band; False, with nothing done, when it does not."""
        engine = self.engine
        st = engine.state
        if m.bar_high is not None:
            return False  # a mark-price kline: walked with its candle (venues/paper.py)
        counts = self.counts
        if counts is not None:
            counts.mark_events += 1
        if m.symbol != self.symbol:
            return False
        if m.time > st.time and m.time >= engine.quiet_until():
            return False  # the clock acts first: orders may move
        edges = self.edges()
        if edges is None or not edges[0] < float(m.mark_price) < edges[1]:
            return False
        if not self.venue.fold_mark(m):
            return False
        if counts is not None:
            counts.marks += 1
        self.session.engine_step(m, quiet=True)
        return True

    def edges(self) -> tuple[float, float] | None:
        """The band, as float edges kept inside it, of the prices at which the symbol's price checks act
        nowhere: the simulator's `on_mark_price` notes the price, the daily loss cap is unreached and the
        margin ratio clearly below its limit. None, whatever the price, before the start or with a price
        check pending. Also the band of a trade at which the once-a-second valuation falls due
        (backtest/fast_trades.py), taken quietly there."""
        engine = self.engine
        st = engine.state
        if not st.started or engine.price_check_pending():
            return None
        changes, today, breach = self.changes(), st.portfolio.today, st.daily_breach_day
        if changes != self._changes or today is not self._today or breach != self._breach:
            self._changes, self._today, self._breach = changes, today, breach
            self._edges = self._draw()
        return self._edges
