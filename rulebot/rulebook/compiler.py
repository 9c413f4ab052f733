"""Rulebook text → `CompiledRulebook`, or every error found, each with its place in the file.

Stages: safe YAML with positions (load.py) → structure (model.py) → params and overrides →
states → indicators (indicator_graph.py) → scope → rules, with every expression checked and
compiled (expr.py) → whole-machine checks (checks.py) → guards merged (guards.py) →
dispatch table. Errors of one stage are all collected before the next stage needs its result.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import ValidationError

from rulebot.rulebook import compiled as c
from rulebot.rulebook import model as m
from rulebot.rulebook.checks import check_machine
from rulebot.rulebook.compile_actions import compile_action
from rulebot.rulebook.context import CompileContext
from rulebot.rulebook.diagnose import did_you_mean, state_hint, validation_diagnostics, without_bad_keys
from rulebot.rulebook.errors import Diagnostic, RulebookError
from rulebot.rulebook.expr import CompiledExpr, ExprType
from rulebot.rulebook.guards import EffectiveRisk, RiskValueError, merge_risk
from rulebot.rulebook.indicator_graph import compile_indicators
from rulebot.rulebook.load import LoadedYaml, Path_, load_yaml_file, load_yaml_text
from rulebot.rulebook.params import (
    ParamDecl,
    coerce,
    declaration_problems,
    kind_of,
    type_problem,
    value_problem,
)
from rulebot.rulebook.scope import Scope
from rulebot.rulebook.triggers import TriggerError, parse_trigger

# market ("usdm", "coinm") → the symbols that exist there, and what to say of a symbol not among
# them ("not in the built-in catalog; ...")
KnownSymbols = Mapping[str, tuple[Collection[str], str]]


def compile_file(
    path: str, overrides: Mapping[str, str] | None = None, known_symbols: KnownSymbols | None = None
) -> c.CompiledRulebook:
    """Compile a rulebook file; raise RulebookError with all diagnostics if it is not valid.

    `known_symbols`, when given, makes a symbol not listed for the rulebook's market an error
    (the caller passes a catalog or an exchangeInfo: this layer knows no exchange)."""
    return _compile(load_yaml_file(path), overrides, known_symbols)


def compile_text(
    text: str,
    file: str = "<string>",
    overrides: Mapping[str, str] | None = None,
    known_symbols: KnownSymbols | None = None,
) -> c.CompiledRulebook:
    return _compile(load_yaml_text(text, file), overrides, known_symbols)


def _compile(
    loaded: LoadedYaml, overrides: Mapping[str, str] | None, known_symbols: KnownSymbols | None = None
) -> c.CompiledRulebook:
    ctx = CompileContext(loaded.source)
    data = loaded.data
    if not isinstance(data, dict):
        raise RulebookError(
            [
                Diagnostic(
                    "error",
                    "a rulebook is a mapping of keys (rulebook:, market:, rules: ...)",
                    loaded.source.span(()),
                    code="schema",
                )
            ]
        )
    try:
        book = m.Rulebook.model_validate(data)
    except ValidationError as exc:
        # Carry on without the refused keys when that is safe, so the rest of the file is checked
        # too: the user fixes every error in one round instead of one per run.
        found = validation_diagnostics(exc, data, loaded.source)
        pruned = without_bad_keys(exc, data)
        try:
            if pruned is None:
                raise exc
            book = m.Rulebook.model_validate(pruned)
        except ValidationError:
            raise RulebookError(found) from None
        ctx.diagnostics.extend(found)

    params, param_decls = _params(book, overrides or {}, ctx)
    before = len(ctx.diagnostics)
    margin_asset = _check_symbols(book, ctx)
    if known_symbols is not None and book.market in known_symbols:
        flagged = {d.span for d in ctx.diagnostics[before:]}
        _check_known_symbols(book, known_symbols[book.market], ctx, flagged)
    states, initial = _states(book, ctx)
    timeframes = _timeframes(book, ctx)
    indicators = compile_indicators(book.indicators, params, timeframes, ctx)
    scope = Scope.build(
        params=params,
        indicators={ind.name: ind.outputs for ind in indicators},
        timeframes=timeframes,
        states=list(states),
    )
    _shadowing(book, scope, ctx)

    def risk_warn(key: str, message: str, hint: str | None) -> None:
        path: Path_ = ("account", "leverage") if key == "account.leverage" else ("risk", key)
        ctx.warn(message, path, hint, "guard-clamped")

    risk: EffectiveRisk | None = None
    try:
        risk = merge_risk(book.risk, book.account.leverage, margin_asset, risk_warn)
    except RiskValueError as exc:
        for problem in exc.all:
            ctx.error(str(problem), ("risk", problem.key), problem.hint, "risk")
    if book.account.margin == "cross" and not book.risk.allow_cross:
        ctx.error(
            "account.margin is cross, but the isolated-margin guard allows it only with risk.allow_cross: true",
            ("account", "margin"),
            "cross margin lets one position's loss "
            "consume the whole account; set risk.allow_cross: true if that is intended",
            "cross-margin",
        )

    max_lev = risk.max_leverage if risk else 10
    rules = [_rule(i, rule, book, scope, states, timeframes, max_lev, ctx) for i, rule in enumerate(book.rules)]
    names = [r.name for r in book.rules]
    for i, name in enumerate(names):
        if name in names[:i]:
            ctx.error(
                f"duplicate rule name '{name}'",
                ("rules", i, "name"),
                "rule names identify decisions in the journal; make each one unique",
                "duplicate-rule",
            )
    if ctx.failed or risk is None or any(r is None for r in rules):
        raise RulebookError(ctx.diagnostics)
    compiled_rules = tuple(r for r in rules if r is not None)

    check_machine(book, compiled_rules, states, initial, ctx)
    if ctx.failed:
        raise RulebookError(ctx.diagnostics)

    dispatch: dict[c.DispatchKey, list[c.CompiledRule]] = {}
    for rule in compiled_rules:
        for state in rule.states:
            dispatch.setdefault((rule.trigger.key, state), []).append(rule)
    ordered = {k: tuple(sorted(v, key=lambda r: (-r.priority, r.index))) for k, v in dispatch.items()}
    prev = frozenset(n for r in compiled_rules for n in _prev_names(r))

    text = loaded.source.text
    return c.CompiledRulebook(
        name=book.rulebook,
        description=book.description,
        source_file=loaded.source.file,
        source_text=text,
        source_hash=hashlib.sha256(text.encode()).hexdigest(),
        market=book.market,
        symbols=tuple(book.symbols),
        margin_asset_hint=margin_asset,
        margin=book.account.margin,
        position_mode=book.account.position_mode,
        leverage=min(book.account.leverage, risk.max_leverage),
        timeframes=tuple(timeframes),
        params=params,
        param_decls=param_decls,
        indicators=tuple(indicators),
        states=states,
        initial_state=initial,
        rules=compiled_rules,
        dispatch=ordered,
        risk=risk,
        warnings=tuple(d for d in ctx.diagnostics if not d.is_error),
        prev_names=prev,
    )


def _prev_names(rule: c.CompiledRule) -> frozenset[str]:
    return rule.when.prev_names if rule.when is not None else frozenset()


# ---------------------------------------------------------------- sections


def _parse_override(raw: str) -> float | int | str | bool:
    low = raw.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)
    except ValueError:
        return raw


def _params(
    book: m.Rulebook, overrides: Mapping[str, str], ctx: CompileContext
) -> tuple[dict[str, float | int | str | bool], dict[str, ParamDecl]]:
    decls: dict[str, ParamDecl] = {}
    for name, raw in book.params.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            ctx.error(
                f"parameter name '{name}' is not an identifier",
                ("params", name),
                "use letters, digits and '_', starting with a letter",
                "param-name",
                key=True,
            )
        if isinstance(raw, m.ParamSpec):
            problems = declaration_problems(name, raw.default, raw.min, raw.max, raw.choices)
            for key, message in problems:
                ctx.error(message, ("params", name, key), None, "param-declaration")
            choices = tuple(raw.choices) if raw.choices is not None else None
            decls[name] = ParamDecl(
                name, raw.default, kind_of(raw.default), True, raw.min, raw.max, choices, raw.description
            )
        else:
            decls[name] = ParamDecl(name, raw, kind_of(raw))
    params: dict[str, float | int | str | bool] = {name: d.default for name, d in decls.items()}
    for name, raw_text in overrides.items():
        if name not in params:
            hint = did_you_mean(name, list(params))
            ctx.diagnostics.append(
                Diagnostic(
                    "error",
                    f"--set {name}: the rulebook has no parameter '{name}'",
                    None,
                    (hint + " " if hint else "") + f"(params: {', '.join(params) or 'none'})",
                    "unknown-param",
                )
            )
            continue
        value = _parse_override(raw_text)
        problem = value_problem(decls[name], value)
        if problem:
            ctx.diagnostics.append(
                Diagnostic(
                    "error",
                    f"--set {name}={raw_text}: {problem}",
                    None,
                    f"'{name}' is {decls[name].describe()}",
                    "param-type" if type_problem(decls[name], value) else "param-range",
                )
            )
            continue
        params[name] = coerce(decls[name], value)
    return params, decls


def _check_symbols(book: m.Rulebook, ctx: CompileContext) -> str:
    assets: set[str] = set()
    for i, sym in enumerate(book.symbols):
        if book.market == "coinm":
            if not re.fullmatch(r"[A-Z0-9]+USD_(PERP|\d{6})", sym):
                ctx.error(
                    f"'{sym}' is not a COIN-M symbol",
                    ("symbols", i),
                    "COIN-M symbols look like BTCUSD_PERP or BTCUSD_251226 (market: coinm)",
                    "symbol",
                )
            else:
                assets.add(sym.split("USD_")[0])
        else:
            quote = next((q for q in ("USDT", "USDC") if sym.endswith(q) and len(sym) > len(q)), None)
            if quote is None or ("_" in sym and not re.fullmatch(r"[A-Z0-9]+USDT_\d{6}", sym)):
                hint = "USDT-M symbols look like BTCUSDT (market: usdm)"
                if sym.endswith("_PERP"):
                    hint = f"{sym} is a COIN-M symbol: set market: coinm, or use {sym.split('USD_')[0]}USDT"
                ctx.error(f"'{sym}' is not a USDT-M symbol", ("symbols", i), hint, "symbol")
            else:
                assets.add(quote)
        if sym in book.symbols[:i]:
            ctx.error(f"symbol '{sym}' is listed twice", ("symbols", i), None, "symbol")
    if book.market == "usdm":
        if len(assets) > 1:
            ctx.error(
                "USDT-M and USDC-M symbols mixed in one rulebook",
                ("symbols",),
                "each rulebook trades against one margin asset",
                "symbol",
            )
        return next(iter(assets), "USDT")
    # COIN-M margins each symbol in its own coin; amounts in risk must then be per-coin.
    return next(iter(assets)) if len(assets) == 1 else "COIN"


def _check_known_symbols(
    book: m.Rulebook, known: tuple[Collection[str], str], ctx: CompileContext, flagged: set[Any]
) -> None:
    names, where = known
    listed = sorted(names)
    for i, sym in enumerate(book.symbols):
        if sym not in names and ctx.source.span(("symbols", i)) not in flagged:
            guess = did_you_mean(sym, listed)
            shown = ", ".join(listed[:12]) + (", …" if len(listed) > 12 else "")
            ctx.error(
                f"unknown {book.market} symbol '{sym}' ({where})",
                ("symbols", i),
                ((guess + " ") if guess else "") + f"(known: {shown})",
                "unknown-symbol",
            )


def _states(book: m.Rulebook, ctx: CompileContext) -> tuple[dict[str, c.StateSpec], str]:
    declared = book.states if book.states is not None else m.DEFAULT_STATES
    if not declared:
        ctx.error("states must not be empty", ("states",), "leave states out for the default flat/long/short", "states")
        declared = m.DEFAULT_STATES
    names = list(declared)
    initial = book.initial or names[0]
    if book.initial is not None and book.initial not in declared:
        ctx.error(
            f"unknown initial state '{book.initial}'", ("initial",), state_hint(book.initial, names), "unknown-state"
        )
        initial = names[0]
    flat_home = (
        initial
        if declared[initial].position in ("none", "any")
        else next((n for n, s in declared.items() if s.position == "none"), None)
    )
    for name, st in declared.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            ctx.error(f"state name '{name}' is not an identifier", ("states", name), None, "state-name", key=True)
        if st.timeout is not None and st.then is None:
            ctx.error(
                f"state '{name}' has a timeout but no `then`",
                ("states", name, "timeout"),
                "say which state to move to when the timeout passes: then: flat",
                "timeout-then",
            )
        if st.then is not None and st.timeout is None:
            ctx.error(f"state '{name}' has `then` but no timeout", ("states", name, "then"), None, "timeout-then")
        if st.then is not None and st.then not in declared:
            ctx.error(
                f"unknown state '{st.then}'", ("states", name, "then"), state_hint(st.then, names), "unknown-state"
            )
    if flat_home is None:
        ctx.error(
            "no state has position: none",
            ("states",),
            "the engine needs a state to return to when a position closes",
            "states",
        )
    specs = {
        name: c.StateSpec(
            name=name,
            position=st.position,
            timeout_ms=m.duration_seconds(st.timeout) * 1000 if st.timeout else None,
            then=st.then,
            on_close=flat_home if st.position in ("long", "short") else None,
        )
        for name, st in declared.items()
    }
    return specs, initial


def _timeframes(book: m.Rulebook, ctx: CompileContext) -> list[str]:
    out: list[str] = []
    for i, tf in enumerate(book.timeframes):
        if tf not in m.TIMEFRAMES:
            h = did_you_mean(tf, m.TIMEFRAMES)
            ctx.error(
                f"'{tf}' is not a Binance kline interval",
                ("timeframes", i),
                ((h + " ") if h else "") + f"(intervals: {', '.join(m.TIMEFRAMES)})",
                "timeframe",
            )
        elif tf in out:
            ctx.warn(f"timeframe '{tf}' is listed twice", ("timeframes", i), None, "timeframe")
        else:
            out.append(tf)
    return out


def _shadowing(book: m.Rulebook, scope: Scope, ctx: CompileContext) -> None:
    builtins = scope.builtin_names()
    for name in book.params:
        if name in builtins:
            ctx.error(
                f"parameter '{name}' has the name of a built-in value",
                ("params", name),
                "rename it: conditions could not tell the two apart",
                "shadowing",
                key=True,
            )
    for name in book.indicators:
        if name in builtins:
            ctx.error(
                f"indicator '{name}' has the name of a built-in value",
                ("indicators", name),
                "rename it: conditions could not tell the two apart",
                "shadowing",
                key=True,
            )
        if name in book.params:
            ctx.error(
                f"'{name}' is both a parameter and an indicator", ("indicators", name), None, "shadowing", key=True
            )


# ---------------------------------------------------------------- rules and actions


def _rule(
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
                (did_you_mean(rule.symbol, book.symbols) or "") + f" (symbols: {', '.join(book.symbols)})",
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
