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

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from rulebot.backtest.candle_meters import meter_run
from rulebot.backtest.candle_screen import Screen, compile_screen
from rulebot.backtest.candle_series import Block, Series, Window, first_false, modelled
from rulebot.backtest.fast_path import FastSession
from rulebot.core.events import CandleClosed
from rulebot.engine.candles import Candle
from rulebot.engine.engine import Engine
from rulebot.engine.market import HISTORY_CANDLES
from rulebot.rulebook.compiled import CompiledRule
from rulebot.rulebook.expr import PREV_PREFIX
from rulebot.venues.paper import PaperVenue

_BLOCK = 4096  # candles read ahead (a few hundred KB of objects the feed made anyway)
_FIRST_WINDOW = 32  # a window grows from this, doubling while nothing is found in it
_NO_RULES: tuple[CompiledRule, ...] = ()
_MISSING = object()


@dataclass(frozen=True, slots=True)
class JumpedCandles:
    """Candles the array path jumps, oldest first. The runner takes the sample due before them,
    then `catch_up()` leaves the engine and the venue as stepping them would, and the runner does
    its own per-candle bookkeeping (`drawn`: the charted indicators at each)."""

    candles: list[CandleClosed]
    drawn: dict[str, list[float]]
    catch_up: Callable[[], None]


@dataclass(slots=True)
class RunCounts:
    jumped: int = 0  # candles not stepped one by one
    windows: int = 0  # windows screened
    cut: dict[str, int] = field(default_factory=dict)  # why a window ended before its end

    def note(self, why: str) -> None:
        self.cut[why] = self.cut.get(why, 0) + 1


@dataclass(frozen=True, slots=True)
class _StatePlan:
    rules: tuple[tuple[CompiledRule, Screen], ...]


