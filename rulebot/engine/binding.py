"""Each symbol's state stays bound to the position the exchange reports (issue 11).

A state with `position: none` never holds while the account holds a position: a rule's
`goto: flat` after an `exit` waits (the state stays `long`) until the exchange reports the
position closed, and the exit is sent again while the exchange refuses it; a state is moved to
match a position it did not expect (a restart, a fresh journal on a held position). Entries on
a symbol go one at a time: the next one waits until the last one's outcome is in the position.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rulebot.core.enums import Direction, OrderType
from rulebot.engine import records as rec
from rulebot.engine.entries import open_legs
from rulebot.engine.state import PendingExit, Step
from rulebot.rulebook.compiled import CompiledRulebook, PositionBinding

if TYPE_CHECKING:
    from rulebot.engine.engine import Engine

__all__ = ["CLOSING_PURPOSES", "Binding", "PendingExit", "retry_delay_ms", "state_for", "state_for_flat"]

_ANY, _LONG, _SHORT, _NONE = PositionBinding.ANY, PositionBinding.LONG, PositionBinding.SHORT, PositionBinding.NONE
# Orders that close (part of) a position: while one works, the position is being closed.
CLOSING_PURPOSES = frozenset({"exit", "flatten", "deleverage"})
_FIRST_RETRY_MS = 1_000
_MAX_RETRY_MS = 60_000


def retry_delay_ms(attempts: int) -> int:
    """1 s, 2 s, 4 s … up to a minute between two tries: an exit keeps being tried, within the
    order budget, for as long as the exchange refuses it."""
    return min(_FIRST_RETRY_MS << max(attempts - 1, 0), _MAX_RETRY_MS)


def state_for(book: CompiledRulebook, direction: Direction | None) -> str | None:
    """The state that holds a position in `direction` (None: no position): the initial state first,
    then in file order, as a reload chooses; a `position: any` state if none is bound to it; None
    without either."""
    order = [book.initial_state] + [s for s in book.states if s != book.initial_state]
    for binding in (PositionBinding.of(direction), PositionBinding.ANY):
        found = next((s for s in order if book.states[s].position == binding), None)
        if found is not None:
            return found
    return None


def state_for_flat(book: CompiledRulebook, current: str) -> str:
    """Where a stop and reverse waits between its exit and its entry: the state's `on_close`, else
    the first position-less state (the initial state first); `current` if the rulebook has none."""
    return book.states[current].on_close or state_for(book, None) or current


class Binding:
    """State moves (`goto`, timeouts, a closed position) checked against the position held."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.state = engine.state
        self.book = engine.book
        # `state_for` of each direction, looked up once: a pure function of this engine's compiled
        # rulebook (a reload builds a new engine), asked on every stop and reverse.
        self._state_for: dict[Direction | None, str | None] = {}

    def state_for(self, direction: Direction | None) -> str | None:
        """`state_for(self.book, direction)`."""
        try:
            return self._state_for[direction]
        except KeyError:
            found = self._state_for[direction] = state_for(self.book, direction)
            return found

    def state_for_flat(self, current: str) -> str:
        """`state_for_flat(self.book, current)`."""
        return self.book.states[current].on_close or self.state_for(None) or current

    def goto(self, symbol: str, state: str, time: int, why: str, step: Step) -> None:
        run = self.state.runs[symbol]
        if state != run.state and self.book.states[state].position is _NONE and not self.known_flat(symbol):
            self._goto_when_flat(symbol, state, time, why, step)
            return
        if state == run.state:
            run.entered_at = time
            self.engine.clock.update_next_timeout()
            return
        step.records.append(rec.StateChange(time, symbol, run.state, state, why))
        run.state = state
        run.entered_at = time
        run.market.env["state"] = state
        self.engine.clock.update_next_timeout()

    def known_flat(self, symbol: str) -> bool:
        """No position, no entry working, and every fill already in the position reported."""
        run = self.state.runs[symbol]
        return not run.entry_pending and run.fill_time <= run.account_time and not open_legs(self.engine, symbol)

    def _goto_when_flat(self, symbol: str, state: str, time: int, why: str, step: Step) -> None:
        """A `position: none` state is entered once the exchange reports the position closed: until
        then the state stays, and the exit the rule sent is watched (and sent again if refused)."""
        st = self.state
        run = st.runs[symbol]
        closing = [r for r in st.oms.open_orders(symbol) if r.purpose in CLOSING_PURPOSES]
        run.entered_at = time  # a `timeout: … then:` waits again rather than firing on every event
        self.engine.clock.update_next_timeout()
        ex = run.exiting
        if ex is not None:
            ex.target, ex.why = state, why
            ex.then, ex.then_rule = (), None  # a later move to a flat state replaces a pending reversal
            if closing:
                ex.order_id = closing[-1].client_order_id
            return
        reflected = run.fill_time <= run.account_time
        held = run.exit_held_at == time  # this rule's exit was held back, as the exchange would refuse it
        if not closing and not run.entry_pending and reflected and not held:
            pos = st.portfolio.net_position(symbol)
            step.records.append(
                rec.EngineNotice(
                    time,
                    symbol,
                    "state-kept",
                    f"{why}: not moving to {state}: the exchange holds a {pos.side} position of {pos.size} and "
                    f"no exit is working; the state stays {run.state}",
                )
            )
            return
        for entry_id in sorted(run.entry_pending):  # an exit before the entry's outcome: stop the entry
            step.commands.append(st.oms.cancel_id(symbol, entry_id, time, f"{why}: exit first"))
        rule = closing[-1].rule if closing else why.removeprefix("rule ")
        order_id = closing[-1].client_order_id if closing else None
        tries = 1 if closing or held else 0  # a refused exit (or one held back) waits the backoff
        run.exiting = PendingExit(state, why, rule, order_id, tries, time + retry_delay_ms(1))

    def _send_exit_again(self, symbol: str, step: Step) -> None:
        """The position a pending exit was to close is still open and nothing closes it: close it,
        no sooner than the backoff after the last try and within the order budget."""
        eng, st = self.engine, self.state
        ex = st.runs[symbol].exiting
        if ex is None or eng.exits.closing(symbol):
            return  # a closing order works: its outcome decides
        if ex.attempts and st.time < ex.retry_at:
            st.next_retry = min(st.next_retry, ex.retry_at)
            return
        if st.order_budget.used(st.time) >= self.book.risk.max_orders_per_minute:
            ex.retry_at = st.time + 1000
            st.next_retry = min(st.next_retry, ex.retry_at)
            return
        cid = eng.exits.exit(symbol, ex.rule, None, None, OrderType.MARKET, None, "exit", step)
        if cid is not None:
            ex.order_id, ex.attempts = cid, ex.attempts + 1
            ex.retry_at = st.time + retry_delay_ms(ex.attempts)

    def _bind_to_position(self, symbol: str, time: int, step: Step) -> None:
        """The exchange holds a position the state does not expect (a restart, a fresh journal on a
        held position, a fill that arrived late): move to the state bound to it."""
        run = self.state.runs[symbol]
        pos = self.state.portfolio.net_position(symbol)
        direction = pos.direction
        target = self.state_for(direction)
        if target is not None and target != run.state:
            self.goto(symbol, target, time, f"the exchange holds a {pos.side} position of {pos.size}", step)
        elif run.unbound_noted is not PositionBinding.of(direction):
            run.unbound_noted = PositionBinding.of(direction)
            step.records.append(
                rec.EngineNotice(
                    time,
                    symbol,
                    "position-unbound",
                    f"the exchange holds a {pos.side} position of {pos.size} and no state of the rulebook holds "
                    f"one: no entries on {symbol} while it is open; stops and the guards still act",
                )
            )

    def check(self, symbol: str, time: int, step: Step, why: str = "position closed") -> None:
        """Bring the state in line with the position the exchange reported, once no entry is working
        and every fill is in that position: a position-bound state whose position is gone falls
        back, a pending exit completes (or is sent again), and a state that does not expect the
        position held moves to one that does."""
        run = self.state.runs[symbol]
        if run.entry_pending or run.fill_time > run.account_time:
            return  # an entry's outcome, or a fill's effect on the position, is not known yet
        ex = run.exiting
        if ex is not None:
            if open_legs(self.engine, symbol):
                self._send_exit_again(symbol, step)
            else:
                run.exiting = None
                states = self.book.states  # a reload may have removed the target
                target = ex.target if ex.target in states else states[run.state].on_close or self.book.initial_state
                self.goto(symbol, target, time, ex.why, step)
                if ex.then and ex.then_rule is not None:  # stop and reverse: flat now, so the entry goes
                    self.engine.actions.run(symbol, ex.then_rule, step, ex.then)
                    self.check(symbol, self.state.time, step, why="no position (entry not placed)")
            return
        spec = self.book.states[run.state]
        binding = spec.position
        held = False
        # open_legs walked rather than listed, and PositionBinding.admits of each leg's direction
        # spelled out on its amount: this runs after every fired rule, for one leg.
        for (s, _), p in self.state.portfolio.positions.items():
            if s == symbol and (amount := p.amount) != 0:
                if binding is _ANY or (binding is _LONG and amount > 0) or (binding is _SHORT and amount < 0):
                    return
                held = True
        if held:
            self._bind_to_position(symbol, time, step)
            return
        run.unbound_noted = None
        if spec.position.holds_position and spec.on_close:
            self.goto(symbol, spec.on_close, time, why, step)
