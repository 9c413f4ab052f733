"""A fired rule's actions, in order, turned into intents for the rooms that carry them out.

Entries go to entries.py (sizing, the guards, the order manager), exits and deleverage to
exits.py, stops to protections.py (a stop named with an entry waits for that entry's fill),
state moves to binding.py. `cancel`, `set_leverage` and `halt` are carried out here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from rulebot.core.commands import SetLeverage
from rulebot.core.enums import Direction
from rulebot.core.intents import CancelIntent, DeleverageIntent, HaltIntent, SetLeverageIntent
from rulebot.engine import records as rec
from rulebot.engine.binding import retry_delay_ms
from rulebot.engine.sizing import SizingError, to_decimal
from rulebot.engine.state import PendingExit, Step
from rulebot.rulebook import compiled as c

if TYPE_CHECKING:
    from rulebot.engine.engine import Engine

# Built once: `A | B` in an isinstance test builds a new union object on every call.
_EXITS = (c.Exit, c.Reduce)
_STOPS = (c.StopOrder, c.TrailingStop)
RESTART_WHY = "when the bot started again"  # the protective stop's verdict for a position found bare then


class Actions:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.state = engine.state
        self.book = engine.book

    def run(
        self, symbol: str, rule: c.CompiledRule, step: Step, actions: tuple[c.CompiledAction, ...] | None = None
    ) -> None:
        """The rule's actions (or `actions`, the rest of a stop and reverse)."""
        eng, st = self.engine, self.state
        run = st.runs[symbol]
        entry_id: str | None = None
        entry_refused = False
        todo = rule.actions if actions is None else actions
        for j, action in enumerate(todo):
            # Exits first: a `reduce` of an `on: trade` rule may fire on trade after trade.
            if isinstance(action, _EXITS):
                if action.fraction is None and action.size is None and isinstance(action, c.Exit):
                    cid = eng.exits.exit_all(symbol, rule.name, action.order, action.price, "exit", step)
                else:
                    cid = eng.exits.exit(
                        symbol, rule.name, action.fraction, action.size, action.order, action.price, "exit", step
                    )
                if cid is not None and self._reverses(action, todo[j + 1 :]):
                    self._reverse_once_flat(symbol, rule, cid, todo[j + 1 :], step)
                    return
            elif isinstance(action, c.Enter):
                entry_id = eng.entries.enter(symbol, rule, action, step)
                entry_refused = entry_id is None
            elif isinstance(action, _STOPS):
                if entry_id is not None:
                    run.protections.setdefault(entry_id, []).append(action)
                elif entry_refused:
                    # Its entry was refused (journaled): nothing it was to protect was made. Placed now
                    # it would replace the stop of the position already held (in hedge mode: of the
                    # other leg) with one priced for an entry that never happened.
                    continue
                elif st.portfolio.net_amount(symbol) != 0:
                    eng.protections.protect(symbol, rule.name, action, step)
            elif isinstance(action, c.Deleverage):
                pos = st.portfolio.net_position(symbol)
                equity = st.portfolio.equity(eng.instruments[symbol].margin_asset)
                if pos.amount == 0 or st.portfolio.marks.get(symbol) is None or equity <= 0:
                    continue
                try:
                    target = to_decimal(action.to.fn(run.market.env), f"deleverage to {action.to.text!r}")
                    if target < 0:  # the compiler holds a literal to 1..10; an expression can still go below 0
                        raise SizingError(f"deleverage to {action.to.text!r} is {target}x, negative: nothing closed")
                except (SizingError, ArithmeticError) as exc:
                    intent = f"deleverage to {action.to.text}"
                    step.records.append(rec.sizing_refused(st.time, symbol, rule.name, intent, exc))
                    continue
                side = Direction.LONG if pos.amount > 0 else Direction.SHORT
                eng.exits.deleverage(DeleverageIntent(symbol, side, target, rule.name, st.time), step)
            elif isinstance(action, c.ChangeLeverage):
                wanted = SetLeverageIntent(symbol, max(action.to, action.requested), rule.name, st.time)
                self.set_leverage(wanted, action.requested, step)
            elif isinstance(action, c.Cancel):
                step.commands.extend(st.oms.cancel_tagged(CancelIntent(symbol, action.tag, rule.name, st.time)))
            elif isinstance(action, c.Goto):
                if entry_refused and self.book.states[action.state].position.holds_position:
                    continue  # the entry was refused: no position to hold, so no state claiming one
                eng.binding.goto(symbol, action.state, st.time, f"rule {rule.name}", step)
            elif isinstance(action, c.Log):
                self._log(symbol, rule.name, action, step)
            elif isinstance(action, c.Halt):
                eng.halt_for(HaltIntent(action.reason, rule.name, st.time), step, holds=True)

    def _reverses(self, action: c.Exit | c.Reduce, rest: tuple[c.CompiledAction, ...]) -> bool:
        """A full exit followed by an entry in one-way mode: stop and reverse."""
        return (
            not self.engine.hedge
            and isinstance(action, c.Exit)
            and action.fraction is None
            and action.size is None
            and any(isinstance(a, c.Enter) for a in rest)
        )

    def _reverse_once_flat(
        self, symbol: str, rule: c.CompiledRule, exit_id: str, rest: tuple[c.CompiledAction, ...], step: Step
    ) -> None:
        """Stop and reverse: the reduce-only exit is out; the rest of the rule (the entry, its stops,
        the goto) waits until the exchange reports the position flat. In one-way mode an entry
        sent beside the exit would flip the position if the exit filled and add to it if the exit
        was refused; waiting keeps the position within the rulebook's size whatever the exchange
        does. Until then the state stays, and a refused exit is sent again as for `goto: flat`."""
        st = self.state
        run = st.runs[symbol]
        for entry_id in sorted(run.entry_pending):  # an entry still working would refill the old side
            step.commands.append(st.oms.cancel_id(symbol, entry_id, st.time, f"rule {rule.name} reverses: exit first"))
        ex = run.exiting
        if ex is None:
            flat = self.engine.binding.state_for_flat(run.state)
            ex = PendingExit(flat, f"rule {rule.name}", rule.name, exit_id, 1, st.time + retry_delay_ms(1), rest, rule)
            run.exiting = ex
        else:
            ex.order_id, ex.then, ex.then_rule = exit_id, rest, rule
        st.next_retry = min(st.next_retry, ex.retry_at)

    def set_leverage(self, intent: SetLeverageIntent, requested: int, step: Step) -> None:
        """The leverage the max_leverage guard allows of `intent`, on the exchange and for sizing."""
        lev, verdict = self.engine.risk.clamp_leverage(intent.leverage)
        run = self.state.runs[intent.symbol]
        run.leverage_asked, run.leverage = (lev, run.leverage), lev
        step.records.append(
            rec.GuardRecord(intent.time, intent.symbol, intent.rule, f"set_leverage {requested}x", (verdict,), None)
        )
        step.commands.append(SetLeverage(intent.symbol, lev, intent.time))

    def _log(self, symbol: str, rule: str, action: c.Log, step: Step) -> None:
        env = self.state.runs[symbol].market.env
        self.engine.account_values[symbol](env)
        message = action.template
        for name in action.names:
            value = env.get(name)
            shown = f"{value:.6g}" if isinstance(value, float) else str(value)
            message = message.replace("{" + name + "}", shown)
        step.records.append(rec.LogLine(self.state.time, symbol, rule, message))