class CandleRuns:
    """Expands the events of a replay, jumping runs of candles (see above)."""

    def __init__(self, engine: Engine, venue: PaperVenue, fast: FastSession | None, drawn: list[str]) -> None:
        self.engine, self.venue, self.fast = engine, venue, fast
        self.counts = RunCounts()
        book = engine.book
        self.symbol = book.symbols[0]
        self.run = engine.state.runs[self.symbol]
        self.market = self.run.market
        self.tf = book.timeframes[0] if len(book.timeframes) == 1 else ""
        self.key = ("candle_close", self.tf)
        self.drawn = tuple(drawn)
        self._plans: dict[str, _StatePlan | None] = {}
        self._prev_names = tuple(n for n, _ in engine.rules._prev_slots.get(self.key, ()))
        self.why_not = self._refusal()

    def _refusal(self) -> str | None:
        """Why this backtest never jumps a candle run (None: it may)."""
        eng, market = self.engine, self.market
        if self.fast is None:
            return "the fast path does not run"
        if not self.tf:
            return "several timeframes"
        if eng.record_all:
            return "every decision is recorded"
        keys = eng.rules.keys
        if ("trade", None) in keys or ("mark_price", None) in keys:
            return "a rule on trades or marks (a candle's close is their tick)"
        if market._lookbacks:
            return "look-backs"
        keys_of = {k for lv in market.indicators.live for k in lv.keys}
        if not set(self.drawn) <= keys_of:
            return "a charted value that is not an indicator"
        return None

    def expand(self, events: Iterable[object]) -> Iterable[object]:
        if self.why_not is not None:
            return events
        return self._expand(events)

    def _expand(self, events: Iterable[object]) -> Iterator[object]:
        buf: list[CandleClosed] = []
        symbol, tf = self.symbol, self.tf
        for ev in events:
            if type(ev) is CandleClosed and ev.symbol == symbol and ev.timeframe == tf:
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
        return f"The candle array path jumped {self.counts.jumped:,} of them (not stepped one by one either)"

    # ------------------------------------------------------------------ a block

    def _block(self, cs: list[CandleClosed]) -> Iterator[object]:
        n = len(cs)
        cols: Block | None = None
        i = 0
        while i < n:
            k = i
            plan = self._plan(cs[i])
            if plan is not None:
                if cols is None:
                    cols = Block(cs)
                if cols.ok:
                    k = self._jump(cs, cols, i, plan)
                    if k > i:
                        done: list[bool] = []
                        catch_up = self._deferred(cs, cols, i, k, done)
                        yield JumpedCandles(cs[i:k], {d: self._drawn[d] for d in self.drawn}, catch_up)
                        catch_up()  # once: a consumer that did not is caught up before anything else
            if k < n:
                yield cs[k]
            i = k + 1

    def _plan(self, c: CandleClosed) -> _StatePlan | None:
        """The state's plan when candles from `c` on may be jumped now, else None."""
        eng, market = self.engine, self.market
        st = eng.state
        if not st.started or st.time == 0:
            return None
        if market.has_mark or market.has_trades or market.has_book or market.source.get(self.tf) != self.tf:
            return None
        if self.tf not in market._ready_tfs or not modelled(market.indicators) or "price" in market.not_ready:
            return None
        if not self.venue.walks(c):
            return None
        if eng.price_check_pending() or self.run.exiting is not None:
            return None
        state = self.run.state
        plan = self._plans.get(state, _MISSING)
        if plan is _MISSING:
            plan = self._plans[state] = self._state_plan(state)
        return plan  # type: ignore[return-value]

    def _state_plan(self, state: str) -> _StatePlan | None:
        rules = self.engine.book.dispatch.get((self.key, state), _NO_RULES)
        available = frozenset(self._names())
        out = []
        for rule in rules:
            when = rule.when
            if when is None or when.node is None:
                return None  # fires on every candle
            screen = compile_screen(when.node, available)
            if screen is None:
                return None
            out.append((rule, screen))
        return _StatePlan(tuple(out))

    def _names(self) -> set[str]:
        tf = self.tf
        names = {f"{f}@{tf}" for f in ("open", "high", "low", "close", "volume", "returns")}
        names |= {"price", "mark_price", "index_price", "bid", "ask"}
        names |= {k for lv in self.market.indicators.live for k in lv.keys}
        return names | {PREV_PREFIX + n for n in self._prev_names if n in names}

    # ------------------------------------------------------------------ a jump

    def _jump(self, cs: list[CandleClosed], b: Block, i: int, plan: _StatePlan) -> int:
        """k, the first candle from i at which something may act (candles [i, k) may be jumped)."""
        assert self.fast is not None
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
        n, m = len(cs), _FIRST_WINDOW
        while True:
            e = min(n, i + m)
            k, why = self._screen(b, i, e, edges, limit, plan)
            self.counts.windows += 1
            if k < e or e == n:
                if k < e:
                    self.counts.note(why)
                break
            m *= 2
        return k

    def _deferred(self, cs: list[CandleClosed], b: Block, i: int, k: int, done: list[bool]) -> Callable[[], None]:
        def catch_up() -> None:
            if not done:
                done.append(True)
                self._catch_up(cs, b, i, k)

        return catch_up

    def _screen(
        self, b: Block, i: int, e: int, edges: tuple[float, float], limit: int, plan: _StatePlan
    ) -> tuple[int, str]:
        """The first candle of [i, e) at which something may act (e: none), and why."""
        cuts: list[tuple[int, str]] = [(e, "")]
        lo, hi = edges
        inside = (b.band_lo[i:e] > lo) & (b.band_hi[i:e] < hi)
        cuts.append((i + first_false(inside), "a price could reach an order"))
        cuts.append((i + int(np.searchsorted(b.close_time[i:e], limit, side="left")), "the clock"))
        cuts.append((i + 1 + first_false(b.contiguous[i + 1 : e]), "a hole in the data"))
        k = min(cuts)[0]
        if k <= i:
            return min(cuts)[0], min(cuts)[1]
        self._series = series = Series(self.market.indicators, b.window(self.market, self.tf, i, k))
        cols = self._columns(b, i, k, series)
        ok = np.ones(k - i, dtype=np.bool_)
        market, run = self.market, self.run
        nr, state = market.not_ready, run.state
        for rule, screen in plan.rules:
            if self.symbol not in rule.symbols or (nr and not rule.reads.isdisjoint(nr)):
                continue
            ok &= screen(cols, state, k - i)
        cuts.append((i + first_false(ok), "a rule may fire"))
        k = min(cuts)[0]
        cuts.append((self._volatility(b, i, k), "the volatility breaker"))
        k, why = min(cuts)
        self._drawn = {d: series.values[d][: k - i] for d in self.drawn}
        return k, why

    def _columns(self, b: Block, i: int, k: int, series: Series) -> dict[str, np.ndarray]:
        tf, tick = self.tf, self.market.tick
        close = b.close_np[i:k]
        cols: dict[str, np.ndarray] = {
            f"open@{tf}": b.open_np[i:k],
            f"close@{tf}": close,
            f"volume@{tf}": b.volume_np[i:k],
            "price": close,
            "mark_price": close,
            "index_price": close,
            "bid": close - tick,
            "ask": close + tick,
        }
        cols[f"high@{tf}"], cols[f"low@{tf}"] = b.high_np[i:k], b.low_np[i:k]
        ret = series._window.cols[f"returns@{tf}"]
        cols[f"returns@{tf}"] = np.array(ret)
        for key, vals in series.values.items():
            cols[key] = np.array(vals)
        snapshot = self.run.prev.get(self.key) or {}
        for name in self._prev_names:
            col = cols.get(name)
            if col is None:
                continue
            first = snapshot[name] if name in snapshot else col[0]  # `snapshot.get(n, env.get(n))` at candle i
            cols[PREV_PREFIX + name] = np.concatenate(([first], col[:-1]))
        return cols

    def _volatility(self, b: Block, i: int, k: int) -> int:
        """Before which candle of [i, k) the volatility breaker would trip or clear (k: none);
        the meter and throttle states candle by candle in `self._meters`."""
        multiple = float(self.engine.book.risk.volatility_breaker)
        at = self.engine.state.time
        cut, self._meters = meter_run(self.run, multiple, at, self._held, b.open_time, b.close_time_list, b.close, i, k)
        return cut

    def _catch_up(self, cs: list[CandleClosed], b: Block, i: int, k: int) -> None:
        """Leave the engine and the venue as stepping candles [i, k) would have (see module doc)."""
        eng, market, run, symbol, tf = self.engine, self.market, self.run, self.symbol, self.tf
        st = eng.state
        last = cs[k - 1]
        env = market.env
        env.forget_account()  # Engine.on_event, on the first of them
        st.time = last.close_time
        market.set_clock(last.close_time)
        # SymbolMarket.on_candle: the last price, the synthetic book and mark, then _publish.
        market.last_data_time = last.close_time
        market.last = last.close
        price = b.close[k - 1]
        env["price"] = price
        market._synthetic_book(last.close)
        market.mark = last.close
        env["mark_price"] = env["index_price"] = price
        w = self._series._window
        j = k - 1 - i
        for key in (f"open@{tf}", f"high@{tf}", f"low@{tf}", f"close@{tf}", f"volume@{tf}", f"returns@{tf}"):
            env[key] = w.cols[key][j]
        market.prev_close[tf] = price
        history = market.history[tf]
        start = max(i, k - HISTORY_CANDLES)
        history.extend(
            map(
                Candle,
                [tf] * (k - start),
                b.open_time[start:k],
                b.close_time_list[start:k],
                b.open[start:k],
                b.high_list[start:k],
                b.low_list[start:k],
                b.close[start:k],
                b.volume[start:k],
            )
        )
        self._series.catch_up(k - i)
        # MarketEvents.on_candle: the mark, the volatility meter, the guards' memory.
        st.portfolio.set_mark(symbol, last.close)
        meter, memory = run.volatility, run.guard
        (meter._last_time, meter._last_price, meter.short, meter.base, meter.samples, meter._alphas, lc) = self._meters[
            j
        ]
        memory.last_margin_check = lc
        # RuleDispatch.dispatch: the state, and the prev values the next candle's rules compare with.
        if self.engine.book.dispatch.get((self.key, run.state)):
            env["state"] = run.state
        if self._prev_names:
            snapshot = run.prev.get(self.key)
            if snapshot is None:
                snapshot = run.prev[self.key] = {}
            for name in self._prev_names:
                vals = self._column_list(name, w)
                before = vals[j - 1] if j > 0 else snapshot.get(name, env.get(name, math.nan))
                env[PREV_PREFIX + name] = before
                snapshot[name] = vals[j]
        # The venue's walk (PaperVenue.walk_quietly, no trailing stop): quotes and walk mark.
        assert self.fast is not None
        prune = self.fast.jumped_run(k - i)
        self.venue.walk_quietly_run(last, self._walk_mark(cs, i, k), prune)
        self.counts.jumped += k - i

    def _column_list(self, name: str, w: Window) -> list[float]:
        vals = w.cols.get(name)
        if vals is None:
            vals = self._series.values.get(name)
        if vals is None:  # price and its followers are the close
            vals = w.close
        return vals

    def _walk_mark(self, cs: list[CandleClosed], i: int, k: int) -> Decimal | None:
        """The close of the last candle of [i, k) whose walk moved the mark (None: none did)."""
        for j in range(k - 1, i - 1, -1):
            c = cs[j]
            mark = cs[j - 1].close if j > i else self.venue.walk_mark(self.symbol)
            if not (c.close == mark and c.open == mark and c.high == mark and c.low == mark):
                return c.close
        return None


def take_samples(
    run: JumpedCandles,
    next_sample: int,
    every: int,
    take: Callable[[int], None],
    last_price: dict[str, Decimal],
    engine: Engine,
) -> int:
    """The runner's samples due inside a jumped run, each taken as the runner takes it (when the next
    candle comes) with what the candle before left: its close as the last price and the mark, its
    charted values; then the run's last candle's, as the engine was caught up. The next sample's time."""
    candles, values = run.candles, run.drawn
    symbol = candles[0].symbol
    env = engine.state.runs[symbol].market.env
    set_mark = engine.state.portfolio.set_mark
    held = engine.position(symbol).amount != 0
    for j in range(len(candles) - 1):
        t = candles[j].close_time
        if t >= next_sample:
            next_sample = t - t % every + every
            close = candles[j].close
            last_price[symbol] = close
            if held:
                set_mark(symbol, close)
            for key, vals in values.items():
                env[key] = vals[j]
            take(t)
    close = candles[-1].close
    last_price[symbol] = close
    set_mark(symbol, close)
    for key, vals in values.items():
        env[key] = vals[-1]
    return next_sample
