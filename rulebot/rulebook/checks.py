"""Checks over the whole state machine, once every rule has compiled.

Each check answers one question a reviewer would ask of a strategy before real money goes
behind it: can every state be reached, can every position be closed, does any rule act on a
position its state says does not exist, and do two rules fight over the same moment?
"""

from __future__ import annotations

from collections.abc import Mapping

from rulebot.core.enums import Direction
from rulebot.rulebook import compiled as c
from rulebot.rulebook import model as m
from rulebot.rulebook.context import CompileContext
from rulebot.rulebook.diagnose import did_you_mean
from rulebot.rulebook.expr_exclusive import exclusive

_CLOSERS = (c.Exit, c.Halt)
_PROTECTIVE = (c.StopOrder, c.TrailingStop)
_TAGGED = (c.Enter, c.Exit, c.StopOrder, c.TrailingStop)


def check_machine(
    book: m.Rulebook,
    rules: tuple[c.CompiledRule, ...],
    states: Mapping[str, c.StateSpec],
    initial: str,
    ctx: CompileContext,
) -> None:
    _contradictions(book, rules, states, ctx)
    _short_take_profit_past_zero(rules, states, ctx)
    _opposite_entries(rules, ctx)
    _second_entries(rules, ctx)
    reachable = _reachable(rules, states, initial)
    if book.states is not None:
        for name in states:
            if name not in reachable:
                ctx.warn(
                    f"state '{name}' is unreachable from the initial state '{initial}'",
                    ("states", name),
                    "no goto, timeout or position close leads to it",
                    "unreachable-state",
                    key=True,
                )
    _exit_paths(book, rules, states, reachable, ctx)
    _protective_stop(rules, ctx)
    _unused_timeframes(book, rules, ctx)
    _unknown_cancel_tags(rules, ctx)


def _contradictions(
    book: m.Rulebook, rules: tuple[c.CompiledRule, ...], states: Mapping[str, c.StateSpec], ctx: CompileContext
) -> None:
    for rule in rules:
        for j, action in enumerate(rule.actions):
            entered_before = any(isinstance(a, c.Enter) for a in rule.actions[:j])
            # Stop and reverse: after a full exit the engine sends the entry once the position is flat.
            exited_before = any(
                isinstance(a, c.Exit) and a.fraction is None and a.size is None for a in rule.actions[:j]
            )
            for s in sorted(rule.states):
                pos = states[s].position
                if isinstance(action, c.POSITION_ACTIONS) and pos is c.PositionBinding.NONE and not entered_before:
                    word = _action_word(action)
                    ctx.error(
                        f"rule '{rule.name}' does `{word}` in state '{s}', whose position is none",
                        ("rules", rule.index, "do", j),
                        "there is no position to act on there; limit the rule with `in:` to states that hold one, "
                        "or enter first in the same rule",
                        "state-contradiction",
                    )
                if (
                    isinstance(action, c.Enter)
                    and book.account.position_mode == "one_way"
                    and pos.holds_position
                    and not pos.admits(action.side)
                    and not exited_before
                ):
                    ctx.error(
                        f"rule '{rule.name}' enters {action.side.word} in state '{s}', "
                        f"which holds a {pos.word} position",
                        ("rules", rule.index, "do", j),
                        "in one-way mode that order would reduce or flip the position; put a full `exit` before "
                        "it in the same rule (stop and reverse: the entry goes once the position is flat), "
                        "or limit the rule with `in:`",
                        "state-contradiction",
                    )


