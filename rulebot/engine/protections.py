"""Protections: a position's stop-loss, take-profit and trailing stop on the exchange.

A stop named in the same rule as an entry is placed once that entry is done filling and the
account update holding its last fill has arrived, sized to the position it made; a trailing stop
(a fixed quantity) that covers less than a position grown since is replaced; a new stop replaces
the one of the same purpose and tag (each covers the whole position), which goes once the new one
works (stop_swap.py: never a moment without a stop); when the position is gone,
its stops go too (Binance leaves them working). The protective-stop guard's countdown starts when
a position has no stop for all of it (a trailing stop whose resize was refused covers part) and
stops when it has one; it starts again when a stop stops working and leaves the position without
one for all of it (`stop_cover.lost`: cancelled by a rule or the exchange, its triggered order expired).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from rulebot.core.enums import Direction, OrderType, PositionSide, WorkingType
from rulebot.core.intents import ProtectIntent, TrailingStopIntent
from rulebot.engine import records as rec
from rulebot.engine import stop_cover, stop_swap
from rulebot.engine.oms import OrderRecord, Purpose
from rulebot.engine.risk import Verdict
from rulebot.engine.sizing import SizingError, trigger_price
from rulebot.engine.state import Step
from rulebot.engine.stop_cover import STOP_PURPOSES, short_by
from rulebot.rulebook import compiled as c

if TYPE_CHECKING:
    from rulebot.engine.engine import Engine
    from rulebot.engine.portfolio import PositionState
    from rulebot.engine.state import SymbolRun

_LEFTOVER_PURPOSES = STOP_PURPOSES | {"take_profit"}
# Enum members looked up once: `Enum.MEMBER` is a slow lookup on Python 3.11 (EnumType.__getattr__)
_MARK_PRICE = WorkingType.MARK_PRICE
_LONG, _SHORT = Direction.LONG, Direction.SHORT


class Protections:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.state = engine.state
        self.book = engine.book

    def protect(
        self,
        symbol: str,
        rule: str,
        action: c.StopOrder | c.TrailingStop,
        step: Step,
        leg: PositionSide | None = None,
    ) -> None:
        """Place `action` on the symbol's position; in hedge mode on the leg `leg` (the one its rule's
        entry opened) when given, else on the open leg `net_position` reads (long first)."""
        eng, st = self.engine, self.state
        pos = st.portfolio.net_position(symbol) if leg is None or not eng.hedge else st.portfolio.position(symbol, leg)
        if pos.amount == 0:
            return
        time = st.time
        run = st.runs[symbol]
        trail: TrailingStopIntent | None = None
        stop: ProtectIntent | None = None
        try:
            if isinstance(action, c.TrailingStop):
                inst = eng.instruments[symbol]
                env = run.market.env
                eng.account_values[symbol](env)
                activation = None
                if action.activation is not None:
                    activation = trigger_price(inst, action.activation.fn(env), "activation price")
                qty = inst.round_qty(pos.size, OrderType.MARKET)
                trail = TrailingStopIntent(
                    symbol,
                    _LONG if pos.amount > 0 else _SHORT,
                    action.callback,
                    activation,
                    action.working_type,
                    action.tag,
                    rule,
                    time,
                    quantity=qty,
                    position_side=pos.position_side,
                    reduce_only=not eng.hedge,
                )
                purpose: Purpose = "trailing_stop"
            else:
                stop = self.stop_intent(symbol, rule, action, pos)
                purpose = action.kind
        except (SizingError, ArithmeticError) as exc:
            step.records.append(rec.sizing_refused(time, symbol, rule, type(action).__name__, exc))
            return
        tag = action.tag
        same = [
            o
            for o in st.oms.open_orders(symbol)
            if o.purpose == purpose and o.command.tag == tag and o.command.position_side is pos.position_side
        ]
        going = stop_swap.replaced(eng) if st.swaps else set()  # cancelled once their replacements work
        live = [o for o in same if o.client_order_id not in going]
        if len(live) == 1 and (
            _already(live[0], stop) if stop is not None else trail is not None and _trailing(live[0], trail)
        ):
            # The very stop is working: cancelling it to place it again would leave the position
            # without it between the two requests, for nothing (and a trailing stop placed again
            # starts its trail over from the price: restated on every trade, it never triggers).
            kept = live[0]
            why = f"the same stop is already working ({kept.client_order_id})"
            step.records.append(
                rec.GuardRecord(
                    time,
                    symbol,
                    rule,
                    f"{purpose} {stop.trigger_price}" if stop is not None else purpose,
                    (Verdict("allow", "reduce_only", why),),
                    kept.client_order_id,
                )
            )
            stop_cover.countdown_ends(run, pos.position_side)
            return
        if trail is not None:
            cmd = st.oms.place_trailing_stop(trail)
        else:
            assert stop is not None
            cmd = st.oms.place_stop(stop, purpose)
        step.records.append(
            rec.GuardRecord(
                time,
                symbol,
                rule,
                f"{purpose} {cmd.trigger_price or ''}".strip(),
                (Verdict("allow", "reduce_only", "protective orders are always allowed"),),
                cmd.client_order_id,
            )
        )
        # The new stop covers the whole position: the ones it replaces go (or each added entry's stop
        # would stay until the exchange's limit refuses the next, -4045), once it works: cancelled
        # first, the position would have no stop for a round trip, or for good if the new one is refused.
        stop_swap.replaces(eng, cmd.client_order_id, same, f": one {purpose} for the whole position")
        eng.send(cmd, step)
        stop_cover.countdown_ends(run, pos.position_side)

    def stop_intent(self, symbol: str, rule: str, action: c.StopOrder, pos: PositionState) -> ProtectIntent:
        """`action` as the close-position stop of `pos`, priced now (SizingError: no valid trigger)."""
        eng = self.engine
        inst = eng.instruments[symbol]
        env = self.state.runs[symbol].market.env
        eng.account_values[symbol](env)
        long = pos.amount > 0
        if action.price is not None:
            trig = trigger_price(inst, action.price.fn(env), f"{action.kind} price")
        else:
            assert action.distance is not None
            d = action.distance
            below = long == (action.kind == "stop_loss")
            trig = trigger_price(inst, pos.entry_price * (1 - d if below else 1 + d), f"{action.kind} price")
        return ProtectIntent(
            symbol,
            _LONG if long else _SHORT,
            action.kind,
            trig,
            action.working_type,
            action.tag,
            rule,
            self.state.time,
            position_side=pos.position_side,
            price_protect=action.price_protect,
        )

    def after_report(self, symbol: str, step: Step) -> None:
        """`place_pending`, then `refresh`: what every order and account report of the symbol ends
        with. The position is read once: placing stops does not move it (only an account update does)."""
        st = self.state
        run = st.runs[symbol]
        held = st.portfolio.net_amount(symbol) != 0
        if held and run.fill_time <= run.account_time:  # as `place_pending` asks
            self._place_pending(symbol, run, step)
        self._refresh(symbol, run, held)

    def place_pending(self, symbol: str, step: Step) -> None:
        """Stops that waited for their entry: placed once it is done filling and the position the
        exchange reported holds its last fill."""
        st = self.state
        run = st.runs[symbol]
        if run.fill_time > run.account_time or st.portfolio.net_amount(symbol) == 0:
            # The entry's last ORDER_TRADE_UPDATE came before the ACCOUNT_UPDATE with its position
            # (Binance orders each kind on its own): a trailing stop's quantity is fixed, and sized
            # now it would leave that fill unprotected. The account update places it.
            return
        self._place_pending(symbol, run, step)

    def _place_pending(self, symbol: str, run: SymbolRun, step: Step) -> None:
        st = self.state
        for entry_id in list(run.protections):
            entry = st.oms.get(entry_id)
            if entry is None or entry.filled_qty == 0 or entry.is_open:
                continue  # place once the entry is done filling, sized to the position it made
            for action in run.protections.pop(entry_id):
                assert isinstance(action, c.StopOrder | c.TrailingStop)
                # Hedge mode: on the leg the entry opened, not whichever leg is open first.
                self.protect(symbol, entry.rule, action, step, entry.command.position_side)
        if not run.entry_pending:
            self.cover(symbol, step)

    def cover(self, symbol: str, step: Step, again: str = "") -> None:
        """A trailing stop that covers less than its position is replaced by one for all of it.

        Transaction times cannot always tell which account update holds an entry's last fill:
        Binance stamps the fills of one match with one time, so a stop placed on the first of
        their account updates is sized short. The position also grows by entries that name no
        stop of their own. (A stop larger than a shrunk position stays: reduce-only, it closes
        what is there, and a new one would restart the trail.) A resize the exchange refused is tried
        again on the next account report, and when the protective-stop guard's countdown ends
        (`again` says so in the journal)."""
        st, eng = self.state, self.engine
        latest: dict[tuple[str | None, PositionSide], OrderRecord] = {}
        for record in st.oms.open_orders(symbol):
            if record.purpose == "trailing_stop":  # the last of each tag replaces the ones before it
                latest[record.command.tag, record.command.position_side] = record
        for record in latest.values():
            was = record.command
            pos = st.portfolio.position(symbol, was.position_side)
            direction = pos.direction
            if direction is None or was.side is not direction.exit_side or was.quantity is None:
                continue  # flat or turned: cancel_leftovers acts on it
            if not record.untriggered:
                continue  # triggered: it is closing the position now
            qty = eng.instruments[symbol].round_qty(pos.size, OrderType.MARKET)
            if qty <= was.quantity:
                continue
            grew = f"trailing_stop {qty}: the position grew past {was.quantity}{again}"
            new_id = self.trail_again(record, direction, was.activation_price, qty, grew, step)
            stop_swap.replaces(eng, new_id, [record], ": resized to the position")  # it goes once the new one works

    def trail_now(self, refused: OrderRecord, step: Step) -> None:
        """`refused`, a trailing stop the exchange refused because the price it watches had already
        passed its activation price (-2021: a SELL's at or below the price, a BUY's at or above), placed
        again without one: the trail starts at once from the price, as reaching it would have started
        it. Only the exchange knows its price when the stop arrives: the engine's may lag a trade."""
        st, eng = self.state, self.engine
        was = refused.command
        pos = st.portfolio.position(was.symbol, was.position_side)
        direction = pos.direction
        if direction is None or was.side is not direction.exit_side or was.callback_rate is None:
            return  # flat or turned since: nothing to trail
        qty = eng.instruments[was.symbol].round_qty(pos.size, OrderType.MARKET)
        why = f"trailing_stop {qty}: activation {was.activation_price} already passed, trailing from the price"
        stop_swap.carry(eng, refused.client_order_id, self.trail_again(refused, direction, None, qty, why, step))

    def trail_again(
        self,
        record: OrderRecord,
        direction: Direction,
        activation: Decimal | None,
        qty: Decimal,
        why: str,
        step: Step,
    ) -> str:
        """`record`'s trailing stop placed again (its callback, working type, tag, leg and rule) for the
        `direction` position's `qty` with `activation`, journaled with `why`: its id."""
        st, eng = self.state, self.engine
        was = record.command
        assert was.callback_rate is not None
        trail = TrailingStopIntent(
            was.symbol,
            direction,
            was.callback_rate / 100,
            activation,
            was.working_type,
            was.tag,
            record.rule,
            st.time,
            quantity=qty,
            position_side=was.position_side,
            reduce_only=was.reduce_only,
        )
        cmd = st.oms.place_trailing_stop(trail)
        step.records.append(
            rec.GuardRecord(
                st.time,
                was.symbol,
                record.rule,
                why,
                (Verdict("allow", "reduce_only", "protective orders are always allowed"),),
                cmd.client_order_id,
            )
        )
        eng.send(cmd, step)
        return cmd.client_order_id

    def place_protective_stop(
        self, symbol: str, trigger: Decimal, verdict: Verdict, position_side: PositionSide, step: Step
    ) -> None:
        """The protective-stop guard found the position (the hedge leg `position_side`) without a stop for
        all of it: place one at `trigger`, and resize again a trailing stop whose resize was refused."""
        st = self.state
        pos = st.portfolio.position(symbol, position_side)
        side = _LONG if pos.amount > 0 else _SHORT
        stop = ProtectIntent(
            symbol,
            side,
            "stop_loss",
            trigger,
            _MARK_PRICE,
            "protective",
            "protective_stop",
            st.time,
            position_side=pos.position_side,
        )
        cmd = st.oms.place_stop(stop, "protective")
        step.records.append(
            rec.GuardRecord(
                st.time, symbol, "protective_stop", f"protective stop {trigger}", (verdict,), cmd.client_order_id
            )
        )
        self.engine.send(cmd, step)
        if not st.runs[symbol].entry_pending:  # still filling, it is resized once done
            self.cover(symbol, step, " (tried again as the protective stop goes out)")

    def cancel_leftovers(self, symbol: str, position_side: PositionSide, step: Step) -> None:
        """The position is gone: its stops and take-profits go too. Binance leaves them working,
        and a close-position stop left over from the last trade would close the next one."""
        st = self.state
        for record in st.oms.open_orders(symbol):
            if record.algo_status == "TRIGGERED":
                # It fired (it is what closed the position, its FINISHED follows the account update):
                # an algo order past its trigger cannot be canceled, the request was refused (-2011).
                continue
            if record.purpose in _LEFTOVER_PURPOSES and record.command.position_side is position_side:
                step.commands.append(st.oms.cancel(record, st.time, "position closed"))

    def refresh(self, symbol: str, why: str = "") -> None:
        """Start (or stop) the protective-stop guard's countdown for the symbol (`why`: see `_refresh`)."""
        st = self.state
        self._refresh(symbol, st.runs[symbol], st.portfolio.net_amount(symbol) != 0, why)

    def _refresh(self, symbol: str, run: SymbolRun, held: bool, why: str = "") -> None:
        """`why`: what starts the countdown of a position (leg) without a stop, should it start now (none:
        the position opened). Each position counts down on its own (hedge mode: each leg)."""
        guard = run.guard
        due = guard.protect_due
        legs = [pos.position_side for pos in self.unprotected_legs(symbol)] if held else []
        for leg in [leg for leg in due if leg not in legs]:
            del due[leg]  # it has its stop again, or it is gone
        within = self.book.risk.protective_stop_within_ms
        for leg in legs:
            if leg not in due:
                due[leg] = (self.state.time + within, why, within)
        if not held and guard.protect_refused:
            guard.protect_refused.clear()
        guard.due_again()
        self.engine.clock.update_next_protect()

    def unprotected(self, symbol: str, leg: PositionSide | None = None) -> PositionState | None:
        """The first of `unprotected_legs` (`leg`: that leg only, in hedge mode); None when none."""
        bare = stop_cover.bare(self.engine, symbol, leg)
        return bare[0] if bare else None

    def unprotected_legs(self, symbol: str) -> tuple[PositionState, ...]:
        """Each of the symbol's open positions (hedge mode: each leg) with no stop for all of it (`stop_cover.bare`)."""
        return stop_cover.bare(self.engine, symbol)

    def covered(self, pos: PositionState) -> Decimal:
        """How much of `pos` the stops working on it close: all of it, or the most one of them closes."""
        leg = pos.position_side if self.engine.hedge else None
        short = short_by(self.state.oms, self.engine.instruments[pos.symbol], pos, leg)
        return pos.size if short is None else short


def _already(record: OrderRecord, stop: ProtectIntent) -> bool:
    """Whether `record` is the close-position stop `stop` would place, still waiting to trigger."""
    was = record.command
    return (
        record.untriggered
        and was.close_position
        and was.order_type is not OrderType.TRAILING_STOP_MARKET
        and was.trigger_price == stop.trigger_price
        and was.working_type is stop.working_type
        and was.price_protect == stop.price_protect
    )


def _trailing(record: OrderRecord, trail: TrailingStopIntent) -> bool:
    """Whether `record` is a trailing stop working as `trail` asks, untriggered and covering its
    quantity. One without an activation price trails already (as one `trail_now` placed again when
    the price had passed it): asked again with an activation price, it stays."""
    was = record.command
    return (
        record.untriggered
        and was.order_type is OrderType.TRAILING_STOP_MARKET
        and was.callback_rate == trail.callback_rate * 100
        and was.working_type is trail.working_type
        and was.quantity is not None
        and was.quantity >= trail.quantity
        and (was.activation_price is None or was.activation_price == trail.activation_price)
    )