def stops_after_entry(book: c.CompiledRulebook, rule: str) -> list[c.CompiledAction]:
    """The stops the rule named `rule` places once its entry fills (those after the entry, as
    `Actions.run` keeps them), for an entry adopted at a restart; none when no rule has that name now."""
    for r in book.rules:
        if r.name == rule:
            at = next((i for i, a in enumerate(r.actions) if isinstance(a, c.Enter)), len(r.actions))
            return [a for a in r.actions[at + 1 :] if isinstance(a, _STOPS)]
    return []


def protect_restored(engine: Engine, symbol: str, rules: Mapping[str, str], step: Step) -> None:
    """At a restart: the symbol's position (hedge mode: each leg) has no stop on the exchange and no
    entry is on its way whose fill would bring one. The run that was to place its entry's stops stopped
    first (killed between the fill and the stop): the stops of the rule of its side's last filled entry
    (`rules`: "long"/"short" -> rule, as this rulebook names it) go out now; with none, the
    protective-stop guard acts now, not `protective_stop_within` after the restart: the position opened
    long before it."""
    run = engine.state.runs[symbol]
    bare = engine.protections.unprotected_legs(symbol)
    if not bare or run.entry_pending or run.protections:
        return
    for pos in bare:
        rule = rules.get(pos.side)
        stops = stops_after_entry(engine.book, rule) if rule else []
        step.records.append(
            rec.EngineNotice(
                engine.time,
                symbol,
                "recovery",
                f"{symbol}: the {pos.side} position has no stop on the exchange; "
                + (f"placing rule {rule}'s stops now" if stops else "the protective stop goes out now"),
            )
        )
        for action in stops:
            assert isinstance(action, _STOPS)
            engine.protections.protect(symbol, rule or "", action, step, pos.position_side)
    guard = run.guard
    for pos in engine.protections.unprotected_legs(symbol):  # none placed (a take-profit only, a sizing failure)
        # Owed since before the restart: it goes out now, and its verdict says so (no countdown ran).
        guard.protect_due[pos.position_side] = (engine.time, RESTART_WHY, 0)
    guard.due_again()
    engine.clock.update_next_protect()
