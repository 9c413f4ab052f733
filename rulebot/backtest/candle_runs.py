"""The candle array path: runs of candles at which nothing can act are not stepped one by one.

The fast path (fast_path.py) already skips the price-by-price walk of a quiet candle, but still
steps the engine on each one: indicators, the candle's values, every `candle_close` rule, the
guards. Almost always no rule fires. This path takes the candles of a single kline series in
blocks and looks over a window of them at once for the first candle
at which something *may* act:

- a price outside the simulator's quiet band (an order in reach), a trailing stop working, the
  daily loss cap not shown unreached, the margin ratio near its limit (FastSession.quiet_edges),
  a pending price check;
- the engine's clock: a candle closing at or after the day roll, a timer, a state timeout, the
  protective-stop deadline, a retry or an order's expiry (`Engine._move_clock` would do more
  than move the clock);
- a hole in the series, the volatility breaker tripping or clearing;
- any `candle_close` rule of the symbol's state whose condition is not *certainly false* on the
  candle (candle_screen.py, over the window's columns: candle values, indicators computed with
  the engine's own float operations (candle_series.py), prev values).

The candles before it are jumped: the engine and the venue are caught up to exactly what
stepping them would have left (market values and history, indicators, prev values, clock,
mark, volatility meter, margin-check throttle, quotes and walk mark), and the runner is handed a
`JumpedCandles` for its own per-candle bookkeeping (counts, funding slots, gaps, samples). The
candle found is stepped as ever, and the search starts again after it.

Not modelled, so stepped as before (never wrongly): a trailing stop, several timeframes or
symbols, look-backs, `trade` or `mark_price` rules (a candle's close is their tick), recorded
decisions, indicators not yet ready, conditions the screen does not model.
`tests/backtest/test_candle_runs.py` compares it with the event path and with stepping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from rulebot.backtest.candle_catchup import DispatchKey, dispatch_run, guards_run, market_run, walk_mark
from rulebot.backtest.candle_columns import MOVING, values, window_columns, with_prev
from rulebot.backtest.candle_meters import MeterWalk
from rulebot.backtest.candle_screen import Screen, compile_screen
from rulebot.backtest.candle_series import Block, Series, first_false, modelled, own_inputs
from rulebot.backtest.fast_path import FastSession
from rulebot.core.events import CandleClosed
from rulebot.engine.candles import timeframe_ms
from rulebot.engine.engine import Engine
from rulebot.feeds.kline_chunks import VOLUME, KlineChunk
from rulebot.rulebook.compiled import CompiledRule
from rulebot.venues.paper import PaperVenue

_BLOCK = 4096  # candles read ahead (a few hundred KB of objects the feed made anyway)
# A window grows from this while nothing is found in it: doubling once, then four times over. A window costs
# ~200 us whatever its length (numpy calls, the screen's tree, the series' set-up) and well under 1 us a
# candle more: on the bench's EMA cross (runs of 29 candles on average, 20 the median) 64 screens 1,612
# windows a month where 32 screened 2,095 (CandleRuns._jump 143 -> 122 us a call). Each window screens
# from the run's first candle again, so a long quiet run costs the sum of its windows: growing by 4 after
# the second, and starting the run after one that reached the block's end with the window that got there,
# the never-trading bench month screens 66,408 candles in 134 windows instead of 106,600 in 221, and the
# EMA cross 120,464 instead of 117,371 (a run longer than 128 candles is rare there).
_FIRST_WINDOW = 64
# A run this long starts the next one from its last window: on the never-trading bench year (runs of a
# day, cut by the day's roll) 1,494 -> 435 windows, 2.44 -> 2.27 s CPU in-process; the EMA cross screens its
# 20,106 windows as before (a run this long is rare there).
_LONG_RUN = 8 * _FIRST_WINDOW
_NO_RULES: tuple[CompiledRule, ...] = ()
_MISSING = object()


@dataclass(frozen=True, slots=True)
class JumpedCandles:
    """Candles the array path jumps, oldest first. The runner takes the sample due before them,
    then `catch_up()` leaves the engine and the venue as stepping them would, and the runner does
    its own per-candle bookkeeping (`open_time`: the first one's, `time` and `close`: the last one's,
    as the span of the run; `drawn`: the charted indicators at each; `times`, `times_np`, `closes`:
    the candles' close times, as a list and an array, and closes). No candle is made for it."""

    symbol: str
    timeframe: str
    open_time: int
    drawn: dict[str, list[float]]
    catch_up: Callable[[], None]
    times: list[int]
    times_np: np.ndarray
    closes: list[Decimal]
    close_order: np.ndarray | None  # the closes as floats, if those order them exactly (Block.close_order)

    @property
    def time(self) -> int:
        return self.times[-1]

    @property
    def close(self) -> Decimal:
        return self.closes[-1]


@dataclass(slots=True)
class RunCounts:
    jumped: int = 0  # candles not stepped one by one
    windows: int = 0  # windows screened
    cut: dict[str, int] = field(default_factory=dict)  # why a window ended before its end

    def note(self, why: str) -> None:
        self.cut[why] = self.cut.get(why, 0) + 1


@dataclass(frozen=True, slots=True)
class _StatePlan:
    rules: tuple[tuple[DispatchKey, CompiledRule, Screen], ...]
    reads: frozenset[str]  # every name its rules read, and their keys' prev names: the columns a window needs


class CandleRuns:
    """Expands the events of a replay, jumping runs of candles (see above)."""

    def __init__(self, engine: Engine, venue: PaperVenue, fast: FastSession | None, drawn: list[str]) -> None:
        self.engine, self.venue, self.fast = engine, venue, fast
        self.counts = RunCounts()
        self.symbol = engine.book.symbols[0]
        self.run = engine.state.runs[self.symbol]
        self.market = self.run.market
        self.drawn = tuple(drawn)
        self.src = ""  # the kline series' timeframe, from its first candle
        self._ready: bool | None = None  # the series' setup (`_setup`) allows jumps; None: not looked at yet
        self._plans: dict[str, _StatePlan | None] = {}
        self._first = _FIRST_WINDOW  # the next run's first window (_jump)
        self.why_not = self._refusal()

    def _refusal(self) -> str | None:
        """Why this backtest never jumps a candle run (None: it may)."""
        if self.fast is None:
            return "the fast path does not run"
        if self.engine.record_all:
            return "every decision is recorded"
        return None

    def _setup(self) -> bool:
        """Once the series' first candle was stepped: what each of its candles dispatches, and
        whether its runs can be jumped at all (every timeframe built from it, no look-back of it)."""
        eng, market, src = self.engine, self.market, self.src
        if src not in market.sourced or any(market.source.get(tf) != src for tf in market.timeframes):
            return False
        if market._lookbacks.get(src) or not own_inputs(market.indicators, src):
            return False
        self.publish = src in market.timeframes
        self.src_ms = timeframe_ms(src)
        self.rolled = [b for tf, b in market.builders.items() if tf != src]
        keys: list[DispatchKey] = [("candle_close", src)] if self.publish else []
        keys += [k for k in (("trade", None), ("mark_price", None)) if k in eng.rules.keys]
        self.keys = tuple(keys)
        self.prev = {key: tuple(n for n, _ in eng.rules._prev_slots.get(key, ())) for key in self.keys}
        if any(n in MOVING for names in self.prev.values() for n in names):
            return False  # a previous value of the clock: not modelled
        arrays = {"price", "mark_price", "index_price", "bid", "ask"}
        arrays |= {k for lv in market.indicators.live if lv.timeframe == src for k in lv.keys}
        if self.publish:
            arrays |= {f"{f}@{src}" for f in ("open", "high", "low", "close", "volume", "returns")}
        self.arrays = frozenset(arrays)
        return set(self.drawn) <= {k for lv in market.indicators.live for k in lv.keys}

    def expand(self, events: Iterable[object]) -> Iterable[object]:
        if self.why_not is not None:
            return events
        return self._expand(events)

    def _expand(self, events: Iterable[object]) -> Iterator[object]:
        buf: list[CandleClosed] = []
        symbol = self.symbol
        for ev in events:
            if type(ev) is KlineChunk:  # a chunk of the parser's candles: columns, no candle made yet
                if buf:
                    yield from self._block(buf)
                    buf = []
                if ev.symbol == symbol and ev.timeframe == (self.src or ev.timeframe):
                    self.src = ev.timeframe
                    yield from self._block(ev)
                else:
                    yield from ev.candles()
                continue
            if type(ev) is CandleClosed and ev.symbol == symbol:
                if not self.src:
                    self.src = ev.timeframe
                if ev.timeframe == self.src:
                    buf.append(ev)
                    if len(buf) >= _BLOCK:
                        yield from self._block(buf)
                        buf = []
                    continue
            if buf:
                yield from self._block(buf)
                buf = []
            yield ev
        if buf:
            yield from self._block(buf)

    def describe(self) -> str:
        """The summary's words on this path (appended to the fast path's)."""
        return f"{self.counts.jumped:,} of them jumped in whole runs, over arrays, without stepping each candle"

    # ------------------------------------------------------------------ a block

    def _block(self, bars: list[CandleClosed] | KlineChunk) -> Iterator[object]:
        """The block's candles, runs of them jumped; a chunk's candles are made only where stepped."""
        n = len(bars)
        if type(bars) is KlineChunk:
            candle, open_at, close_at = bars.candle, bars.open_time, bars.close_time
            span: Callable[[int], int] = lambda j: int(close_at[j] - open_at[j])  # noqa: E731
        else:
            cs: list[CandleClosed] = bars  # type: ignore[assignment]
            candle = lambda j: cs[j]  # noqa: E731
            span = lambda j: cs[j].close_time - cs[j].open_time  # noqa: E731
        cols: Block | None = None
        i = 0
        while i < n:
            k = i
            plan = self._plan(span(i))
            if plan is not None:
                if cols is None:
                    cols = Block(bars)
                if cols.ok:
                    k = self._jump(cols, i, plan)
                    if k > i:
                        done: list[bool] = []
                        catch_up = self._deferred(cols, i, k, done)
                        drawn = {d: self._drawn[d] for d in self.drawn}
                        times, closes = cols.close_time_list[i:k], cols.closes[i:k]
                        opened, times_np = cols.open_time[i], cols.close_time[i:k]
                        order = None if cols.close_order is None else cols.close_order[i:k]
                        run = (opened, drawn, catch_up, times, times_np, closes, order)
                        yield JumpedCandles(self.symbol, self.src, *run)
                        catch_up()  # once: a consumer that did not is caught up before anything else
            if k < n:
                yield candle(k)
            i = k + 1

    def _plan(self, span: int) -> _StatePlan | None:
        """The state's plan when candles from the next one on (`span`: its close time less its open
        time) may be jumped now, else None."""
        eng, market = self.engine, self.market
        st = eng.state
        if not st.started or st.time == 0 or market.has_mark or market.has_trades or market.has_book:
            return None
        if self._ready is None:
            if self.src not in market.sourced:
                return None  # the series' first candle is stepped first
            self._ready = self._setup()
        if not self._ready or market.price_candle_ms != self.src_ms or "price" in market.not_ready:
            return None
        if (self.publish and self.src not in market._ready_tfs) or not modelled(market.indicators):
            return None
        if not self.venue.walks_span(self.symbol, span) or eng.price_check_pending() or self.run.exiting is not None:
            return None
        state = self.run.state
        plan = self._plans.get(state, _MISSING)
        if plan is _MISSING:
            plan = self._plans[state] = self._state_plan(state)
        return plan  # type: ignore[return-value]

    def _state_plan(self, state: str) -> _StatePlan | None:
        out = []
        for key in self.keys:
            for rule in self.engine.book.dispatch.get((key, state), _NO_RULES):
                when = rule.when
                if when is None or when.node is None:
                    return None  # fires on every candle
                screen = compile_screen(when.node)
                if screen is None:
                    return None
                out.append((key, rule, screen))
        reads: set[str] = set()
        for key, rule, _ in out:
            reads |= rule.reads
            reads |= set(self.prev.get(key, ()))
        return _StatePlan(tuple(out), frozenset(reads))

    # ------------------------------------------------------------------ a jump

    def _jump(self, b: Block, i: int, plan: _StatePlan) -> int:
        """k, the first candle from i at which something may act (candles [i, k) may be jumped)."""
        assert self.fast is not None
        m, self._first = self._first, _FIRST_WINDOW
        self._held = held = self.engine.state.portfolio.net_position(self.symbol).amount != 0
        edges = self.fast.quiet_edges(not held)
        if edges is None:
            self.counts.note("a price could reach an order or the daily loss cap")
            return i
        st = self.engine.state
        due = self.engine._timers.next_due
        expiry = st.oms.next_expiry
        if due is None:
            return i
        limit = min(st.next_day, st.next_timeout, st.next_protect, st.next_retry, due)
        if expiry is not None:
            limit = min(limit, expiry)
        for builder in self.rolled:  # a candle being built from an earlier bucket is emitted first
            if builder._start is not None and builder._start != builder.bucket(b.open_time[i]):
                return i
        n = b.n
        self._meter_walk: MeterWalk | None = None  # the doubling windows' walks go on from each other's end
        while True:
            e = min(n, i + m)
            k, why = self._screen(b, i, e, edges, limit, plan)
            self.counts.windows += 1
            if k < e or e == n:
                if k < e:
                    self.counts.note(why)
                break
            m *= 2 if m < 2 * _FIRST_WINDOW else 4
        # The run goes on in the next block, or was long (a quiet day, cut by the clock): the next one most
        # likely goes as far, so it starts from the window that got here, not from the first again.
        if k == n or k - i >= _LONG_RUN:
            self._first = m
        return k

    def _deferred(self, b: Block, i: int, k: int, done: list[bool]) -> Callable[[], None]:
        def catch_up() -> None:
            if not done:
                done.append(True)
                self._catch_up(b, i, k)

        return catch_up

    def _screen(
        self, b: Block, i: int, e: int, edges: tuple[float, float], limit: int, plan: _StatePlan
    ) -> tuple[int, str]:
        """The first candle of [i, e) at which something may act (e: none), and why."""
        cuts: list[tuple[int, str]] = [(e, "")]
        lo, hi = edges
        inside = (b.band_lo[i:e] > lo) & (b.band_hi[i:e] < hi)
        cuts.append((i + first_false(inside), "a price could reach an order"))
        cuts.append((i + int(b.close_time[i:e].searchsorted(limit, side="left")), "the clock"))  # not np.'s wrapper
        cuts.append((i + 1 + first_false(b.contiguous[i + 1 : e]), "a hole in the data"))
        for builder in self.rolled:  # a longer candle closes: its rules, indicators and look-backs move
            off, size = builder.offset, builder.interval  # CandleBuilder.bucket, over the window
            same = (b.close_time[i:e] + 1 - off) // size == (b.open_time_np[i:e] - off) // size
            cuts.append((i + first_false(same), "a longer candle closes"))
        k = min(cuts)[0]
        if k <= i:
            return min(cuts)
        self._series = series = Series(self.market.indicators, b.window(self.market, self.src, i, k), self.src)
        self._cols = cols = window_columns(self.market, self.src, self.publish, b, i, k, series, plan.reads, self.drawn)
        ok: np.ndarray | None = None  # None: no rule screened, every candle may be jumped
        market, run = self.market, self.run
        nr, state = market.not_ready, run.state
        for key, rule, screen in plan.rules:
            if self.symbol not in rule.symbols or (nr and not rule.reads.isdisjoint(nr)):
                continue
            mask = screen(with_prev(cols, self.prev.get(key, ()), run.prev.get(key) or {}), state, k - i)
            ok = mask if ok is None else ok & mask
        cuts.append((k if ok is None else i + first_false(ok), "a rule may fire"))
        k = min(cuts)[0]
        walk = self._meter_walk
        if walk is None:
            multiple = float(self.engine.book.risk.volatility_breaker)
            at, opens, times = self.engine.state.time, b.open_time, b.close_time_list
            walk = self._meter_walk = MeterWalk(
                self.run, multiple, at, self._held, opens, times, b.close, i, b.open_time_np, b.close_time, b.close_np
            )
        cuts.append((walk.walk(k), "the volatility breaker"))
        k, why = min(cuts)
        self._drawn = {d: values(cols, d, k - i) for d in self.drawn}
        return k, why

    def _catch_up(self, b: Block, i: int, k: int) -> None:
        """Leave the engine and the venue as stepping candles [i, k) would have (candle_catchup.py)."""
        eng, run = self.engine, self.run
        market_run(eng, self.market, self.src, b, i, k, self._series, self.publish)
        assert self._meter_walk is not None and self._meter_walk.at == k
        guards_run(eng, run, self.symbol, b.closes[k - 1], self._meter_walk.state())
        dispatch_run(eng, run, self.keys, self.prev, self._cols, k - 1 - i)
        assert self.fast is not None
        prune = self.fast.jumped_run(k - i)
        j = k - 1  # the run's last candle: its bar is the one the liquidity model keeps
        bar = (b.open_time[j], b.close_time_list[j], b.closes[j], b.decimal(VOLUME, j))
        self.venue.walk_quietly_run(self.symbol, *bar, walk_mark(b, i, k, self.venue.walk_mark(self.symbol)), prune)
        self.counts.jumped += k - i
