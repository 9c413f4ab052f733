"""The engine's side of the fast backtest paths (backtest/fast_path.py, fast_trades.py), mixed into Engine.

The fast path jumps the walk of a candle inside which nothing can act. These are the engine's
answers it needs (when the clock next makes the engine act, today's PnL as the daily cap counts
it at another price) and the steps that stand in for the walk: `walk_quietly` leaves what
`check_price` at each walked point would have left, `on_quiet_candle` skips the one check the
caller already made at the close; on trade data, `fold_trades` leaves what the trades folded
into their candle would have, and `take_second` what a valuation falling due at one of them does.
Nothing here runs in dry-run or live.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from rulebot.core.events import BookTop, CandleClosed
from rulebot.core.instruments import Instrument
from rulebot.engine.risk import PRICE_GUARDS
from rulebot.engine.risk.event import NEVER
from rulebot.engine.risk.margin_ratio import CHECK_EVERY_MS, pass_idle
from rulebot.engine.risk.volatility_breaker import tripped_at
from rulebot.engine.state import EngineState, Step
from rulebot.engine.timers import TimerWheel

# `take_second` stands for a valuation's run of exactly these price guards (risk/PRICE_GUARDS): a guard
# added there has every due trade walked again until it is accounted for here.
_SECOND_GUARDS = ("volatility_breaker", "daily_loss_cap", "max_margin_ratio")
_SECONDS_KNOWN = tuple(g.name for g in PRICE_GUARDS) == _SECOND_GUARDS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from rulebot.core.account_events import AccountEvent
    from rulebot.core.events import MarketEvent
    from rulebot.engine.cap_stops import CapStops
    from rulebot.engine.clock import Clock
    from rulebot.engine.env import Env
    from rulebot.engine.event_guards import EventGuards


class QuietWalk:
    """Queries and steps of the fast backtest path (mixed into Engine)."""

    state: EngineState
    instruments: Mapping[str, Instrument]
    _timers: TimerWheel
    cap_stops: CapStops
    _envs: list[Env]
    clock: Clock
    guards: EventGuards

    def on_event(self, event: MarketEvent | AccountEvent) -> Step:  # pragma: no cover - Engine's
        raise NotImplementedError

    def quiet_until(self) -> int:
        """The first time at which the clock alone makes the engine act (the day roll, a timer, a
        state timeout, the protective-stop deadline, a refused exit's retry, an order's expiry).
        Before it, moving the clock only moves the clock (`on_event` takes the same shortcut).

        A retry time outlives the exit it was for (every stop-and-reverse leaves one behind): with
        no exit pending, reaching it only clears it (`Clock.advance`), which `walk_quietly` does
        too, so it does not count here. Counting it walked the candle after nearly every trade."""
        st = self.state
        due, expiry = self._timers.next_due, st.oms.next_expiry
        retry = st.next_retry if self._exit_pending() else NEVER
        nxt = min(st.next_day, st.next_timeout, st.next_protect, retry, st.time if due is None else due)
        return nxt if expiry is None else min(nxt, expiry)

    def due_first(self, at: int) -> str:
        """What falls due first at `at`, the `quiet_until` just found (for the summary's line on the
        path): the first of `quiet_until`'s times, in its order, that is `at` (as `min` picks it)."""
        st = self.state
        if st.next_day == at:
            return "the day roll"
        if st.next_timeout == at:
            return "a state timeout"
        if st.next_protect == at:
            return "the protective-stop deadline"
        if (st.next_retry if self._exit_pending() else NEVER) == at:
            return "an exit's retry"
        due = self._timers.next_due
        if (st.time if due is None else due) == at:
            return "a timer"
        return "an order's expiry"

    def _exit_pending(self) -> bool:
        for run in self.state.runs.values():  # noqa: SIM110 - a loop: a generator in any() costs more than the test
            if run.exiting is not None:
                return True
        return False

    def price_check_pending(self) -> bool:
        """The next `check_price` acts whatever the price: a daily-cap stop waits to be priced, or
        a cap stop filled and the breach is still to be declared."""
        st = self.state
        if st.daily_breach_day is not None or st.portfolio.today is None:
            return False
        return (st.cap_stale and st.started) or bool(st.cap_hits)

    def mark(self, symbol: str) -> Decimal | None:
        """The price the symbol's positions are valued at."""
        return self.state.portfolio.marks.get(symbol)

    def daily_pnl_closed_at(self, symbol: str, price: Decimal) -> Decimal:
        """Today's PnL as the daily loss cap counts it (positions closed at mark, fees included),
        were `symbol`'s mark at `price`; nothing changes."""
        marks = self.state.portfolio.marks
        asset = self.instruments[symbol].margin_asset
        was = marks.get(symbol)
        marks[symbol] = price
        try:
            return self.cap_stops.daily_pnl_closed(asset)
        finally:
            if was is None:
                del marks[symbol]
            else:
                marks[symbol] = was

    def walk_quietly(self, symbol: str, times: tuple[int, ...], price: Decimal) -> None:
        """What `check_price` at each of `times` leaves behind, for a walk the caller showed acts
        nowhere (every time before `quiet_until`, no price guard firing at any price walked,
        `price` the last): the clock, the mark and the margin check's throttle."""
        st = self.state
        run = st.runs.get(symbol)
        if run is None or run.market.has_mark or run.market.has_trades:
            return
        if st.portfolio.net_amount(symbol) == 0:
            return  # check_price returns at once on a flat symbol
        memory = run.guard
        time = st.time
        for t in times:
            if t > time:
                time = t
                if time >= st.next_retry:  # a stale retry (quiet_until): Clock.advance clears it here
                    st.next_retry = NEVER
            if time - memory.last_margin_check >= CHECK_EVERY_MS:  # margin_ratio.pass_idle, inline in this loop
                memory.last_margin_check = time
        if time > st.time:
            self.clock.set_time(time)
        st.portfolio.set_mark(symbol, price)

    def fold_trades(
        self, symbol: str, high: float, low: float, time: int, price: Decimal, qty: Decimal, qtys: list[float]
    ) -> None:
        """What `on_event` leaves for a stretch of the symbol's trades the caller showed acts nowhere
        (backtest/fast_trades.py: inside one candle, before `quiet_until`, no rule firing; a
        once-a-second valuation falling due inside was taken by `take_second`): the trades before the
        last folded into the candles being built (`qtys` their sizes; `high` and `low` the stretch's),
        then the last (`time`, `price`, `qty`) taken as any trade (the last price, the book and mark
        that follow it), positions valued at it, the clock at its time. The venue handles the next
        trade first: the engine hears of its fills at these."""
        st = self.state
        market = st.runs[symbol].market
        market.absorb_trades(high, low, float(price), qtys)
        market.take_trade(time, price, qty)
        if not market.has_mark:
            st.portfolio.set_mark(symbol, price)
        if time > st.time:
            self.clock.set_time(time)

    def take_second(self, symbol: str, time: int, price: float) -> bool:
        """What `MarketEvents.on_trade` does at a trade of `symbol` (at `time`, `price` its float) at
        which the once-a-second valuation falls due, for a trade the fast trade path folds
        (backtest/fast_trades.py: no rule fires on it, the clock reaches nothing, and the price lies
        inside the band of `QuietMarks.edges`, where the daily loss cap is unreached and the margin
        ratio clearly below its limit, so neither check acts): the volatility meter takes the price,
        the valuation's time and the margin check's throttle move. The mark, the clock and the candle
        are the folded stretch's to leave (`fold_trades`): nothing reads them in between.

        False when the volatility breaker trips or clears at this price (it notes it, and may cut
        the position): the caller walks the trade, the valuation's time unmoved. The meter has taken
        the price then, which the walk's update leaves as it is (one price a second: the same time)."""
        if not _SECONDS_KNOWN:
            return False
        run = self.state.runs[symbol]
        meter, memory = run.volatility, run.guard
        meter.update(time, price)
        if tripped_at(meter.ratio(), self.guards.risk) != memory.volatility_tripped:
            return False
        self.state.last_loss_check = time
        pass_idle(memory, time)  # margin_ratio.check, acting nowhere
        return True

    def fold_book(self, event: BookTop) -> None:
        """What `on_event` leaves for a book top at the engine's time (the clock does not move) when
        no rule has a `book` trigger (backtest/fast_quotes.py): the market's bid and ask."""
        st = self.state
        for env in self._envs:
            if env.filled:
                env.forget_account()
        if event.received > st.received:
            st.received = event.received
        run = st.runs.get(event.symbol)
        if run is not None:
            run.market.on_book(event)

    def on_quiet_candle(self, event: CandleClosed) -> Step:
        """`on_event` for a candle the fast path jumped, whose close the caller showed the daily
        loss cap unreached at (held: one of the prices of `walk_quietly`; flat: today's PnL does
        not move with the price, and the clock reaches nothing inside the candle) and the margin
        ratio clearly below its limit at (held: the close is inside the band of `engine_band`;
        flat: the check does nothing), so those checks are not repeated; everything else
        (indicators, rules, the other guards) runs as ever."""
        if self.price_check_pending():
            return self.on_event(event)
        self.guards.quiet_close = True
        try:
            return self.on_event(event)
        finally:
            self.guards.quiet_close = False