def _short_take_profit_past_zero(
    rules: tuple[c.CompiledRule, ...], states: Mapping[str, c.StateSpec], ctx: CompileContext
) -> None:
    """A take_profit `distance` of 100% or more where the position is surely short: the engine puts
    it at entry * (1 - distance), 0 or below, which no price reaches. A long's may be that far."""
    for rule in rules:
        for j, action in enumerate(rule.actions):
            if not (isinstance(action, c.StopOrder) and action.kind == "take_profit" and (action.distance or 0) >= 1):
                continue
            entries = [a.side for a in rule.actions[:j] if isinstance(a, c.Enter)]
            short = (
                entries[-1] is Direction.SHORT
                if entries
                else bool(rule.states) and all(states[s].position is c.PositionBinding.SHORT for s in rule.states)
            )
            if short:
                assert action.distance is not None
                ctx.error(
                    f"take_profit distance {(action.distance * 100).normalize():f}% must be below 100% here: it "
                    "puts a short's take_profit at a price of 0 or below, which is never reached",
                    ("rules", rule.index, "do", j, "take_profit", "distance"),
                    "the distance is a share of the entry price, e.g. distance: 5%",
                    "stop-distance",
                )


def _action_word(action: object) -> str:
    if isinstance(action, c.StopOrder):
        return action.kind
    return {c.Exit: "exit", c.Reduce: "reduce", c.TrailingStop: "trailing_stop", c.Deleverage: "deleverage"}.get(
        type(action), type(action).__name__.lower()
    )


def _opposite_entries(rules: tuple[c.CompiledRule, ...], ctx: CompileContext) -> None:
    seen: dict[tuple[tuple[str, str | None], str, int], dict[Direction, c.CompiledRule]] = {}
    reported: set[tuple[str, str]] = set()
    for rule in rules:
        for side in set(rule.enters):
            for s in rule.states:
                key = (rule.trigger.key, s, rule.priority)
                by_side = seen.setdefault(key, {})
                other = by_side.get(side.opposite)
                if (
                    other is not None
                    and other is not rule  # one rule entering both legs (hedge mode) is not a race between two
                    and other.symbols & rule.symbols
                    and (other.name, rule.name) not in reported
                    and not _never_together(other, rule)
                ):
                    reported.add((other.name, rule.name))
                    ctx.error(
                        f"rules '{other.name}' and '{rule.name}' both listen to `{rule.trigger}` in state '{s}' "
                        f"and enter opposite sides",
                        ("rules", rule.index, "name"),
                        "when both conditions hold, which one wins is undefined; give one of them a higher `priority`",
                        "opposite-entries",
                    )
                by_side.setdefault(side, rule)


def _never_together(a: c.CompiledRule, b: c.CompiledRule) -> bool:
    """The two rules' conditions can never both hold (crossover against crossunder of the same
    pair, `x > y` against `x < y`): no race between them, whatever their priorities."""
    return a.when is not None and b.when is not None and exclusive(a.when.node, b.when.node)


def _second_entries(rules: tuple[c.CompiledRule, ...], ctx: CompileContext) -> None:
    """The engine sends one entry at a time on a symbol (the one-entry-at-a-time guard: a bot never
    holds more than its rulebook says): a second `enter` in the same rule goes out while the first is
    still working, so it is always refused. Two legs of a hedge, or a pyramid, are two rules."""
    for rule in rules:
        first: int | None = None
        for j, action in enumerate(rule.actions):
            if not isinstance(action, c.Enter):
                continue
            if first is None:
                first = j
                continue
            ctx.error(
                f"rule '{rule.name}' enters twice (do[{first}] and do[{j}]): the second entry would go out while "
                "the first is still working, and the engine refuses it (one entry at a time on a symbol)",
                ("rules", rule.index, "do", j),
                "one entry per rule; to hold both legs of a hedge or to add to a position, enter again from "
                "another rule once the first entry filled (e.g. in the state the first rule's goto leads to)",
                "second-entry",
            )


