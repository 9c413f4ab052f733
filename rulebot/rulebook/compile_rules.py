"""One rule of `rules:`: its trigger, states, symbol, condition and actions checked and compiled,
and every scope name it reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rulebot.rulebook import compiled as c
from rulebot.rulebook import model as m
from rulebot.rulebook.compile_actions import compile_action
from rulebot.rulebook.context import CompileContext
from rulebot.rulebook.diagnose import did_you_mean, state_hint
from rulebot.rulebook.expr import CompiledExpr, ExprType
from rulebot.rulebook.scope import Scope
from rulebot.rulebook.source_map import Path_
from rulebot.rulebook.triggers import TriggerError, cron_never_fires, parse_trigger


def compile_rule(
    index: int,
    rule: m.Rule,
    book: m.Rulebook,
    scope: Scope,
    states: Mapping[str, c.StateSpec],
    timeframes: list[str],
    max_lev: int,
    ctx: CompileContext,
) -> c.CompiledRule | None:
    base: Path_ = ("rules", index)
    ok = True
    trigger = None
    try:
        trigger = parse_trigger(rule.on)
    except TriggerError as exc:
        ctx.at(
            "error",
            str(exc),
            ctx.source.span_in_value((*base, "on"), rule.on, exc.offset, max(exc.length, 1)),
            exc.hint,
            "trigger",
        )
        ok = False
    if trigger is not None and cron_never_fires(trigger):
        assert trigger.arg is not None
        ctx.at(
            "warning",
            f'cron "{trigger.arg}" never fires: no date has the day and month it asks for',
            ctx.source.span_in_value((*base, "on"), rule.on, rule.on.find(trigger.arg), len(trigger.arg)),
            "February has at most 29 days and April, June, September and November 30; for the last day "
            'of a month write last: cron "0 0 last 2 *"',
            "never-fires",
        )
    if trigger is not None and trigger.kind == "candle_close" and trigger.arg not in timeframes:
        assert trigger.arg is not None
        where = ctx.source.span_in_value((*base, "on"), rule.on, rule.on.find(trigger.arg), len(trigger.arg))
        ctx.at(
            "error",
            f"timeframe '{trigger.arg}' is not declared",
            where,
            f"add it to timeframes: (declared: {', '.join(timeframes) or 'none'})",
            "undeclared-timeframe",
        )
        ok = False

    if isinstance(rule.in_, list) and not rule.in_:
        # Not the default (every state): a rule listed for no state is a slip, whichever was meant.
        ctx.error(
            f"rule '{rule.name}' has an empty `in:` list",
            (*base, "in"),
            f"name the states it runs in, or leave `in:` out for every state (states: {', '.join(states)})",
            "empty-in",
        )
        ok = False
    raw_states = [rule.in_] if isinstance(rule.in_, str) else (rule.in_ or list(states))
    for j, s in enumerate(raw_states):
        if s not in states:
            path = (*base, "in") if isinstance(rule.in_, str) else (*base, "in", j)
            ctx.error(f"unknown state '{s}'", path, state_hint(s, list(states)), "unknown-state")
            ok = False

    symbols = frozenset(book.symbols)
    if rule.symbol is not None:
        if rule.symbol not in book.symbols:
            ctx.error(
                f"unknown symbol '{rule.symbol}'",
                (*base, "symbol"),
                " ".join(
                    filter(None, (_symbol_guess(rule.symbol, book.symbols), f"(symbols: {', '.join(book.symbols)})"))
                ),
                "unknown-symbol",
            )
            ok = False
        symbols = frozenset([rule.symbol])

    when: CompiledExpr | None = None
    if isinstance(rule.when, bool):
        if rule.when is False:
            ctx.warn(f"rule '{rule.name}' has `when: false` and never fires", (*base, "when"), None, "never-fires")
    elif rule.when is not None:
        when = ctx.expr(rule.when, (*base, "when"), scope, ExprType.BOOL)
        ok = ok and when is not None

    actions: list[c.CompiledAction] = []
    for j, action in enumerate(rule.do):
        compiled = compile_action(action, (*base, "do", j), book, scope, states, max_lev, ctx)
        if compiled is None:
            ok = False
        else:
            actions.append(compiled)
    if not ok or trigger is None:
        return None
    reads: set[str] = set(when.names) if when else set()
    for a in actions:
        for value in vars(a).values() if hasattr(a, "__dict__") else _slots(a):
            if isinstance(value, CompiledExpr):
                reads |= value.names
            elif isinstance(value, c.Size) and value.expr is not None:
                reads |= value.expr.names
        if isinstance(a, c.Log):
            reads |= set(a.names)
    return c.CompiledRule(
        index=index,
        name=rule.name,
        trigger=trigger,
        states=frozenset(raw_states),
        when=when,
        actions=tuple(actions),
        priority=rule.priority,
        symbols=symbols,
        reads=frozenset(reads),
    )


def _slots(obj: Any) -> list[Any]:
    return [getattr(obj, s) for s in getattr(type(obj), "__slots__", ())]


def _symbol_guess(symbol: str, symbols: list[str]) -> str | None:
    """`btcusdt` is BTCUSDT written in lower case, whatever difflib thinks of the two."""
    same = next((s for s in symbols if s.upper() == symbol.upper()), None)
    return f"did you mean '{same}'?" if same else did_you_mean(symbol, symbols)
