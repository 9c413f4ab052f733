"""Venue reports: order and algo-order updates, account updates, stream status and refusals.

The venue is the source of truth: an order update moves the order's lifecycle and the fill
statistics, an account update the positions and balances. Each report then brings the rest in
line: the fill trigger runs, stops waiting for a filled entry are placed, stops of a closed
position are canceled, the state is bound to the position again, the cap stops re-priced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rulebot.core.account_events import RECONCILE, AccountUpdate, AlgoUpdate, OrderUpdate, StreamStatus
from rulebot.core.commands import Command, SetLeverage, SetMarginType, SetPositionMode
from rulebot.engine import records as rec
from rulebot.engine import stop_cover, stop_swap
from rulebot.engine.binding import CLOSING_PURPOSES
from rulebot.engine.exits import PASSED_CODES, PASSED_PURPOSES, PASSED_TYPES
from rulebot.engine.state import Step

if TYPE_CHECKING:
    from rulebot.engine.engine import Engine

_NO_ROOM = frozenset({-4045, -2025})  # the symbol holds as many (stop) orders as the exchange allows


class VenueReports:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.state = engine.state
        # Whether any rule has these triggers (built before this room): every fill and every closed
        # position would otherwise ask the dispatch, which finds nothing to run.
        keys = engine.rules.keys
        self._fill_rules = ("fill", None) in keys
        self._closed_rules = ("position_closed", None) in keys

    def on_order(self, u: OrderUpdate, step: Step) -> None:
        eng, st = self.engine, self.state
        record = st.oms.apply(u)
        filled = u.last_filled_qty > 0  # once: half of a round trip's order updates are NEW
        if filled:
            # Stale to the order manager (settled from REST already, or said twice): not a new fill.
            st.portfolio.apply_fill(u, new=record is not None or st.oms.get(u.client_order_id) is None)
        run = st.runs.get(u.symbol)
        if run is not None and filled:
            run.fill_time = max(run.fill_time, u.time)  # the position moved: wait for the account's word
            if u.time == run.account_time and record is not None and run.account_heard <= record.accounts_before:
                # The account update stamped this same millisecond was heard before this order was
                # sent, so it cannot hold this fill: a stop and reverse's entry fills in the exit's
                # millisecond in a backtest, and its position comes with the next update. (Binance
                # may send a fill's own account update before its order update; that one is heard
                # after the order was sent, and vouches for the fill as before.)
                run.account_time = u.time - 1
        if record is None or run is None:
            return
        if st.swaps:
            stop_swap.settle(eng, record, step)
        if record.purpose == "trailing_stop" and u.execution_type == "NEW" and record.untriggered:  # COIN-M
            stop_cover.stand_down(eng, record, step)
        if record.purpose == "daily_cap":
            eng.cap_stops.on_order(record, filled, step)
        if filled and self._fill_rules:
            eng.rules.dispatch(u.symbol, ("fill", None), step)
        if record.purpose == "entry" and record.status is not None and not record.is_open:
            run.entry_pending.discard(record.client_order_id)
            if record.filled_qty == 0:
                run.protections.pop(record.client_order_id, None)
            eng.binding.check(u.symbol, u.time, step)
        elif record.purpose in CLOSING_PURPOSES and not record.is_open:
            eng.binding.check(u.symbol, u.time, step)
        if record.status not in stop_cover.COVERING and stop_cover.is_stop(record):  # a stop's order ended
            how = stop_cover.how_ended(record, u.status.value, u.reject_reason)
            if how is not None:
                stop_cover.lost(eng, record, how, step)
        eng.protections.after_report(u.symbol, step)

    def on_algo(self, event: AlgoUpdate, step: Step) -> None:
        record = self.state.oms.apply_algo(event)
        if record is None:
            return
        if self.state.swaps:
            stop_swap.settle(self.engine, record, step)
        if record.purpose == "trailing_stop" and event.status == "NEW":
            stop_cover.stand_down(self.engine, record, step)
        elif record.purpose == "protective" and event.status == "NEW":
            stop_cover.guard_accepted(self.engine, record)
        if record.purpose == "daily_cap":
            self.engine.cap_stops.on_order(record, False, step)
        if not record.is_open and stop_cover.is_stop(record):  # the algo service is done with a stop
            how = stop_cover.how_ended(record, event.status, event.reason)
            if how is not None:
                stop_cover.lost(self.engine, record, how, step)
        if event.status == "REJECTED":
            step.records.append(
                rec.EngineNotice(
                    event.time,
                    event.symbol,
                    "order-rejected",
                    f"{record.purpose} order {record.client_order_id} rejected: {event.reason}",
                )
            )

    def on_account(self, u: AccountUpdate, step: Step) -> None:
        eng, st = self.engine, self.state
        closed = st.portfolio.apply_account_update(u)
        positions = u.positions
        reconciled = u.reason == RECONCILE
        st.oms.accounts_heard += 1
        heard = st.oms.accounts_heard
        for p in positions:
            held = st.runs.get(p.symbol)
            if held is not None:
                held.account_heard = heard
                # A reconciliation is stamped with an estimate of the exchange's clock, which may run
                # ahead of the times on the exchange's own events: it vouches for the fills the engine
                # had heard of when it read the account (it takes no event while it reconciles), not
                # for every fill stamped before its time.
                held.account_time = max(held.account_time, held.fill_time if reconciled else u.time)
        for pos in closed:
            if pos.symbol not in st.runs:
                continue
            eng.protections.cancel_leftovers(pos.symbol, pos.position_side, step)
            if self._closed_rules:
                eng.rules.dispatch(pos.symbol, ("position_closed", None), step)
            eng.binding.check(pos.symbol, u.time, step)
        # One position (one-way mode, every fill's report): no set to build and sort.
        symbols = (positions[0].symbol,) if len(positions) == 1 else sorted({p.symbol for p in positions})
        for symbol in symbols:
            if symbol in st.runs:
                if (st.halted or st.daily_breach_day is not None) and st.portfolio.net_amount(symbol):
                    self._flatten_late(symbol, step)
                eng.protections.after_report(symbol, step)
                eng.binding.check(symbol, u.time, step)
        if u.reason == "ORDER":
            eng.guards.on_account(step)
        eng.cap_stops.refresh(step)  # the position or the wallet changed: so did the cap price

    def _flatten_late(self, symbol: str, step: Step) -> None:
        """A position held after the kill switch or the daily loss cap flattened everything: an
        entry on its way then filled since (its stop was dropped with the flatten). Close it too."""
        st = self.state
        if st.runs[symbol].exiting is None:
            self.engine.exits.flatten_symbol(symbol, "halt" if st.halted else "daily_loss_cap", step)

    def on_stream(self, e: StreamStatus, step: Step) -> None:
        down = self.state.streams_down
        if e.connected:
            if e.stream in down:
                down.discard(e.stream)
                step.records.append(
                    rec.EngineNotice(
                        e.time, "", "stream-up", f"stream {e.stream} is back; entries allowed again once data is fresh"
                    )
                )
        elif e.stream not in down:
            down.add(e.stream)
            step.records.append(
                rec.EngineNotice(
                    e.time,
                    "",
                    "stream-down",
                    f"stream {e.stream} disconnected"
                    f"{': ' + e.detail if e.detail else ''}; no new entries until it is "
                    "back; exits and stops still go out",
                )
            )

    def on_reject(self, client_order_id: str, code: int | None, message: str, time: int) -> Step:
        """The venue refused a command outright (a REST error): record it, repair the state."""
        step = Step()
        record = self.state.oms.rejected(client_order_id, f"{code}: {message}")
        if record is None:
            return step
        symbol = record.command.symbol
        run = self.state.runs.get(symbol)
        if record.purpose == "entry":
            outcome = "nothing was opened"
        elif record.purpose in CLOSING_PURPOSES:
            outcome = "the position is unchanged"
            ex = run.exiting if run is not None else None
            if run is not None and ex is not None and ex.order_id == client_order_id:
                wait = max(ex.retry_at - time, 0) / 1000
                outcome += f"; the state stays {run.state} and the exit is sent again in {wait:g} s"
        else:
            outcome = "the order is not working"
        at = len(step.records)
        retrail = record.purpose == "trailing_stop" and code == -2021 and record.command.activation_price is not None
        if retrail:
            outcome = "its activation price was already passed: placed again without one"
        elif (
            code in _NO_ROOM
            and record.purpose == "trailing_stop"
            and stop_cover.make_room(self.engine, record, code, step)
        ):
            outcome = "the smaller trailing stop it was to replace is cancelled to make room, and it goes out again"
        if code in PASSED_CODES and record.purpose in PASSED_PURPOSES and record.command.order_type in PASSED_TYPES:
            # The price passed the trigger before the stop arrived: the position is closed, as the stop
            # would have closed it, rather than left to the protective stop (further away, or itself this).
            outcome = self.engine.exits.close_passed(record, step)
        step.records.insert(
            at,
            rec.EngineNotice(
                time,
                symbol,
                "order-rejected",
                f"{record.purpose} order {client_order_id} rejected by the exchange ({code}: {message}); {outcome}",
            ),
        )
        if retrail:
            self.engine.protections.trail_now(record, step)
        if self.state.swaps:
            stop_swap.settle(self.engine, record, step)
        if run is not None:
            run.entry_pending.discard(client_order_id)
            run.protections.pop(client_order_id, None)
            self.engine.binding.check(symbol, time, step)
            if record.purpose == "protective" and code not in PASSED_CODES:
                stop_cover.guard_refused(self.engine, record, code)  # tried again soon
            # A refused stop is no stop: the protective-stop guard's countdown, stopped when it was
            # sent, starts again for a position that has no other, and its verdict says from when.
            why = f"its stop {client_order_id} was refused ({code})" if stop_cover.is_stop(record) else ""
            self.engine.protections.refresh(symbol, why)
        return step

    def on_setup_rejected(self, command: Command, code: int | None, message: str, time: int) -> Step:
        """The exchange refused to set margin type, position mode or leverage as the rulebook
        needs them: trading on an account set up otherwise would break the guards' sums, so
        the bot halts (no orders exist yet when this happens at start)."""
        step = Step()
        run = self.state.runs.get(command.symbol) if isinstance(command, SetLeverage) else None
        asked = run.leverage_asked if run is not None else None
        if run is not None and asked is not None and isinstance(command, SetLeverage) and asked[0] == command.leverage:
            # A rule's change (set_leverage, a reload), not the account's set-up: the account stays as
            # it was, which the guards' sums can go on trusting. Halting would flatten every position.
            before, run.leverage_asked = asked[1], None
            run.leverage = before
            step.records.append(
                rec.EngineNotice(
                    time,
                    command.symbol,
                    "leverage-refused",
                    f"the exchange refused to change the leverage to {command.leverage}x ({code}: {message}); "
                    f"it stays {before}x",
                )
            )
            return step
        what = {SetMarginType: "margin type", SetPositionMode: "position mode", SetLeverage: "leverage"}.get(
            type(command), type(command).__name__
        )
        table = self.engine.brackets.get(command.symbol) if isinstance(command, SetLeverage) else None
        top = table.brackets[0].initial_leverage if table is not None else None
        if isinstance(command, SetLeverage) and top is not None and command.leverage > top:
            # Not another mode in the way: the symbol's brackets allow less (FTTUSDT: 8x, -4028).
            todo = (
                f"{command.symbol} allows at most {top}x (its first leverage bracket); set account.leverage "
                f"or risk.max_leverage to {top} or less, then restart"
            )
        else:
            todo = (
                "close positions and orders of another mode on the exchange, or change the rulebook's account "
                "settings, then restart"
            )
        self.engine.halt(
            f"the exchange refused to set the {what} ({code}: {message}); the account is not set up as "
            f"the rulebook requires — {todo}",
            step,
        )
        return step