def _reachable(rules: tuple[c.CompiledRule, ...], states: Mapping[str, c.StateSpec], initial: str) -> set[str]:
    edges: dict[str, set[str]] = {s: set() for s in states}
    for rule in rules:
        targets = {a.state for a in rule.actions if isinstance(a, c.Goto)}
        for s in rule.states:
            edges[s] |= targets
    for st in states.values():
        if st.then:
            edges[st.name].add(st.then)
        if st.on_close:
            edges[st.name].add(st.on_close)
    seen = {initial}
    todo = [initial]
    while todo:
        for nxt in edges[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _exit_paths(
    book: m.Rulebook,
    rules: tuple[c.CompiledRule, ...],
    states: Mapping[str, c.StateSpec],
    reachable: set[str],
    ctx: CompileContext,
) -> None:
    # Stops and take-profits live on the exchange: once placed, they close the position
    # whatever state the machine is in.
    if any(isinstance(a, _PROTECTIVE) for r in rules for a in r.actions):
        return
    can_close = {s for r in rules for s in r.states if any(isinstance(a, _CLOSERS) for a in r.actions)}
    goto: dict[str, set[str]] = {s: set() for s in states}
    for r in rules:
        for a in r.actions:
            if isinstance(a, c.Goto):
                for s in r.states:
                    goto[s].add(a.state)
    changed = True
    while changed:
        changed = False
        for s in states:
            if s not in can_close and goto[s] & can_close:
                can_close.add(s)
                changed = True
    for name, st in states.items():
        if st.position.holds_position and name in reachable and name not in can_close:
            where = ("states", name) if book.states is not None else ("rules",)
            ctx.error(
                f"state '{name}' holds a {st.position.word} position, but nothing can close it",
                where,
                "add a rule in this state with `exit:`, or protect entries with stop_loss / take_profit / "
                "trailing_stop",
                "no-exit-path",
                key=book.states is not None,
            )


def _protective_stop(rules: tuple[c.CompiledRule, ...], ctx: CompileContext) -> None:
    enters = [r for r in rules if any(isinstance(a, c.Enter) for a in r.actions)]
    if enters and not any(isinstance(a, _PROTECTIVE) for r in rules for a in r.actions):
        first = enters[0]
        j = next(i for i, a in enumerate(first.actions) if isinstance(a, c.Enter))
        ctx.warn(
            "the rulebook enters positions but never places a stop_loss or trailing_stop",
            ("rules", first.index, "do", j),
            "the engine's protective-stop guard will place one at its default distance (risk.protective_stop)",
            "no-protective-stop",
        )


def _unused_timeframes(book: m.Rulebook, rules: tuple[c.CompiledRule, ...], ctx: CompileContext) -> None:
    used: set[str] = set()
    for r in rules:
        if r.trigger.kind == "candle_close" and r.trigger.arg:
            used.add(r.trigger.arg)
        for n in r.reads:
            if "@" in n:
                used.add(n.split("@", 1)[1])
    for ind in book.indicators.values():
        for tf in book.timeframes:
            if f"@{tf}" in ind or f"({tf}" in ind.replace(" ", ""):
                used.add(tf)
    for i, tf in enumerate(book.timeframes):
        if tf not in used:
            ctx.warn(
                f"timeframe '{tf}' is declared but never used",
                ("timeframes", i),
                "the engine would build these candles for nothing",
                "unused-timeframe",
            )


def _unknown_cancel_tags(rules: tuple[c.CompiledRule, ...], ctx: CompileContext) -> None:
    """`cancel: {tag: x}` where no action tags an order x cancels nothing, every time it runs."""
    tags = sorted({a.tag for r in rules for a in r.actions if isinstance(a, _TAGGED) and a.tag is not None})
    for r in rules:
        for j, a in enumerate(r.actions):
            if isinstance(a, c.Cancel) and a.tag is not None and a.tag not in tags:
                ctx.warn(
                    f"cancel: no action in the rulebook tags an order '{a.tag}'",
                    ("rules", r.index, "do", j, "cancel", "tag"),
                    " ".join(filter(None, (did_you_mean(a.tag, tags), f"(tags: {', '.join(tags) or 'none'})"))),
                    "unknown-tag",
                )
