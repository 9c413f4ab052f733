"""The fast backtest path: candles inside which nothing can act are not walked price by price.

The event path walks every candle as four prices (open, low/high, high/low, close); at each the
simulator looks for fills, triggers and liquidations and the engine checks the daily loss cap
and the margin ratio (`Session.market`). Almost always none of them acts: between two commands
or fills, the prices at which anything would act are fixed thresholds. This path keeps the band
of prices strictly inside all of them (the simulator's `quiet_band` ∩ the engine's), and for a
candle whose prices all lie in it, and before which nothing falls due on the engine's clock,
sets what the walk would have left behind (quotes, derived mark, trailing stops, the clock and
the margin check's throttle) instead of walking it. Every candle still goes through the engine
(`Session.engine_step`): indicators, candle state and every rule, whatever its trigger, are
evaluated exactly as on the event path. A candle outside the band, or any other event, takes
the event path, and the band is computed again after anything happened. A held candle inside
which the engine's clock acts (after each entry without a stop of its own, the protective-stop
guard places one) is walked price by price only up to that time; its rest is jumped like a
whole candle when it lies inside the band drawn after the clock acted (`FastSession._split`).

The result is the event path's, to the last Decimal; `tests/backtest/test_fast_path.py` proves
it on generated rulebooks and data and on every rulebook of `rules/` over the shared files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from rulebot.backtest.fast_quotes import QuietMarks
from rulebot.backtest.fast_trades import float_edges
from rulebot.core.enums import MarginType
from rulebot.core.events import CandleClosed, MarkPrice
from rulebot.core.instruments import Instrument
from rulebot.engine.engine import Engine
from rulebot.exchange_sim import SimExchange
from rulebot.exchange_sim.quiet import Band, ratio_band, table_floats, tighten
from rulebot.rulebook.compiled import CompiledRulebook
from rulebot.session import Session
from rulebot.venues.paper import PaperVenue

PATHS = ("auto", "fast", "event")
_MARGIN = Decimal("1e-9")  # relative room kept from the daily cap's threshold price


def refusal(book: CompiledRulebook, instruments: dict[str, Instrument]) -> str | None:
    """Why the fast path cannot run this rulebook at all (None: it can)."""
    if len(book.symbols) > 1:
        return "the rulebook trades several symbols (the fast path bounds one symbol's prices)"
    if book.hedge:
        return "hedge mode (a long and a short leg have no single safe price band)"
    if book.margin_type is not MarginType.ISOLATED:
        return "cross margin (the fast path bounds an isolated position's margin ratio)"
    if instruments[book.symbols[0]].is_inverse:
        return "an inverse (COIN-M) contract (its PnL is not linear in the price)"
    return None


# Why a walkable candle was walked price by price (the summary counts them).
_UNBOUNDED = "no price band could be drawn (a margin warning, a dead man's switch, a cap stop to place)"
_PRICED = "a price could reach an order, a stop, the margin limit or the daily loss cap"
_TRAILING = "a trailing stop would have triggered"


@dataclass(slots=True)
class Counts:
    candles: int = 0  # candles the venue walks
    jumped: int = 0  # of those, not walked price by price
    walked: dict[str, int] = field(default_factory=dict)  # the others, by reason

    def walk(self, why: str) -> None:
        self.walked[why] = self.walked.get(why, 0) + 1


class FastSession:
    """`Session.market` for one symbol, jumping the walk of quiet candles."""

    def __init__(
        self,
        session: Session,
        venue: PaperVenue,
        sim: SimExchange,
        engine: Engine,
        symbol: str,
        changes: Callable[[], int] | None = None,
    ) -> None:
        self.session, self.venue, self.sim, self.engine, self.symbol = session, venue, sim, engine, symbol
        # Mark prices taken quietly (fast_quotes.py), given how often the account or orders may have changed.
        self.marks = None if changes is None else QuietMarks(session, venue, symbol, changes, self._mark_edges)
        self.inst = engine.instruments[symbol]
        self.counts = Counts()
        self._band: Band | None = None
        self._fresh = False  # the band was computed since anything last happened
        self._trailing = True  # a trailing stop works (its stop is replayed on each jumped candle)
        self._flat_clear = False  # flat, and the daily loss cap shown unreached (cap_unreached_flat)
        self._pruned = False  # the simulator's order lists were pruned by a quiet walk since the band was drawn

    def market(self, event: object) -> None:
        if type(event) is CandleClosed and event.symbol == self.symbol and self.venue.walks(event):
            self.counts.candles += 1
            engine = self.engine
            flat = engine.state.portfolio.net_amount(self.symbol) == 0  # a jumped candle fills nothing: it stays so
            # Flat or not, the engine acts on its clock inside the candle (a timer, a timeout, the day roll,
            # an order's expiry: `Engine.check_price`), at the first price at or after that time.
            due = engine.quiet_until()
            if event.close_time >= due:
                self.counts.walk(engine.due_first(due) + " fell inside")
                self._split(event, due)
                return
            if self._jump(event, flat):
                self.counts.jumped += 1
                quiet = True  # held: walk_quietly showed the loss cap unreached at every price
                if flat:
                    if not self._flat_clear:  # shown once, it holds until something happens
                        self._flat_clear = cap_unreached_flat(engine)
                    quiet = self._flat_clear and event.close_time < engine.quiet_until()
                step = self.session.engine_step(event, quiet=quiet)
                if step.commands:  # orders, positions and the wallet move only by commands and their reports
                    self._fresh = False
                return
        self._fresh = False
        if type(event) is MarkPrice and self.marks is not None and self.marks.fold(event):
            return
        self.session.market(event)

    def _jump(self, c: CandleClosed, flat: bool, start: int = 0) -> bool:
        """Leave what walking the candle's points from `start` on would leave, when they all lie inside
        the band: False, with nothing changed, when they must be walked. `start` > 0: `_split` walked
        the points before it and counted the candle as walked, so no reason is counted here."""
        engine = self.engine
        self._refresh()
        band = self._band
        if band is None:
            if not start:
                self.counts.walk(_UNBOUNDED)
            return False
        lo, hi = band
        if start:
            priced = False
            for p in self.venue.path(c)[1][start:]:  # a loop: generators in any() cost more than the tests
                if (lo is not None and p <= lo) or (hi is not None and p >= hi):
                    priced = True
                    break
        else:  # every price the walk visits (open, high, low, close) strictly inside the band
            priced = (lo is not None and (c.low <= lo or c.open <= lo or c.close <= lo or c.high <= lo)) or (
                hi is not None and (c.high >= hi or c.open >= hi or c.close >= hi or c.low >= hi)
            )
        if priced:
            if not start:
                self.counts.walk(_PRICED)
            return False
        # Once pruned, the store holds no final order until something happens (the band is new then).
        if not self.venue.walk_quietly(c, self._trailing, not self._pruned, start):
            if not start:
                self.counts.walk(_TRAILING)
            return False
        self._pruned = True
        if not flat:  # flat, `check_price` would return at once at every walked price
            engine.walk_quietly(self.symbol, self.venue.times(c)[start:], c.close)
        return True

    def _split(self, c: CandleClosed, due: int) -> None:
        """A held candle inside which the engine's clock acts (`quiet_until`), split at that time: walked
        price by price up to the first point at or after it, where the clock acts (after each entry of
        a rulebook without a stop of its own, the protective-stop guard places one there); the rest is
        jumped as `_jump` jumps a whole candle when nothing else falls due before the close and its
        prices lie inside the band drawn then (`_jump` from there), else walked on. `due`: the
        engine's `quiet_until`, as `market` just found it."""
        session, symbol = self.session, self.symbol
        walk = self.venue.walk(c, session.expire_before)
        point = session.point
        start = 0
        for t, price, reports in walk:
            point(symbol, t, price, reports)
            start += 1
            if t >= due:
                break
        self._fresh = False
        engine = self.engine
        if (
            start < 4  # `walk` visits four points (`PaperVenue.times`)
            and engine.state.portfolio.net_amount(symbol) != 0
            and c.close_time < engine.quiet_until()  # nothing else falls due before the close
            and self._jump(c, False, start)
        ):
            if session.engine_step(c, quiet=True).commands:
                self._fresh = False
            return
        self._fresh = False  # the band drawn for the rest, if any, was not used: anything may have happened since
        for t, price, reports in walk:
            point(symbol, t, price, reports)
        session.engine_step(c)

    def _refresh(self) -> None:
        if not self._fresh:
            self._band = self._compute_band()
            self._trailing = self.sim.has_trailing_stop(self.symbol)
            self._flat_clear = False
            self._pruned = False
            self._fresh = True

    def quiet_edges(self, flat: bool) -> tuple[float, float] | None:
        """The candle array path's question (candle_runs.py): the quiet band as float edges kept
        inside it, when no trailing stop works and, flat, the daily loss cap is shown unreached
        (held, the band bounds the cap already): each candle inside it is one `market` would jump
        quietly. None otherwise."""
        if not flat and self._walks_next():
            return None  # whatever the band: drawing it would be thrown away by the walk
        self._refresh()
        if self._band is None or self._trailing:
            return None
        if flat and not self._flat_clear:
            self._flat_clear = cap_unreached_flat(self.engine)
            if not self._flat_clear:
                return None
        return float_edges(self._band)

    def _walks_next(self) -> bool:
        """Held, the engine's clock acts inside the next candle whatever its prices: `market` walks
        it up to there (`_split`), so the candle array path jumps nothing from there either (its
        clock cut stops at it) and the band need not be drawn now (`_split` draws it once the clock
        acted). That candle opens after the engine's clock and spans at least the shortest candle
        walked (the array path screens the walked timeframe): it closes at or after
        `time + 1 + span`. After each entry the protective-stop deadline falls inside the next
        candle: this saved drawing a band that was never read, once a trade."""
        span = self.venue.shortest(self.symbol)
        return span is not None and self.engine.quiet_until() <= self.engine.state.time + 1 + span

    def jumped_run(self, n: int) -> bool:
        """`n` candles the candle array path jumped, counted as `market` counts its jumps;
        True when the first of them prunes the simulator's order lists (as `_jump` would)."""
        self.counts.candles += n
        self.counts.jumped += n
        prune, self._pruned = not self._pruned, True
        return prune

    def _mark_edges(self) -> tuple[float, float] | None:
        """The band of `_compute_band` as float edges for a mark price (`QuietMarks`): flat, the daily
        loss cap is shown unreached too (a mark moves no PnL then, but the cap is checked at each)."""
        band = self._compute_band()
        if band is None or (self.engine.position(self.symbol).amount == 0 and not cap_unreached_flat(self.engine)):
            return None
        return float_edges(band)

    def _compute_band(self) -> Band | None:
        sim_band = self.sim.quiet_band(self.symbol)
        if sim_band is None:
            return None
        band = engine_band(self.engine, self.symbol, self.inst)
        return None if band is None else tighten(sim_band, *band)


def cap_unreached_flat(engine: Engine) -> bool:
    """With no position, today's PnL as the daily loss cap counts it does not move with the
    price: shown unreached once, it stays so at every candle's close until something happens
    (a fill, a funding payment: the band is computed again) or the clock rolls the day."""
    if engine.price_check_pending():
        return False
    st = engine.state
    today = st.portfolio.today
    if st.daily_breach_day is not None or today is None:
        return True  # the cap's check does nothing (daily_loss_cap.on_price)
    for asset in today.start_equity:
        cap = engine.daily_cap(asset)
        if cap is not None and engine.cap_stops.daily_pnl_closed(asset) <= -cap:
            return False
    return True


def engine_band(engine: Engine, symbol: str, inst: Instrument) -> Band | None:
    """Prices at which the engine's `check_price` of `symbol` acts nowhere: the daily loss cap is
    not reached and the margin-ratio guard's float estimate is clearly below its limit."""
    pos = engine.position(symbol)
    if pos.amount == 0:
        return None, None  # check_price does nothing on a flat symbol
    now = engine.mark(symbol)
    if now is None or now <= 0 or engine.price_check_pending():
        return None
    band: Band = (None, None)
    cap = engine.daily_cap(inst.margin_asset) if engine.daily_breach_day is None and engine.today is not None else None
    if cap is not None:
        # One position on a linear contract: today's PnL (fees to close included) is affine in
        # the mark, so two values give the price where it reaches the cap.
        far = now * 2
        f_now = engine.cap_stops.daily_pnl_closed(inst.margin_asset)  # at `now`, the mark it holds: no swap
        f_far = engine.daily_pnl_closed_at(symbol, far)
        if f_now <= -cap:
            return None
        slope = (f_far - f_now) / (far - now)
        if slope:
            at = now + (-cap - f_now) / slope
            room = abs(at) * _MARGIN + _MARGIN
            band = tighten(band, at + room, None) if slope > 0 else tighten(band, None, at - room)
    floats, tiers = table_floats(engine.brackets[symbol])  # built once per table, not per band
    return ratio_band(
        inst,
        floats,
        tiers,
        pos.amount,
        pos.entry_price,
        pos.isolated_wallet,
        float(engine.book.risk.max_margin_ratio),
        now,
        band,
    )


def describe(path: str, counts: Counts | None, why: str) -> str:
    """The summary's line on the path that ran."""
    if path == "event" or counts is None:
        return why
    walked = counts.candles - counts.jumped
    text = (
        f"{counts.jumped:,} of {counts.candles:,} candles jumped (nothing could act inside them), "
        f"{walked:,} walked price by price"
    )
    # The reasons, most frequent first: a rulebook without a stop of its own, for one, walks the
    # candle after each entry (the protective-stop guard places one there).
    reasons = sorted(counts.walked.items(), key=lambda kv: (-kv[1], kv[0]))
    return text + (" (" + "; ".join(f"{n:,}: {why}" for why, n in reasons) + ")" if reasons else "")
